"""``asyncmend server``: a Language Server Protocol server over stdio, built on pygls.

What an editor gets:

- diagnostics for the unsaved buffer on open, change (debounced) and save, from the
  same engine call as ``asyncmend check --stdin-filename`` (config discovery,
  suppressions, selection), with the repo index built once per top-level package in
  the background and refreshed from the buffers and from watched-file events;
- per finding, a quick fix holding only that fix's edits (unsafe ones labelled), a
  "suppress on this line" action, and ``source.fixAll.asyncmend`` (what
  ``asyncmend fix`` does to the buffer);
- hover on a finding: ``asyncmend explain``'s text.

Settings (``initializationOptions``, flat or under ``settings``, and
``workspace/configuration`` section ``asyncmend``): ``select``, ``ignore``,
``unsafeFixes``, ``configPath``, as ruff's server names them.

Engine work runs on one worker thread, so the repo index is only ever touched by one
thread and the event loop stays free to read the next keystroke; a result computed
for a version the buffer has left is dropped. Each document keeps its last check
(``engine.incremental.BufferState``): an edit inside function bodies re-checks only
what it can affect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from asyncmend.cli.rule_docs import rule_url
from asyncmend.engine.index import RepoIndex
from asyncmend.engine.quickfix import (
    FindingKey,
    TextEdit,
    finding_key,
    minimal_edits,
    single_fixes,
    source_bytes,
    split_lines,
    suppression_edit,
)
from asyncmend.engine.results import PARSE_ERROR_CODE, FileResult, Finding

#: Where each rule's page lives (``docs/rules/AMxxx.md``); the lead unifies this base.
#: Pause after a keystroke before checking, so a burst of typing costs one check.
DEBOUNCE_SECONDS = 0.03
#: Pause after publishing before the buffer's pass-1 facts are refreshed in the index
#: (cancelled by the next keystroke): while typing goes on, the engine only checks.
FACTS_DELAY_SECONDS = 0.3
#: How long the first check waits for the client's ``workspace/configuration`` answer.
CONFIGURATION_TIMEOUT = 5.0
SOURCE = "asyncmend"
FIX_ALL_KIND = "source.fixAll.asyncmend"

if TYPE_CHECKING:
    from asyncmend.engine.incremental import BufferState

logger = logging.getLogger("asyncmend.server")
T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """The editor's settings; ``None`` leaves the project's config in charge."""

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] | None = None
    unsafe_fixes: bool | None = None
    config_path: str | None = None

    @classmethod
    def from_options(cls, options: Any) -> Settings:
        if not isinstance(options, dict):
            return cls()
        if isinstance(options.get("settings"), dict):  # ruff's initializationOptions shape
            options = options["settings"]

        def codes(name: str) -> tuple[str, ...] | None:
            value = options.get(name)
            if isinstance(value, str):
                value = [part.strip() for part in value.split(",") if part.strip()]
            return tuple(str(item) for item in value) if isinstance(value, list) else None

        unsafe = options.get("unsafeFixes", options.get("unsafe_fixes"))
        config_path = options.get("configPath", options.get("config_path"))
        return cls(
            select=codes("select"),
            ignore=codes("ignore"),
            unsafe_fixes=unsafe if isinstance(unsafe, bool) else None,
            config_path=os.path.expanduser(config_path) if isinstance(config_path, str) else None,
        )

    def engine_options(self, skip: Iterable[str] = ()) -> dict[str, Any]:
        """``run_source``'s options; ``skip`` adds codes to ignore (rules that crashed)."""
        ignore = [*(self.ignore or ()), *sorted(skip)]
        return {
            "select": list(self.select) if self.select is not None else None,
            "ignore": ignore if self.ignore is not None or ignore else None,
            "config_path": self.config_path,
        }


@dataclass
class Checked:
    """One version of a buffer as the engine saw it."""

    version: int | None
    text: str
    path: str
    settings: Settings
    findings: list[Finding]
    index: RepoIndex
    #: Rules left out because they crashed on this file.
    skip: frozenset[str] = frozenset()
    #: ``AsyncmendServer.index_generation`` of this check.
    generation: int = 0
    #: The findings with their fixes (``findings`` were found with fixes deferred),
    #: computed when a code action first asks.
    with_fixes: list[Finding] | None = None
    #: Each finding's fix alone, computed on first request.
    single: dict[FindingKey, str | None] = field(default_factory=dict)
    fixed_all: str | None = None
    fixed_all_done: bool = False


