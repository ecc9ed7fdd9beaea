"""The editor's incremental check equals a full check of the same text, exactly.

Every fixture case file and every demo app file is edited the way typing does (a line
inside a function changed, added, removed; a call renamed; syntax broken then fixed;
an import added; a comment typed between statements), each version checked with the
buffer's state carried over and compared with a fresh full check: codes, positions,
messages, fixes.
"""

from __future__ import annotations

import os
from pathlib import Path

import libcst as cst
import pytest

from asyncmend.engine.buffer import check_buffer, refresh_facts
from asyncmend.engine.incremental import BufferState
from asyncmend.engine.index import RepoIndex

ROOT = Path(__file__).resolve().parent.parent


def _files() -> list[Path]:
    """The demo app's services and, per rule, its first positive and negative case
    (every case file and the whole demo app with ``ASYNCMEND_INCREMENTAL_ALL=1``: a few
    minutes on the shared VM)."""
    cases = sorted(
        p
        for p in (ROOT / "fixtures" / "rules").rglob("*.py")
        if not p.name.endswith(".expected.py")
    )
    demo = sorted((ROOT / "fixtures" / "demo").rglob("*.py"))
    if os.environ.get("ASYNCMEND_INCREMENTAL_ALL") != "1":
        first: dict[tuple[str, str], Path] = {}
        for path in cases:
            case = path.relative_to(ROOT / "fixtures" / "rules").parts
            if case[1].startswith(("positive", "negative")):
                first.setdefault((case[0], case[1].split("_")[0]), path)
        cases = sorted(first.values())
        demo = [p for p in demo if p.parent.name == "services"]
    return [*cases, *demo]


def _findings(report):  # type: ignore[no-untyped-def]
    return (
        [f.to_json() for r in report.results for f in r.findings],
        report.input_errors,
        report.internal_errors,
    )


def _versions(text: str) -> list[str]:
    """The base text, then edits of it, each followed by the base again."""
    lines = text.splitlines(keepends=True)
    body = [k for k, line in enumerate(lines) if line.startswith("    ") and line.strip()]
    out = []
    if body:
        k = body[len(body) // 2]
        line = lines[k]
        indent = line[: len(line) - len(line.lstrip())]
        edits = [
            [*lines[:k], line, *lines[k:]],  # a statement added (the same again)
            [*lines[:k], *lines[k + 1 :]],  # removed
            [*lines[:k], line.replace("commit", "flush").replace("await ", ""), *lines[k + 1 :]],
            [*lines[:k], f"{indent}# typing\n", *lines[k:]],
            [*lines[:k], f"{indent}probe = make_probe(1)\n", *lines[k:]],  # a call bound
            [*lines[:k], f"{indent}x = (\n", *lines[k:]],  # broken, then fixed below
        ]
        out += ["".join(edit) for edit in edits]
    out.append("import os\n" + text)  # an import: checked in full
    out.append(text.replace("\n\n", "\n\n# between\n", 1))
    versions = [text]
    for version in out:
        versions += [version, text]
    return versions


#: Preview on: every rule runs (the default selection too, with ``..._ALL=1``).
PREVIEW = [True, False] if os.environ.get("ASYNCMEND_INCREMENTAL_ALL") == "1" else [True]


@pytest.mark.parametrize("preview", PREVIEW, ids=lambda p: "preview" if p else "default")
@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_incremental_equals_full(path: Path, preview: bool) -> None:
    raw = path.read_bytes()
    text = raw.decode("utf-8", "surrogateescape")  # a latin-1 case stays latin-1
    index = RepoIndex()
    refresh_facts(index, str(path), raw)
    state = BufferState()
    kinds = set()
    full: dict[str, object] = {}
    for version in _versions(text):
        data = version.encode("utf-8", "surrogateescape")
        incremental = check_buffer(
            data, path, index=index, defer_fixes=True, state=state, preview=preview
        )
        if version not in full:
            full[version] = _findings(
                check_buffer(data, path, index=index, defer_fixes=True, preview=preview)
            )
        assert _findings(incremental) == full[version], version
        if state.last == "incremental":  # the spliced tree is the one a parse gives
            assert state.module is not None
            assert state.module.code == version
            assert state.module.deep_equals(cst.parse_module(data))
        kinds.add(state.last)
    assert "full" in kinds


def test_edits_inside_a_function_are_incremental() -> None:
    """The path this module exists for is taken (not only its fallback)."""
    path = ROOT / "fixtures" / "demo" / "app" / "services" / "users.py"
    text = path.read_text()
    index = RepoIndex()
    state = BufferState()
    check_buffer(text.encode(), path, index=index, defer_fixes=True, state=state)
    assert state.last == "full"
    lines = text.splitlines(keepends=True)
    k = max(k for k, line in enumerate(lines) if line.startswith("        "))
    edited = "".join([*lines[:k], lines[k].rstrip("\n") + "  # typing\n", *lines[k + 1 :]])
    check_buffer(edited.encode(), path, index=index, defer_fixes=True, state=state)
    assert state.last == "incremental"


MODULE = """\
import asyncio

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

Session = async_sessionmaker()


async def get_db():
    async with Session() as session:
        yield session


async def notify(user_id: int) -> None:
    await asyncio.sleep(0)


async def handler(db: AsyncSession = Depends(get_db)) -> None:
    notify(1)
    await db.commit()


async def other(db: AsyncSession = Depends(get_db)) -> None:
    asyncio.create_task(notify(2))
"""


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("    await asyncio.sleep(0)\n", "    yield 1\n"),  # notify no longer a coroutine
        ("        yield session\n", "        yield session\n        await session.commit()\n"),
        ("    notify(1)\n", "    await notify(1)\n"),
        ("    notify(1)\n", "    x = Session()\n    notify(1)\n"),
        ("    notify(1)\n", "    Session = async_sessionmaker()\n"),
        ("    asyncio.create_task(notify(2))\n", "    task = asyncio.create_task(notify(2))\n"),
    ],
)
def test_edits_reaching_other_functions(old: str, new: str) -> None:
    """Edits whose effect on findings crosses functions (a coroutine no more, a
    dependency that commits, a name rebound) give what a full check gives."""
    path = ROOT / "fixtures" / "demo" / "app" / "services" / "incremental_probe.py"
    index = RepoIndex()
    state = BufferState()
    edited = MODULE.replace(old, new)
    assert edited != MODULE
    for version in (MODULE, edited, MODULE):
        data = version.encode()
        incremental = check_buffer(
            data, path, index=index, defer_fixes=True, state=state, preview=True
        )
        full = check_buffer(data, path, index=index, defer_fixes=True, preview=True)
        assert _findings(incremental) == _findings(full)
