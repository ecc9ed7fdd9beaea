"""End to end: ``asyncmend server`` started as a subprocess and driven by a real LSP
client (pytest-lsp), as an editor drives it. Quick fixes are checked against the CLI:
one finding's fix against ``asyncmend fix -i`` accepting only that finding's hunk, the
fix-all action against ``asyncmend fix``."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import asyncmend, entry_point
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from rule_packs import make_rule_pack

pytestmark = pytest.mark.asyncio

#: Seeded: AM204 (safe, after non-ASCII text on its line), AM101 (safe), AM202
#: (unsafe), AM205 (safe, needs an import). Far enough apart for separate diff hunks.
SEEDED = """\
import time

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

engine = create_async_engine("sqlite+aiosqlite:///./app.db")
async_session = async_sessionmaker(engine)


async def mark_shipped(session: AsyncSession, order) -> None:
    order.status = "shipped"
    session.add(order)
    order.note = "📦 déjà"; session.commit()


def unrelated(value: int) -> int:
    doubled = value * 2
    return doubled + 1


async def count_rows() -> int:
    session = async_session()
    result = await session.execute(select(1))
    return result.scalar_one()


async def fetch_both(client: httpx.AsyncClient) -> tuple[object, object]:
    first = await client.get("/a")
    second = await client.get("/b")
    return first, second


async def slow() -> None:
    time.sleep(1)
"""

CRASHING_RULE = '''\
from asyncmend.codemods.base import Rule


class Crash(Rule):
    """Crashes on purpose, on files that name it."""

    code = "AM990"
    name = "crash-on-purpose"
    triggers = (b"CRASH_HERE",)

    def visit_Module(self, node):
        raise RuntimeError("rule exploded")
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "app").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.asyncmend]\n")
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "svc.py").write_text(SEEDED)
    return root


@contextlib.asynccontextmanager
async def server(
    root: Path,
    *,
    env: dict[str, str] | None = None,
    init_options: dict[str, Any] | None = None,
    configuration: dict[str, Any] | None = None,
) -> AsyncIterator[LanguageClient]:
    """A started and initialized server on ``root``; shut down cleanly on exit."""
    config = ClientServerConfig(server_command=[entry_point(), "server"], server_env=env)
    client = await config.start()
    assert isinstance(client, LanguageClient)
    if configuration is not None:
        client.set_configuration(configuration, section="asyncmend")
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="proj")],
            initialization_options=init_options,
        )
    )
    try:
        yield client
        await asyncio.wait_for(client.shutdown_session(), 30)
        assert client._server is not None and client._server.returncode == 0
    finally:
        if client._server is not None and client._server.returncode is None:
            client._server.kill()  # the test failed before a clean shutdown
        await client.stop()


async def diagnostics_after(client: LanguageClient, send: Any) -> list[types.Diagnostic]:
    """Send a notification, then wait for the diagnostics it causes."""
    waiting = client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    send()
    params = await asyncio.wait_for(waiting, 60)
    return list(params.diagnostics)


def open_document(client: LanguageClient, uri: str, text: str) -> Any:
    return lambda: client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=text
            )
        )
    )


def change_document(client: LanguageClient, uri: str, version: int, text: str) -> Any:
    return lambda: client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def offset(text: str, position: types.Position) -> int:
    """A UTF-16 LSP position as an index into ``text`` (what VS Code counts)."""
    lines = text.splitlines(keepends=True)
    start = sum(len(line) for line in lines[: position.line])
    line = lines[position.line] if position.line < len(lines) else ""
    units = 0
    for index, char in enumerate(line):
        if units >= position.character:
            return start + index
        units += 2 if ord(char) > 0xFFFF else 1
    return start + len(line)


def apply(text: str, edit: types.WorkspaceEdit | None) -> str:
    """Apply a WorkspaceEdit to one document's text, as an editor does."""
    assert edit is not None
    if edit.document_changes:
        edits = [e for change in edit.document_changes for e in change.edits]  # type: ignore[union-attr]
    else:
        assert edit.changes
        edits = [e for changes in edit.changes.values() for e in changes]
    spans = sorted(
        ((offset(text, e.range.start), offset(text, e.range.end), e.new_text) for e in edits),
        reverse=True,
    )  # type: ignore[union-attr]
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text


