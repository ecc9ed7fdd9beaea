"""AM205 blocking-call: a synchronous, blocking call inside an ``async def``."""

from __future__ import annotations

import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, ImportSpec, Rule
from asyncmend.codemods.edits.awaits import awaited, in_generator_expression, is_receiver
from asyncmend.codemods.edits.imports import asyncio_reference
from asyncmend.codemods.semantic.sessions import SYNC_SESSION_IO, sync_session_io
from asyncmend.codemods.semantic.tree import dotted_name

#: What each blocking callable should become (qualified name -> advice).
_HTTP = "use `httpx.AsyncClient` (or run it in `asyncio.to_thread`)"
_SUBPROCESS = "use `asyncio.create_subprocess_exec` (or `asyncio.to_thread`)"
_WAIT = "await the `asyncio.subprocess.Process` (`await proc.wait()`), or use `asyncio.to_thread`"
_ENGINE = "use `create_async_engine` with an async driver"
BLOCKING_CALLS: dict[str, str] = {
    "urllib.request.urlopen": _HTTP,
    **dict.fromkeys(
        ("subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output",
         "subprocess.Popen", "subprocess.getoutput", "subprocess.getstatusoutput", "os.system",
         "os.popen"), _SUBPROCESS),
    **dict.fromkeys(("os.wait", "os.waitpid", "os.wait3", "os.wait4"), _WAIT),
    **dict.fromkeys(
        ("sqlalchemy.create_engine", "sqlalchemy.engine.create_engine", "sqlmodel.create_engine"),
        _ENGINE),
    "sqlalchemy.orm.Session": "use `AsyncSession` (sqlalchemy.ext.asyncio)",
    "sqlalchemy.orm.session.Session": "use `AsyncSession` (sqlalchemy.ext.asyncio)",
    "sqlmodel.Session": "use `AsyncSession` (sqlmodel.ext.asyncio.session)",
}  # fmt: skip
#: Functions of ``requests`` (and methods of a ``requests.Session``) that do I/O.
REQUESTS_VERBS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "request"})
#: Module-level HTTP functions that block: requests', and httpx's synchronous ones.
_REQUESTS_FUNCTIONS = frozenset(
    (module, verb) for module in ("requests", "requests.api", "httpx") for verb in REQUESTS_VERBS
)
REQUESTS_SESSIONS = frozenset({"requests.Session", "requests.session", "requests.sessions.Session"})
SYNC_SESSION_ADVICE = (
    "use an `AsyncSession` (`sqlalchemy.ext.asyncio`) and `await`, or make this a plain "
    "`def` (FastAPI runs those in a thread pool)"
)
_FILE_IO = "does blocking file I/O on the event loop"
OPEN_ADVICE = "use `aiofiles.open` / `anyio.open_file`, or `asyncio.to_thread`"
#: Methods of a ``pathlib.Path`` that do blocking file I/O.
PATH_IO_METHODS = frozenset({"open", "read_text", "write_text", "read_bytes", "write_bytes"})
PATH_TYPES = frozenset(
    {"pathlib.Path", "pathlib.PosixPath", "pathlib.WindowsPath", "pathlib.PurePath"}
)
_PATH_ADVICE = "use `anyio.Path` (its methods are awaitable), or `asyncio.to_thread`"
#: The last part of every name above: a call spelled otherwise can only be one of them
#: through an import that renames it, so it needs no resolving (resolving every call of
#: every coroutine costs more than all the rest of this rule).
_LEAVES = frozenset(
    {name.rsplit(".", 1)[-1] for name in BLOCKING_CALLS}
    | REQUESTS_VERBS
    | PATH_IO_METHODS
    | {"sleep"}
)

#: The callees the gate looks for through imports, and their last parts.
_GATE_BLOCKING = frozenset(
    {*BLOCKING_CALLS, "time.sleep", "open", "io.open", "builtins.open"}
    | {f"{module}.{verb}" for module, verb in _REQUESTS_FUNCTIONS}
)
_GATE_LEAVES = frozenset(name.rsplit(".", 1)[-1] for name in _GATE_BLOCKING)