class AsyncmendServer(LanguageServer):
    def __init__(self) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            own_version = version("asyncmend")
        except PackageNotFoundError:  # a source tree
            own_version = "0+unknown"
        super().__init__("asyncmend", own_version)
        #: Engine calls, one at a time (the repo index is not shared between threads).
        self.engine = ThreadPoolExecutor(1, thread_name_prefix="asyncmend-engine")
        #: Index builds, beside the engine so the first checks of other folders go on.
        self.indexer = ThreadPoolExecutor(1, thread_name_prefix="asyncmend-index")
        #: ``initializationOptions`` (their ``settings`` part); configuration overrides them.
        self.init_options: dict[str, Any] = {}
        self.init_settings = Settings()
        #: Settings from ``workspace/configuration``, by workspace folder path ("" = global).
        self.folder_settings: dict[str, Settings] = {}
        self.indexes: dict[tuple[str, ...], asyncio.Future[RepoIndex]] = {}
        self.checked: dict[str, Checked] = {}
        #: Per document, its last check for the incremental one (engine thread only).
        self.buffers: dict[str, BufferState] = {}
        self.pending: dict[str, asyncio.Task[None]] = {}
        #: Facts refreshes waiting (a timer, then an engine job not yet started).
        self.refreshing: dict[str, asyncio.TimerHandle | Future[bool]] = {}
        self.reported_errors: set[str] = set()
        #: Rules that crashed on a file, left out of its checks until the settings change.
        self.crashed: dict[str, frozenset[str]] = {}
        #: Set once the client's settings are known (checks wait for it).
        self.configured = asyncio.Event()
        #: Bumped when the index may change (a check adds its buffer's facts; files change
        #: on disk): a result from an earlier generation may be stale.
        self.index_generation = 0

    # -- helpers -------------------------------------------------------------------

    async def in_engine(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.engine, lambda: fn(*args, **kwargs))

    def log(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=message))

    def report_once(self, message: str) -> None:
        """A settings or config problem: shown once, logged every time."""
        self.log(message, types.MessageType.Error)
        if message not in self.reported_errors:
            self.reported_errors.add(message)
            self.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Error, message=message)
            )

    def settings_for(self, path: str) -> Settings:
        best, best_len = self.folder_settings.get("", self.init_settings), -1
        for folder, settings in self.folder_settings.items():
            if folder and _inside(path, folder) and len(folder) > best_len:
                best, best_len = settings, len(folder)
        return best

    # -- the repo index ----------------------------------------------------------

    def index_for(self, path: str, settings: Settings) -> asyncio.Future[RepoIndex]:
        """The repo index of the top-level packages ``path`` lies in, built once in the
        background (an empty one, for a file outside any package)."""
        from asyncmend.engine.runner import index_scope

        folders = tuple(sorted(os.path.abspath(p) for p in index_scope([Path(path)])))
        future = self.indexes.get(folders)
        if future is None:
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self.indexer, _build_index, folders, path, settings)
            self.indexes[folders] = future
        return future

    def update_index(self, changes: Iterable[tuple[str, bool]]) -> None:
        """Refresh the facts of files changed (or deleted) on disk; engine thread."""
        from asyncmend.engine.index import collect_facts
        from asyncmend.engine.runner import InputError, read_source

        for future in self.indexes.values():
            if not future.done() or future.exception() is not None:
                continue
            index = future.result()
            for path, deleted in changes:
                if not any(_inside(path, folder) for folder in index.folders):  # type: ignore[attr-defined]
                    continue
                old = index.by_path.pop(path, None)
                if old is not None and old.module:
                    index.by_module.pop(old.module, None)
                if not deleted:
                    try:
                        index.add(collect_facts(path, read_source(path)))
                    except InputError:
                        pass

    # -- checking ------------------------------------------------------------------

    def schedule(self, uri: str, delay: float, *, recheck: bool = False) -> None:
        """Check ``uri`` after ``delay`` seconds, replacing a check (or a refresh of its
        facts) not yet started."""
        self.cancel_pending(uri)
        self.pending[uri] = asyncio.ensure_future(self._check_later(uri, delay, recheck))

    def cancel_pending(self, uri: str) -> None:
        previous = self.pending.pop(uri, None)
        if previous is not None and not previous.done():
            previous.cancel()
        refresh = self.refreshing.pop(uri, None)
        if refresh is not None:
            refresh.cancel()  # a running refresh finishes (and reports) all the same

    async def _check_later(self, uri: str, delay: float, recheck: bool = False) -> None:
        if delay:
            await asyncio.sleep(delay)
        try:
            await self.check(uri, recheck=recheck)
        except asyncio.CancelledError:
            raise
        except Exception:  # never let one buffer stop the server
            self.log(f"asyncmend: checking {uri} failed:\n{traceback.format_exc()}", _ERROR)

    async def check(self, uri: str, *, recheck: bool = False) -> Checked | None:
        """Check the buffer's current version and publish its diagnostics, then refresh
        the index with the buffer's facts. ``recheck``: the same version again, after
        its facts changed the index (published only if the findings differ)."""
        document = self.workspace.get_text_document(uri)
        path = _path_of(uri)
        if path is None or not _is_python(document):
            return None
        version, text = document.version, document.source
        with contextlib.suppress(asyncio.TimeoutError):  # a client that never answers
            await asyncio.wait_for(self.configured.wait(), CONFIGURATION_TIMEOUT)
        settings = self.settings_for(path)
        try:
            index = await self.index_for(path, settings)
        except Exception as exc:
            self.log(f"asyncmend: building the repo index failed: {exc}", _ERROR)
            index = RepoIndex()
        skip = self.crashed.get(path, frozenset())
        generation = self.index_generation
        previous = self.checked.get(uri)
        recheck = recheck and previous is not None and previous.text == text
        if (
            previous is not None
            and (previous.text, previous.settings, previous.skip) == (text, settings, skip)
            and (previous.index, previous.generation) == (index, generation)
        ):  # a save, or a change that changed nothing: the last result holds
            previous.version = version
            self.publish(uri, previous)
            return previous
        try:
            from asyncmend.engine.incremental import BufferState  # libcst: not at start

            state = self.buffers.setdefault(uri, BufferState())
            token = (id(index), generation, settings, skip)
            report = await self.in_engine(
                _diagnose, text, path, settings, index, skip, state, token
            )
            if report.internal_errors:
                for error in report.internal_errors:
                    self.log(f"asyncmend: {error}", _ERROR)
                # Find the rules that crash, and keep the others' findings on screen.
                crashed = await self.in_engine(_crashing_rules, text, path, settings, index, skip)
                if crashed:
                    skip = self.crashed[path] = skip | crashed
                    self.log(
                        f"asyncmend: {', '.join(sorted(crashed))} crashed on {path}; "
                        "checking it without them until the settings change",
                        _ERROR,
                    )
                    report = await self.in_engine(_diagnose, text, path, settings, index, skip)
        except Exception as exc:  # bad settings or config: one clear message
            self.report_once(f"asyncmend: {exc}")
            return None
        if not self.is_current(uri, version, text):
            return None  # the buffer moved on; its own check is coming
        findings = [f for result in report.results for f in result.findings]
        checked = Checked(version, text, path, settings, findings, index, skip, generation)
        self.checked[uri] = checked
        if not recheck:
            self.publish(uri, checked)
            self.refresh_later(uri, checked)
        elif previous is None or previous.findings != findings:
            self.publish(uri, checked)
        return checked

    def is_current(self, uri: str, version: int | None, text: str) -> bool:
        current = self.workspace.get_text_document(uri)
        return current.version == version and current.source == text

    def refresh_later(self, uri: str, checked: Checked) -> None:
        """Once typing pauses, put the buffer's pass-1 facts in the index. The check just
        published read this file's earlier facts; most edits leave them as they were.
        When they differ (an edit added a coroutine, a sessionmaker, an import), the
        index moved on: this buffer is checked again (republished only if its findings
        change), and so are the other open ones."""
        loop = asyncio.get_running_loop()

        def done(future: Future[bool]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed: shutting down
                loop.call_soon_threadsafe(self.facts_refreshed, uri, checked, future)

        def start() -> None:
            data, _ = source_bytes(checked.text)
            future = self.engine.submit(_refresh_facts, checked.index, checked.path, data)
            self.refreshing[uri] = future
            future.add_done_callback(done)

        self.refreshing[uri] = loop.call_later(FACTS_DELAY_SECONDS, start)

    def facts_refreshed(self, uri: str, checked: Checked, future: Future[bool]) -> None:
        if self.refreshing.get(uri) is future:
            del self.refreshing[uri]
        if future.cancelled():
            return
        if future.exception() is not None:
            self.log(f"asyncmend: refreshing the facts of {checked.path} failed: "
                     f"{future.exception()}", _ERROR)  # fmt: skip
            return
        if not future.result():
            return
        self.index_generation += 1
        for other in list(self.workspace.text_documents):
            if other != uri:
                self.schedule(other, DEBOUNCE_SECONDS)
        if self.is_current(uri, checked.version, checked.text):
            self.schedule(uri, 0, recheck=True)

    def publish(self, uri: str, checked: Checked) -> None:
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=uri,
                version=checked.version,
                diagnostics=[self.diagnostic(checked.text, f) for f in checked.findings],
            )
        )

    async def current(self, uri: str) -> Checked | None:
        """The check of the buffer as it is now (checking it first if it changed)."""
        document = self.workspace.get_text_document(uri)
        checked = self.checked.get(uri)
        if checked is not None and checked.version == document.version:
            if checked.text == document.source:
                return checked
        return await self.check(uri)

    # -- conversions ---------------------------------------------------------------

    def client_position(self, lines: list[str], line: int, column: int) -> types.Position:
        """A 0-based (line, code point column) in the client's position encoding."""
        text = lines[line] if line < len(lines) else ""
        text = text[:column].rstrip("\r\n") if column > len(text.rstrip("\r\n")) else text[:column]
        encoding = self.workspace.position_encoding
        if encoding == types.PositionEncodingKind.Utf8:
            units = len(text.encode("utf-8", "surrogatepass"))
        elif encoding == types.PositionEncodingKind.Utf32:
            units = len(text)
        else:
            units = len(text.encode("utf-16-le", "surrogatepass")) // 2
        return types.Position(line=line, character=units)

    def client_range(self, text: str, start: tuple[int, int], end: tuple[int, int]) -> types.Range:
        lines = split_lines(text)
        return types.Range(
            start=self.client_position(lines, *start), end=self.client_position(lines, *end)
        )

    def diagnostic(self, text: str, finding: Finding) -> types.Diagnostic:
        start = (finding.line - 1, finding.column - 1)
        end = (finding.end_line - 1, finding.end_column - 1)
        if end == start:  # AM000 points at one place: underline the rest of its line
            lines = split_lines(text)
            line = lines[start[0]] if start[0] < len(lines) else ""
            end = (start[0], max(start[1] + 1, len(line.rstrip("\r\n"))))
        parse_error = finding.code == PARSE_ERROR_CODE
        return types.Diagnostic(
            range=self.client_range(text, start, end),
            severity=types.DiagnosticSeverity.Error
            if parse_error
            else types.DiagnosticSeverity.Warning,
            code=finding.code,
            code_description=types.CodeDescription(href=url)
            if (url := rule_url(finding.code))
            else None,
            source=SOURCE,
            message=finding.message,
            data={"key": list(finding_key(finding))},
        )

    def text_edits(self, text: str, edits: list[TextEdit]) -> list[types.TextEdit]:
        return [
            types.TextEdit(range=self.client_range(text, e.start, e.end), new_text=e.new_text)
            for e in edits
        ]

    def workspace_edit(
        self, uri: str, checked: Checked, edits: list[TextEdit]
    ) -> types.WorkspaceEdit:
        text_edits = self.text_edits(checked.text, edits)
        capabilities = self.client_capabilities.workspace
        versioned = bool(
            capabilities
            and capabilities.workspace_edit
            and capabilities.workspace_edit.document_changes
        )
        if versioned and checked.version is not None:
            return types.WorkspaceEdit(
                document_changes=[
                    types.TextDocumentEdit(
                        text_document=types.OptionalVersionedTextDocumentIdentifier(
                            uri=uri, version=checked.version
                        ),
                        edits=text_edits,  # type: ignore[arg-type]
                    )
                ]
            )
        return types.WorkspaceEdit(changes={uri: text_edits})

    def finding_at(self, checked: Checked, line: int, column: int) -> list[Finding]:
        """Findings whose range holds the (0-based, code point) position."""
        here = (line + 1, column + 1)
        return [
            f
            for f in checked.findings
            if (f.line, f.column) <= here <= (f.end_line, max(f.end_column, f.column + 1))
            or (f.line == f.end_line == here[0] and f.column == f.end_column)
        ]

    # -- code actions and settings ------------------------------------------------

    async def code_actions(
        self, uri: str, checked: Checked, params: types.CodeActionParams
    ) -> list[types.CodeAction]:
        document = self.workspace.get_text_document(uri)
        wanted = document.range_from_client_units(params.range)
        first = (wanted.start.line + 1, wanted.start.character + 1)
        last = (wanted.end.line + 1, wanted.end.character + 1)
        resolve = self.supports_resolve()
        actions: list[types.CodeAction] = []
        base = {"uri": uri, "version": checked.version}
        in_range = [
            f
            for f in checked.findings
            if f.code != PARSE_ERROR_CODE
            and (f.end_line, f.end_column) >= first
            and (f.line, f.column) <= last
        ]
        wants_fix_all = _only(params, FIX_ALL_KIND)
        # Fixes left unbuilt are built for the findings under the cursor only: fix-all's
        # offer goes by what each rule declares (an editor asks for code actions on
        # every cursor move; one check with fixes per version is for a quick fix).
        findings = await self.findings_with_fixes(checked, in_range)
        in_range_keys = {finding_key(f) for f in in_range}
        for finding in findings:
            if finding_key(finding) not in in_range_keys:
                continue
            diagnostic = self.diagnostic(checked.text, finding)
            key = list(finding_key(finding))
            if finding.fix_applicability and _only(params, types.CodeActionKind.QuickFix):
                unsafe = finding.fix_applicability == "unsafe"
                title = f"Fix {finding.code}: {finding.fix_message}" + (
                    " (unsafe)" if unsafe else ""
                )
                actions.append(
                    types.CodeAction(
                        title=title,
                        kind=types.CodeActionKind.QuickFix,
                        diagnostics=[diagnostic],
                        is_preferred=not unsafe,
                        data={**base, "action": "fix", "key": key},
                    )
                )
            if _only(params, types.CodeActionKind.QuickFix):
                actions.append(
                    types.CodeAction(
                        title=f"Suppress {finding.code} on this line",
                        kind=types.CodeActionKind.QuickFix,
                        diagnostics=[diagnostic],
                        data={**base, "action": "suppress", "key": key},
                    )
                )
        unsafe_ok = bool(checked.settings.unsafe_fixes)
        fixable = [
            f
            for f in findings
            if (applicability := f.fix_applicability or _deferred_applicability(f)) == "safe"
            or (unsafe_ok and applicability == "unsafe")
        ]
        if fixable and wants_fix_all:
            title = (
                "Fix all asyncmend findings (unsafe fixes included)"
                if unsafe_ok
                else "Fix all safe asyncmend findings"
            )
            actions.append(
                types.CodeAction(title=title, kind=FIX_ALL_KIND, data={**base, "action": "fixAll"})
            )
        if not resolve:
            resolved = []
            for action in actions:
                assert isinstance(action.data, dict)
                result = await self.resolve_action(uri, checked, action, action.data)
                if result.edit is not None:
                    resolved.append(result)
            return resolved
        return actions

    async def findings_with_fixes(self, checked: Checked, wanted: list[Finding]) -> list[Finding]:
        """``checked``'s findings, with their fixes when one of ``wanted`` may have a fix
        the diagnostics pass left unbuilt: then the buffer is checked once more with fixes
        built, once per version (a code action is the only thing that needs them)."""
        if checked.with_fixes is not None:
            return checked.with_fixes
        if not any(_fix_deferred(f) for f in wanted):
            return checked.findings
        try:
            report = await self.in_engine(
                _check, checked.text, checked.path, checked.settings, checked.index,
                checked.skip, fix=False,
            )  # fmt: skip
        except Exception as exc:
            self.report_once(f"asyncmend: {exc}")
            return checked.findings
        if report.internal_errors:  # a fix builder crashed: offer no fix, keep serving
            for error in report.internal_errors:
                self.log(f"asyncmend: {error}", _ERROR)
            checked.with_fixes = checked.findings
        else:
            checked.with_fixes = [f for result in report.results for f in result.findings]
        return checked.with_fixes

    async def resolve_action(
        self,
        uri: str,
        checked: Checked,
        action: types.CodeAction,
        data: dict[str, Any],
    ) -> types.CodeAction:
        kind = data.get("action")
        key = tuple(data.get("key") or ())
        finding = next((f for f in checked.findings if finding_key(f) == key), None)
        edits: list[TextEdit] | None = None
        if kind == "fix" and finding is not None:
            fixed = await self.in_engine(_fix_one, checked, key)
            if fixed is None:
                self.log(f"asyncmend: the fix of {finding.code} does not verify here; not offered")
            else:
                edits = minimal_edits(checked.text, fixed)
        elif kind == "suppress" and finding is not None:
            edit = suppression_edit(checked.text, finding)
            edits = [edit] if edit is not None else None
        elif kind == "fixAll":
            if not checked.fixed_all_done:
                checked.fixed_all = await self.in_engine(_fix_all, checked)
                checked.fixed_all_done = True
            if checked.fixed_all is not None:
                edits = minimal_edits(checked.text, checked.fixed_all)
        if edits:
            action.edit = self.workspace_edit(uri, checked, edits)
        return action

    def supports_resolve(self) -> bool:
        document = self.client_capabilities.text_document
        code_action = document.code_action if document else None
        support = code_action.resolve_support if code_action else None
        return bool(support and "edit" in support.properties)

    async def pull_configuration(self) -> None:
        """Ask the client for the ``asyncmend`` section, globally and per workspace folder."""
        workspace = self.client_capabilities.workspace
        if not (workspace and workspace.configuration):
            return
        folders = [folder.uri for folder in self.workspace.folders.values()]
        items = [types.ConfigurationItem(section="asyncmend")] + [
            types.ConfigurationItem(scope_uri=uri, section="asyncmend") for uri in folders
        ]
        try:
            values = await self.workspace_configuration_async(
                types.ConfigurationParams(items=items)
            )
        except Exception as exc:
            self.log(f"asyncmend: workspace/configuration failed: {exc}", _ERROR)
            return
        settings: dict[str, Settings] = {}
        merged_global = {**self.init_options, **_as_dict(values[0] if values else None)}
        settings[""] = Settings.from_options(merged_global)
        for uri, value in zip(folders, values[1:], strict=False):
            path = _path_of(uri)
            if path is not None and isinstance(value, dict):
                settings[path] = Settings.from_options({**merged_global, **value})
        self.folder_settings = settings

    async def watch_files(self) -> None:
        """Ask the client to report Python files changed on disk (git checkout, codegen)."""
        workspace = self.client_capabilities.workspace
        watched = workspace.did_change_watched_files if workspace else None
        if not (watched and watched.dynamic_registration):
            return
        options = types.DidChangeWatchedFilesRegistrationOptions(
            watchers=[types.FileSystemWatcher(glob_pattern="**/*.py")]
        )
        registration = types.Registration(
            id="asyncmend-watch-python",
            method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
            register_options=options,
        )
        try:
            await self.client_register_capability_async(
                types.RegistrationParams(registrations=[registration])
            )
        except Exception as exc:  # the index then refreshes from open buffers only
            self.log(f"asyncmend: cannot watch files ({exc}); index refreshed from buffers")

    def recheck_all(self) -> None:
        for uri in list(self.workspace.text_documents):
            self.schedule(uri, 0)