async def actions_at(
    client: LanguageClient,
    uri: str,
    diagnostic: types.Diagnostic,
    only: Sequence[str] | None = None,
) -> list[types.CodeAction]:
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=diagnostic.range,
            context=types.CodeActionContext(diagnostics=[diagnostic], only=only),
        )
    )
    return [a for a in result or [] if isinstance(a, types.CodeAction)]


async def resolved(client: LanguageClient, action: types.CodeAction) -> types.CodeAction:
    return await client.code_action_resolve_async(action) if action.edit is None else action


def cli_fix_only_hunk(root: Path, text: str, marker: str) -> str:
    """``asyncmend fix -i`` on ``text``, answering yes only to the hunk that adds
    ``marker``: the CLI's fix for that finding alone."""
    target = root / "app" / "svc.py"
    target.write_text(text)
    diff = asyncmend("diff", "app/svc.py", cwd=root).stdout
    hunks = re.split(r"(?m)^(?=@@)", diff)[1:]
    answers = [
        "y" if any(line.startswith("+") and marker in line for line in h.splitlines()) else "n"
        for h in hunks
    ]
    assert answers.count("y") == 1, diff
    asyncmend("fix", "-i", "app/svc.py", cwd=root, stdin="\n".join(answers) + "\n")
    return target.read_text()


def cli_fix(root: Path, text: str) -> str:
    target = root / "app" / "svc.py"
    target.write_text(text)
    asyncmend("fix", "app/svc.py", cwd=root)
    return target.read_text()


def by_code(diagnostics: Sequence[types.Diagnostic]) -> dict[str, types.Diagnostic]:
    return {str(d.code): d for d in diagnostics}


async def test_diagnostics_quick_fixes_and_live_updates(project: Path) -> None:
    uri = (project / "app" / "svc.py").as_uri()
    async with server(project) as client:
        diagnostics = by_code(await diagnostics_after(client, open_document(client, uri, SEEDED)))
        assert set(diagnostics) == {"AM101", "AM202", "AM204", "AM205"}
        missing_await = diagnostics["AM204"]
        assert missing_await.source == "asyncmend"
        assert missing_await.severity == types.DiagnosticSeverity.Warning
        assert missing_await.code_description is not None
        assert missing_await.code_description.href.endswith("docs/rules/AM204.md")
        # Columns in UTF-16 units: the emoji before the finding counts twice.
        start, end = (
            offset(SEEDED, missing_await.range.start),
            offset(SEEDED, missing_await.range.end),
        )
        assert SEEDED[start:end] == "session.commit()"

        actions = {a.title: a for a in await actions_at(client, uri, missing_await)}
        assert set(actions) == {
            "Fix AM204: Await the coroutine",
            "Suppress AM204 on this line",
            "Fix all safe asyncmend findings",
        }
        fix = await resolved(client, actions["Fix AM204: Await the coroutine"])
        assert fix.kind == types.CodeActionKind.QuickFix and fix.is_preferred
        assert fix.edit is not None and fix.edit.document_changes
        (change,) = fix.edit.document_changes
        assert [e.new_text for e in change.edits] == ["await "]  # type: ignore[union-attr]
        one_fixed = apply(SEEDED, fix.edit)
        assert one_fixed == cli_fix_only_hunk(project, SEEDED, "await session.commit()")

        # An unsafe fix is offered, labelled, and not preferred.
        (unsafe,) = [
            a
            for a in await actions_at(client, uri, diagnostics["AM202"])
            if a.title.startswith("Fix AM202")
        ]
        assert unsafe.title.endswith("(unsafe)") and not unsafe.is_preferred
        assert "asyncio.gather" in apply(SEEDED, (await resolved(client, unsafe)).edit)

        # Fix all: what `asyncmend fix` does (safe fixes only).
        (fix_all,) = await actions_at(client, uri, missing_await, only=["source.fixAll"])
        assert fix_all.kind == "source.fixAll.asyncmend"
        assert fix_all.title == "Fix all safe asyncmend findings"
        all_fixed = apply(SEEDED, (await resolved(client, fix_all)).edit)
        assert all_fixed == cli_fix(project, SEEDED)
        assert all_fixed != one_fixed

        # The buffer changes (the quick fix applied): diagnostics follow.
        after = by_code(await diagnostics_after(client, change_document(client, uri, 2, one_fixed)))
        assert set(after) == {"AM101", "AM202", "AM205"}

        # Suppress AM101 on its line: a noqa comment, and the finding goes.
        suppress = next(
            a
            for a in await actions_at(client, uri, after["AM101"])
            if a.title.startswith("Suppress")
        )
        suppressed = apply(one_fixed, (await resolved(client, suppress)).edit)
        assert "    session = async_session()  # noqa: AM101\n" in suppressed
        final = by_code(
            await diagnostics_after(client, change_document(client, uri, 3, suppressed))
        )
        assert set(final) == {"AM202", "AM205"}

        # Hover on a finding shows `asyncmend explain`.
        hover = await client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=final["AM205"].range.start,
            )
        )
        assert hover is not None and isinstance(hover.contents, types.MarkupContent)
        assert hover.contents.value == asyncmend("explain", "AM205", cwd=project).stdout.rstrip(
            "\n"
        )


