"""AM401 at run time: after the fix the response no longer waits for the side effect.

The app (fixtures/runtime/am401_checkout.py) awaits a slow receipt email in its
handler. The fixed app is what `asyncmend.engine.run(..., fix=True, unsafe_fixes=True)`
plus `report.apply()` make of that file, loaded with importlib. Ordering is measured on
the server side: an ASGI wrapper records when the last body message of the response was
sent; the app records when the email went out and when the handler returned. (Starlette
runs background tasks after sending the body but inside the same ASGI call, so the
client's own clock could not tell the two apart.)
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from fastapi.testclient import TestClient
from fix_and_load import load

from asyncmend.engine import run

SOURCE = Path(__file__).resolve().parent.parent / "fixtures" / "runtime" / "am401_checkout.py"


def _fixed_copy(tmp_path: Path) -> Path:
    target = tmp_path / "am401_checkout_fixed.py"
    shutil.copy2(SOURCE, target)
    report = run([str(target)], select=["AM401"], fix=True, unsafe_fixes=True, jobs=1, preview=True)
    assert [f.code for f in report.findings] == ["AM401"]
    report.apply()
    return target


def _checkout(module: ModuleType) -> dict[str, Any]:
    """POST /checkout once; returns the response and the server-side timeline."""
    sent: list[float] = []

    async def recording(scope, receive, send):  # type: ignore[no-untyped-def]
        async def send_and_record(message):  # type: ignore[no-untyped-def]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                sent.append(time.monotonic())

        await module.app(scope, receive, send_and_record)

    with TestClient(recording) as client:
        response = client.post("/checkout", params={"email": "ada@example.com", "total": 4200})
    emails = [e for e in module.events if e[0] == "email_sent"]
    returned = [e[1] for e in module.events if e[0] == "handler_returned"]
    assert len(sent) == 1 and len(returned) == 1
    return {
        "response": response,
        "sent": sent[0],
        "returned": returned[0],
        "emails": emails,
    }


def test_original_response_waits_for_the_email() -> None:
    before = _checkout(load(SOURCE, "am401_checkout_original"))
    assert before["response"].status_code == 201
    assert len(before["emails"]) == 1
    _, email_time, args = before["emails"][0]
    assert args == ("ada@example.com", 4200, "eur")
    # The email went out before the handler returned, so before the response was sent.
    assert email_time < before["returned"] < before["sent"]


def test_fixed_response_is_sent_before_the_email(tmp_path: Path) -> None:
    fixed_path = _fixed_copy(tmp_path)
    fixed_source = fixed_path.read_text()
    assert "background_tasks.add_task(" in fixed_source
    module = load(fixed_path, "am401_checkout_fixed")

    after = _checkout(module)
    assert after["response"].status_code == 201
    assert after["response"].json() == {"id": 1}
    # Exactly once, with the same arguments, after the response has gone.
    assert len(after["emails"]) == 1
    _, email_time, args = after["emails"][0]
    assert args == ("ada@example.com", 4200, "eur")
    assert after["returned"] < after["sent"] < email_time
    # The handler no longer spends the mail latency before responding.
    assert email_time - after["sent"] >= module.MAIL_LATENCY * 0.9