_ERROR = types.MessageType.Error


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _path_of(uri: str) -> str | None:
    path = to_fs_path(uri)
    return os.path.abspath(path) if path and uri.startswith("file:") else None


def _is_python(document: Any) -> bool:
    language = getattr(document, "language_id", None)
    path = document.path or ""
    return language in ("python", None, "") and (path.endswith((".py", ".pyi")) or bool(language))


def _build_index(folders: tuple[str, ...], path: str, settings: Settings) -> RepoIndex:
    """Pass 1 over the folders, facts reused from the content cache (the one
    ``asyncmend check`` keeps for these settings) where a file is unchanged, and the new
    ones stored there: the next start of the server reads them back."""
    from asyncmend.codemods.registry import UnknownRuleError
    from asyncmend.engine.api import _prepare
    from asyncmend.engine.cache import ResultCache
    from asyncmend.engine.config import load_config
    from asyncmend.engine.discovery import discover
    from asyncmend.engine.runner import Pool, build_index, hash_files, max_file_bytes

    if not folders:
        index = RepoIndex()
    else:
        options = settings.engine_options()
        cache: ResultCache | None = None
        try:
            config, job = _prepare(
                Path(path), options["select"], options["ignore"], False, settings.unsafe_fixes,
                None, options["config_path"], None, None, None,
            )  # fmt: skip
            cache = ResultCache.open(
                config.root, config.digest(), job.rule_codes, False, config.unsafe_fixes,
                job.variants_key(), in_project=config.source is not None,
            )  # fmt: skip
        except UnknownRuleError:  # bad settings, shown by the check; the index needs none
            config = load_config(
                Path(settings.config_path) if settings.config_path else None, start=Path(path)
            )
        limit = max_file_bytes(config)
        files = [os.path.abspath(p) for p in discover(folders, root=config.root)]
        digests, _ = hash_files(files, limit, cache)
        with Pool(1) as pool:
            index = build_index(pool, files, digests, cache, limit)
        if cache is not None:
            cache.save()
    index.folders = folders  # type: ignore[attr-defined]
    return index