async def test_bad_buffers_and_crashing_rules_keep_the_server_up(
    project: Path, tmp_path: Path
) -> None:
    env = make_rule_pack(tmp_path / "site", "crashpack", {"crash": CRASHING_RULE})
    uri = (project / "app" / "svc.py").as_uri()
    async with server(project, env=env) as client:
        broken = SEEDED.replace("async def slow() -> None:", "async def slow( -> None:")
        diagnostics = await diagnostics_after(client, open_document(client, uri, broken))
        assert [(d.code, d.severity) for d in diagnostics] == [
            ("AM000", types.DiagnosticSeverity.Error)
        ]
        assert diagnostics[0].range.start.line == broken.splitlines().index(
            "async def slow( -> None:"
        )

        # A rule that crashes: logged, left out for this file, the other rules' findings
        # stay on screen, and the next change is served.
        crashing = SEEDED + "\nCRASH_HERE = 1\n"
        diagnostics = await diagnostics_after(client, change_document(client, uri, 2, crashing))
        assert {str(d.code) for d in diagnostics} == {"AM101", "AM202", "AM204", "AM205"}
        errors = [m.message for m in client.log_messages if m.type == types.MessageType.Error]
        assert any("rule exploded" in m for m in errors), errors
        assert any(m.startswith("asyncmend: AM990 crashed on ") for m in errors), errors

        healthy = await diagnostics_after(client, change_document(client, uri, 3, SEEDED))
        assert {str(d.code) for d in healthy} == {"AM101", "AM202", "AM204", "AM205"}


async def test_settings_from_initialization_options_and_configuration(project: Path) -> None:
    uri = (project / "app" / "svc.py").as_uri()
    options = {"settings": {"select": ["AM204", "AM202"], "unsafeFixes": True}}
    async with server(project, init_options=options) as client:
        diagnostics = await diagnostics_after(client, open_document(client, uri, SEEDED))
        assert {str(d.code) for d in diagnostics} == {"AM202", "AM204"}
        (fix_all,) = await actions_at(client, uri, diagnostics[0], only=["source.fixAll"])
        assert "unsafe" in fix_all.title
        fixed = apply(SEEDED, (await resolved(client, fix_all)).edit)
        assert "await session.commit()" in fixed and "asyncio.gather" in fixed

    # workspace/configuration wins over initializationOptions, and is pulled again on change.
    async with server(project, init_options=options, configuration={"select": ["AM101"]}) as client:
        diagnostics = await diagnostics_after(client, open_document(client, uri, SEEDED))
        assert {str(d.code) for d in diagnostics} == {"AM101"}
        client.set_configuration({"select": ["AM205"], "ignore": []}, section="asyncmend")
        diagnostics = await diagnostics_after(
            client,
            lambda: client.workspace_did_change_configuration(
                types.DidChangeConfigurationParams(settings=None)
            ),
        )
        assert {str(d.code) for d in diagnostics} == {"AM205"}
        # configPath: another config file chooses the rules (settings leave select unset).
        other = project / "other.toml"
        other.write_text('select = ["AM202"]\n')
        client.set_configuration({"configPath": str(other), "select": None}, section="asyncmend")
        diagnostics = await diagnostics_after(
            client,
            lambda: client.workspace_did_change_configuration(
                types.DidChangeConfigurationParams(settings=None)
            ),
        )
        assert {str(d.code) for d in diagnostics} == {"AM202"}
        # An unknown code in the settings: one clear message, and the server goes on.
        client.set_configuration({"select": ["AM999"]}, section="asyncmend")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        for _ in range(100):
            if client.messages:
                break
            await asyncio.sleep(0.1)
        assert [m.type for m in client.messages] == [types.MessageType.Error]
        assert "AM999" in client.messages[0].message