def _may_be_path(gate: Rule.Gate, call: Rule.Gate.CallSite) -> bool:
    """The receiver of ``call`` (``x.read_text()``) may be a pathlib path by
    ``value_kind``: any call or other expression (``Path(p).open()``), or a name some
    binding of which is annotated or made so (``args.path``: no kind at all)."""
    if call.receiver is None or call.frame is None:
        return True
    kinds = gate.receiver_kinds(call.frame, call.receiver)
    return kinds is None or not kinds.isdisjoint(PATH_TYPES)


class BlockingCall(Rule):
    """
    ## What it does
    Finds synchronous, blocking calls inside an `async def`: `time.sleep`, the `requests`
    HTTP functions (and methods of a `requests.Session`), the synchronous `httpx.get`
    / `httpx.post` / ... functions, `urllib.request.urlopen`,
    `subprocess.run` / `call` / `check_call` / `check_output` / `Popen`, `os.system`,
    `os.popen`, `os.wait` / `waitpid`, the builtin `open` and a `pathlib.Path`'s `open`
    / `read_text` / `write_text` / `read_bytes` / `write_bytes`, a synchronous
    SQLAlchemy `Session` or `create_engine`, and the queries and commits of a sync
    `Session` (one annotated `Session`, a `Depends` alias of one, `SessionLocal()` of a
    plain `sessionmaker`, or a repo function that returns one).

    ## Why is this bad?
    An `async def` runs on the event loop. A blocking call stops the loop for as long as
    it takes: every other request, task and timer of the process waits, so one slow
    upstream makes the whole service slow.

    `time.sleep(x)` is fixed to `await asyncio.sleep(x)`. The others get a finding that
    names the async replacement (`httpx.AsyncClient`, `asyncio.create_subprocess_exec`,
    `aiofiles` / `anyio.open_file` or `asyncio.to_thread`, `AsyncSession` /
    `create_async_engine`). Names are resolved through the module's imports (so a local
    function called `sleep` is not `time.sleep`), and calls in a nested plain `def` or
    a `lambda` are not reported: they may well run in a thread.

    ## Example
    ```python
    async def charge(client: httpx.AsyncClient, amount: int) -> dict:
        for attempt in range(3):
            response = await client.post("/charges", json={"amount": amount})
            if response.status_code < 500:
                return response.json()
            time.sleep(2**attempt)
    ```

    ## Use instead
    ```python
    async def charge(client: httpx.AsyncClient, amount: int) -> dict:
        for attempt in range(3):
            response = await client.post("/charges", json={"amount": amount})
            if response.status_code < 500:
                return response.json()
            await asyncio.sleep(2**attempt)
    ```
    """

    code = "AM205"
    name = "blocking-call"
    fix_applicability = Applicability.SAFE
    uses_index = True  # a sync Session from another module (alias, sessionmaker, dependency)
    # Every reported call has one of these in its file (`Session(` also matches the
    # `orm.Session(` spelling; `requests` the module any requests call goes through).
    triggers = (
        b"sleep",
        b"requests",
        b"httpx",
        b"urlopen",
        b"subprocess",
        b"system",
        b"wait",
        b"popen",
        b"_text",
        b"_bytes",
        b"open(",
        b"Session(",
        b"create_engine",
        b"Session",
        b"session",
    )
    # It reports only inside an `async def` (`visit_Call` returns first elsewhere).
    requires = (b"async",)

    @classmethod
    def candidate(cls, gate: Rule.Gate) -> bool:
        # A call in an `async def`: a blocking callee through any import, a method of a
        # sync session or a requests session bound there, or file I/O in a module that
        # may name pathlib.
        imports = gate.imports
        requests_session: bool | None = None  # asked once, when a verb is called
        # `value_kind` resolves a receiver through this module's imports only, so a
        # pathlib type needs the word `pathlib` here (an import, or written out), or a
        # relative import inside a package called so.
        paths = b"pathlib" in gate.source or (gate.module_name or "").startswith("pathlib")
        for c in gate.calls:
            if c.frame is None or c.frame.kind != "async":
                continue
            leaf, name = c.leaf, c.name
            if paths and c.attribute and leaf in PATH_IO_METHODS and _may_be_path(gate, c):
                return True
            # Only an import of its head makes a callee named otherwise a blocking one.
            if (
                name is not None
                and (leaf in _GATE_LEAVES or name.partition(".")[0] in imports)
                and any(q in _GATE_BLOCKING for q in gate.qualified(name))
            ):
                return True
            if leaf in REQUESTS_VERBS and c.receiver is not None:
                if requests_session is None:
                    requests_session = gate.may_call(REQUESTS_SESSIONS)
                if requests_session:
                    return True
            if (
                leaf in SYNC_SESSION_IO
                and not c.awaited
                and c.receiver is not None
                and "." not in c.receiver
                and gate.may_hold_session(
                    c.frame, c.receiver, own=True, fallback=False, scoped=False, heads=True
                )
            ):
                return True
        return False

    def visit_Call(self, node: cst.Call) -> None:
        if not self.in_async_function():
            return
        func = node.func
        # Methods of a sync Session, a pathlib.Path, a requests.Session.
        if isinstance(func, cst.Attribute):
            method, receiver = func.attr.value, func.value
            session = sync_session_io(node, self.ancestors, self.context)
            if session is not None:
                self.report(
                    node,
                    f"`{session}.{method}()` on a sync SQLAlchemy `Session` blocks the event "
                    f"loop inside `async def`; {SYNC_SESSION_ADVICE}",
                )
                return
            typed = method in PATH_IO_METHODS or method in REQUESTS_VERBS
            kind = self.semantic.value_kind(receiver, self.ancestors) if typed else None
            if method in PATH_IO_METHODS and kind in PATH_TYPES:
                shown = f"{dotted_name(receiver) or 'Path(...)'}.{method}"
                self.report(node, f"`{shown}()` {_FILE_IO}; {_PATH_ADVICE}")
                return
            plain = isinstance(receiver, cst.Name)
            if plain and kind in REQUESTS_SESSIONS and method in REQUESTS_VERBS:
                self.report(node, f"`{dotted_name(func)}()` is a blocking HTTP call; {_HTTP}")
                return
        name = dotted_name(func)
        if name is None or not self.semantic.may_resolve_to(name, _LEAVES, self.ancestors):
            return
        qualified = self.semantic.resolve_where(name, self.ancestors)
        if qualified is None:
            return  # a parameter or local, not the import or builtin it resembles
        if qualified == "time.sleep":
            self.report(
                node,
                f"`{name}()` blocks the event loop inside `async def`; use `await asyncio.sleep()`",
                fix=self._sleep_fix(node),
            )
            return
        if qualified in ("open", "io.open", "builtins.open"):
            advice = f"{_FILE_IO}; {OPEN_ADVICE}"
        elif qualified in BLOCKING_CALLS:
            advice = f"blocks the event loop; {BLOCKING_CALLS[qualified]}"
        elif qualified.rpartition(".")[::2] in _REQUESTS_FUNCTIONS:
            advice = f"is a blocking HTTP call; {_HTTP}"
        else:
            return
        self.report(node, f"`{name}()` {advice}")

    def _sleep_fix(self, node: cst.Call) -> Fix | None:
        """``await asyncio.sleep(...)``, unless ``await`` would change what the code
        means there (a generator expression becomes an async generator) or ``asyncio``
        means something else in this module."""
        prefix, needs_import = asyncio_reference(self.semantic, self.ancestors)
        if prefix is None or in_generator_expression(self.ancestors):
            return None
        sleep = cst.Attribute(value=cst.Name(prefix), attr=cst.Name("sleep"))
        # `time.sleep(1).x` must stay `(await asyncio.sleep(1)).x`.
        new = awaited(
            node.with_changes(func=sleep), parenthesized=is_receiver(node, self.ancestors[-1])
        )
        head = (dotted_name(node.func) or "").partition(".")[0]
        return Fix(
            "Use `await asyncio.sleep()`",
            Applicability.SAFE,
            replacements=[(node, new)],
            imports=[ImportSpec("asyncio")] if needs_import else [],
            # `import time` / `from time import sleep` may now be unused.
            maybe_unused=[head] if head and head != prefix else [],
        )