def _check(
    text: str,
    path: str,
    settings: Settings,
    index: RepoIndex,
    skip: frozenset[str],
    *,
    fix: bool = False,
    defer_fixes: bool = False,
    select: Iterable[str] | None = None,
    state: BufferState | None = None,
) -> Any:
    """``asyncmend check --stdin-filename PATH`` on the buffer (``fix``: ``asyncmend
    fix``), against the index as it is (this file's facts are refreshed after
    publishing, see ``refresh_facts``); engine thread."""
    from asyncmend.engine.buffer import check_buffer

    options = settings.engine_options(skip)
    if select is not None:
        options["select"] = list(select)
    data, _ = source_bytes(text)
    return check_buffer(
        data, path, index=index, fix=fix, unsafe_fixes=settings.unsafe_fixes,
        defer_fixes=defer_fixes, state=state, **options,
    )  # fmt: skip


def _diagnose(
    text: str,
    path: str,
    settings: Settings,
    index: RepoIndex,
    skip: frozenset[str],
    state: BufferState | None = None,
    token: object = None,
) -> Any:
    """The diagnostics pass: findings, with the fixes rules build on demand left out
    (``findings_with_fixes`` builds them when a code action asks). ``state``: the
    buffer's last check, reused where ``token`` (index, its generation, settings) is
    the one it was made under (see ``engine.incremental``)."""
    if state is not None and state.token != token:
        state.clear()
        state.token = token
    return _check(text, path, settings, index, skip, defer_fixes=True, state=state)