async def test_repo_index_follows_files_changed_on_disk(project: Path) -> None:
    jobs = project / "app" / "jobs.py"
    jobs.write_text("def refresh() -> None:\n    pass\n")
    caller = "from app.jobs import refresh\n\n\nasync def handler() -> None:\n    refresh()\n"
    uri = (project / "app" / "caller.py").as_uri()
    async with server(project) as client:
        assert await diagnostics_after(client, open_document(client, uri, caller)) == []
        # `refresh` becomes a coroutine in a file not open in the editor.
        jobs.write_text("async def refresh() -> None:\n    pass\n")
        event = types.FileEvent(uri=jobs.as_uri(), type=types.FileChangeType.Changed)
        diagnostics = await diagnostics_after(
            client,
            lambda: client.workspace_did_change_watched_files(
                types.DidChangeWatchedFilesParams(changes=[event])
            ),
        )
        assert [str(d.code) for d in diagnostics] == ["AM204"]
        # Saving the unchanged buffer publishes the same result again.
        saved = await diagnostics_after(
            client,
            lambda: client.text_document_did_save(
                types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
            ),
        )
        assert saved == diagnostics


#: AM203 (its fix is built only when a code action asks) and AM205, apart.
DANGLING = """\
import asyncio
import time


async def work() -> None:
    await asyncio.sleep(0)


async def spawn() -> None:
    asyncio.create_task(work())


def unrelated(value: int) -> int:
    doubled = value * 2
    tripled = value * 3
    return doubled + tripled


async def slow() -> None:
    time.sleep(1)
"""


async def test_a_fix_built_on_demand_equals_the_cli_fix(project: Path) -> None:
    """Diagnostics are found with AM203's fix left unbuilt; the code action builds it
    (once for this version) and its edit is what ``asyncmend fix`` does for that
    finding alone."""
    uri = (project / "app" / "svc.py").as_uri()
    async with server(project) as client:
        diagnostics = by_code(await diagnostics_after(client, open_document(client, uri, DANGLING)))
        assert set(diagnostics) == {"AM203", "AM205"}
        actions = {a.title: a for a in await actions_at(client, uri, diagnostics["AM203"])}
        title = "Fix AM203: Keep a reference in `_background_tasks` until the task is done"
        assert set(actions) == {
            title,
            "Suppress AM203 on this line",
            "Fix all safe asyncmend findings",
        }
        fixed = apply(DANGLING, (await resolved(client, actions[title])).edit)
        target = project / "app" / "svc.py"
        target.write_text(DANGLING)
        asyncmend("fix", "--select", "AM203", "app/svc.py", cwd=project)
        assert fixed == target.read_text() != DANGLING
        assert "time.sleep(1)" in fixed  # the AM205 finding left alone
        (fix_all,) = await actions_at(client, uri, diagnostics["AM205"], only=["source.fixAll"])
        assert apply(DANGLING, (await resolved(client, fix_all)).edit) == cli_fix(project, DANGLING)