def _fix_deferred(finding: Finding) -> bool:
    """Whether the diagnostics pass may have left ``finding``'s fix unbuilt: it has
    none, and its rule offers fixes."""
    return _deferred_applicability(finding) is not None


def _deferred_applicability(finding: Finding) -> str | None:
    """For a finding without a fix, the fix its rule declares (``"safe"``,
    ``"unsafe"``), which the diagnostics pass may have left unbuilt; else None."""
    from asyncmend.codemods.base import Applicability
    from asyncmend.codemods.registry import UnknownRuleError, rule_by_code

    if finding.fix_applicability is not None:
        return None
    try:
        declared = rule_by_code(finding.code).fix_applicability
    except UnknownRuleError:  # AM000, a rule of a pack no longer installed
        return None
    return None if declared is Applicability.NONE else declared.value


def _refresh_facts(index: RepoIndex, path: str, data: bytes) -> bool:
    from asyncmend.engine.buffer import refresh_facts

    return refresh_facts(index, path, data)


def _crashing_rules(
    text: str, path: str, settings: Settings, index: RepoIndex, skip: frozenset[str]
) -> frozenset[str]:
    """The selected rules that crash on this buffer, found by running each alone."""
    from asyncmend.engine.api import _prepare

    options = settings.engine_options(skip)
    _config, job = _prepare(
        Path(path), options["select"], options["ignore"], False, None, None,
        options["config_path"], None, None, None,
    )  # fmt: skip
    return frozenset(
        code
        for code in job.rule_codes
        if _check(
            text, path, settings, index, skip, select=[code], defer_fixes=True
        ).internal_errors
    )