async def test_a_superseded_version_publishes_nothing_stale(project: Path) -> None:
    """Edits arriving while a slow check runs: every published set of diagnostics is
    the one of the version it names, versions never go back, and the last is the
    buffer's last version."""
    padding = "".join(
        f"\n\nasync def handler_{n}(client: httpx.AsyncClient) -> object:\n"
        f"    response = await client.get('/{n}')\n    return response.json()\n"
        for n in range(150)
    )
    # The two versions differ at module level too (MODE), so each is checked in full
    # (slow), not by the incremental check of one function (see engine.incremental).
    with_sleep = SEEDED + padding + "\nMODE = 'sleep'\n"  # AM205 in slow()
    without_sleep = (
        SEEDED.replace("    time.sleep(1)\n", "    pass\n") + padding + "\nMODE = 'pass'\n"
    )
    expected = {
        True: {"AM101", "AM202", "AM204", "AM205"},
        False: {"AM101", "AM202", "AM204"},
    }
    uri = (project / "app" / "svc.py").as_uri()
    async with server(project) as client:
        published: list[types.PublishDiagnosticsParams] = []
        features = client.protocol.fm.features
        default = features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS]

        def record(params: types.PublishDiagnosticsParams) -> Any:
            published.append(params)
            return default(params)

        features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = record
        await diagnostics_after(client, open_document(client, uri, with_sleep))
        texts = {1: with_sleep}

        async def last_published(version: int) -> None:
            for _ in range(600):
                if published and published[-1].version == version:
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1)  # nothing later may follow

        # A hover checks version 2 at once (no debounce, no pending task to cancel);
        # version 3 arrives while that check runs: only version 3 is published.
        published.clear()
        texts[2], texts[3] = without_sleep, with_sleep
        change_document(client, uri, 2, texts[2])()
        hover = asyncio.ensure_future(
            client.text_document_hover_async(
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line=0, character=0),
                )
            )
        )
        await asyncio.sleep(0.05)
        change_document(client, uri, 3, texts[3])()
        await hover
        await last_published(3)
        assert {p.version for p in published} == {3}

        # Pauses shorter than the debounce, about one check, and longer than one.
        for version, pause in zip(range(4, 11), [0.0, 0.01, 0.3, 0.05, 0.6, 0.0, 0.2], strict=True):
            texts[version] = without_sleep if version % 2 == 0 else with_sleep
            change_document(client, uri, version, texts[version])()
            await asyncio.sleep(pause)
        await last_published(10)
        versions = [p.version for p in published]
        assert versions == sorted(versions) and versions[-1] == 10, versions
        for params in published:
            assert params.version is not None
            has_sleep = texts[params.version] == with_sleep
            assert {str(d.code) for d in params.diagnostics} == expected[has_sleep], params.version


async def test_an_unsaved_edit_that_changes_facts_rechecks_the_other_buffers(
    project: Path,
) -> None:
    """Facts are refreshed from a buffer once typing pauses; a change in them (a
    function became a coroutine) reaches the other open buffers without a save."""
    jobs = project / "app" / "jobs.py"
    jobs.write_text("def refresh() -> None:\n    pass\n")
    caller = "from app.jobs import refresh\n\n\nasync def handler() -> None:\n    refresh()\n"
    caller_uri, jobs_uri = (project / "app" / "caller.py").as_uri(), jobs.as_uri()
    async with server(project) as client:
        assert await diagnostics_after(client, open_document(client, caller_uri, caller)) == []
        await diagnostics_after(client, open_document(client, jobs_uri, jobs.read_text()))
        waiting = client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        change_document(client, jobs_uri, 2, "async def refresh() -> None:\n    pass\n")()
        assert (await asyncio.wait_for(waiting, 60)).uri == jobs_uri
        for _ in range(600):
            if [str(d.code) for d in client.diagnostics.get(caller_uri, [])] == ["AM204"]:
                break
            await asyncio.sleep(0.1)
        assert [str(d.code) for d in client.diagnostics[caller_uri]] == ["AM204"]
        assert jobs.read_text() == "def refresh() -> None:\n    pass\n"  # nothing saved