def _fix_all(checked: Checked) -> str | None:
    """``asyncmend fix`` on the buffer (with the unsafe fixes the settings allow)."""
    _data, codec = source_bytes(checked.text)
    report = _check(
        checked.text, checked.path, checked.settings, checked.index, checked.skip, fix=True
    )
    changed: list[FileResult] = report.changed
    if not changed or changed[0].fixed is None:
        return None
    return changed[0].fixed.decode(codec)


def _fix_one(checked: Checked, key: FindingKey) -> str | None:
    if key not in checked.single:
        found = single_fixes(
            checked.text, checked.path, {key}, index=checked.index,
            **checked.settings.engine_options(checked.skip),
        )  # fmt: skip
        checked.single[key] = found.get(key)
    return checked.single[key]


def _explain(code: str) -> str | None:
    from asyncmend.cli.app import explain_text
    from asyncmend.codemods.registry import UnknownRuleError, rule_by_code

    try:
        return explain_text(rule_by_code(code))
    except UnknownRuleError:
        return None


def create_server() -> AsyncmendServer:
    server = AsyncmendServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: AsyncmendServer, params: types.InitializeParams) -> None:
        ls.init_options = _as_dict(params.initialization_options)
        ls.init_settings = Settings.from_options(ls.init_options)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: AsyncmendServer, params: types.InitializedParams) -> None:
        try:
            await ls.pull_configuration()
        finally:
            ls.configured.set()
        await ls.watch_files()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def configuration_changed(
        ls: AsyncmendServer, params: types.DidChangeConfigurationParams
    ) -> None:
        settings = params.settings
        if isinstance(settings, dict) and isinstance(settings.get("asyncmend"), dict):
            ls.init_options = _as_dict(settings["asyncmend"])
            ls.init_settings = Settings.from_options(ls.init_options)
            ls.folder_settings = {}
        ls.crashed.clear()
        await ls.pull_configuration()
        ls.recheck_all()

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    async def watched_files(ls: AsyncmendServer, params: types.DidChangeWatchedFilesParams) -> None:
        changes = [
            (path, change.type == types.FileChangeType.Deleted)
            for change in params.changes
            if (path := _path_of(change.uri)) and path.endswith((".py", ".pyi"))
        ]
        if changes:
            await ls.in_engine(ls.update_index, changes)
            ls.index_generation += 1
            ls.recheck_all()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: AsyncmendServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: AsyncmendServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, DEBOUNCE_SECONDS)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(ls: AsyncmendServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: AsyncmendServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.cancel_pending(uri)
        ls.checked.pop(uri, None)
        ls.buffers.pop(uri, None)
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: AsyncmendServer, params: types.HoverParams) -> types.Hover | None:
        checked = await ls.current(params.text_document.uri)
        if checked is None:
            return None
        document = ls.workspace.get_text_document(params.text_document.uri)
        position = document.position_from_client_units(params.position)
        codes = dict.fromkeys(
            f.code
            for f in ls.finding_at(checked, position.line, position.character)
            if f.code != PARSE_ERROR_CODE
        )
        texts = [text for code in codes if (text := _explain(code))]
        if not texts:
            return None
        return types.Hover(
            contents=types.MarkupContent(
                kind=types.MarkupKind.Markdown, value="\n\n---\n\n".join(texts)
            )
        )

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.QuickFix, FIX_ALL_KIND],
            resolve_provider=True,
        ),
    )
    async def code_action(
        ls: AsyncmendServer, params: types.CodeActionParams
    ) -> list[types.CodeAction] | None:
        uri = params.text_document.uri
        checked = await ls.current(uri)
        if checked is None:
            return None
        return await ls.code_actions(uri, checked, params)

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def resolve(ls: AsyncmendServer, action: types.CodeAction) -> types.CodeAction:
        data = action.data if isinstance(action.data, dict) else {}
        uri = data.get("uri")
        if not isinstance(uri, str):
            return action
        checked = await ls.current(uri)
        if checked is None or checked.version != data.get("version"):
            return action  # the buffer changed: offer nothing stale
        return await ls.resolve_action(uri, checked, action, data)

    return server


def _only(params: types.CodeActionParams, kind: str) -> bool:
    """Whether the request's ``only`` filter lets ``kind`` through."""
    only = params.context.only
    return not only or any(kind == k or kind.startswith(f"{k}.") for k in only)


def _as_dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    return value["settings"] if isinstance(value.get("settings"), dict) else value


def serve() -> None:
    """Run the server on stdin/stdout until the client says exit."""
    import sys

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    create_server().start_io()


__all__ = ["AsyncmendServer", "Settings", "create_server", "serve"]
