"""AM205 blocking-call: a synchronous, blocking call inside an ``async def``."""

from __future__ import annotations

import re

import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, ImportSpec, Rule
from asyncmend.codemods.semantic.sessions import sync_session_names
from asyncmend.codemods.semantic.tree import dotted_name

#: What each blocking callable should become (qualified name -> advice).
_HTTP = "use `httpx.AsyncClient` (or run it in `asyncio.to_thread`)"
_SUBPROCESS = "use `asyncio.create_subprocess_exec` (or `asyncio.to_thread`)"
_WAIT = "await the `asyncio.subprocess.Process` (`await proc.wait()`), or use `asyncio.to_thread`"
BLOCKING_CALLS: dict[str, str] = {
    "urllib.request.urlopen": _HTTP,
    "subprocess.run": _SUBPROCESS,
    "subprocess.call": _SUBPROCESS,
    "subprocess.check_call": _SUBPROCESS,
    "subprocess.check_output": _SUBPROCESS,
    "subprocess.Popen": _SUBPROCESS,
    "subprocess.getoutput": _SUBPROCESS,
    "subprocess.getstatusoutput": _SUBPROCESS,
    "os.system": _SUBPROCESS,
    "os.popen": _SUBPROCESS,
    "os.wait": _WAIT,
    "os.waitpid": _WAIT,
    "os.wait3": _WAIT,
    "os.wait4": _WAIT,
    "sqlalchemy.create_engine": "use `create_async_engine` with an async driver",
    "sqlalchemy.engine.create_engine": "use `create_async_engine` with an async driver",
    "sqlmodel.create_engine": "use `create_async_engine` with an async driver",
    "sqlalchemy.orm.Session": "use `AsyncSession` (sqlalchemy.ext.asyncio)",
    "sqlalchemy.orm.session.Session": "use `AsyncSession` (sqlalchemy.ext.asyncio)",
    "sqlmodel.Session": "use `AsyncSession` (sqlmodel.ext.asyncio.session)",
}
#: Functions of ``requests`` (and methods of a ``requests.Session``) that do I/O.
REQUESTS_VERBS = frozenset({"get", "post", "put", "patch", "delete", "head", "options", "request"})
#: Module-level HTTP functions that block: requests', and httpx's synchronous ones.
_REQUESTS_FUNCTIONS = frozenset(
    (module, verb) for module in ("requests", "requests.api", "httpx") for verb in REQUESTS_VERBS
)
REQUESTS_SESSIONS = frozenset({"requests.Session", "requests.session", "requests.sessions.Session"})
#: Methods of a sync ``Session`` that talk to the database (``query`` builds the query
#: its chain runs at once: ``session.query(User).all()``).
SYNC_SESSION_IO = frozenset(
    {"execute", "scalar", "scalars", "commit", "flush", "refresh", "get", "get_one",
     "merge", "rollback", "connection", "query"}
)  # fmt: skip
SYNC_SESSION_ADVICE = (
    "use an `AsyncSession` (`sqlalchemy.ext.asyncio`) and `await`, or make this a plain "
    "`def` (FastAPI runs those in a thread pool)"
)
OPEN_ADVICE = "use `aiofiles.open` / `anyio.open_file`, or `asyncio.to_thread`"
#: Methods of a ``pathlib.Path`` that do blocking file I/O.
PATH_IO_METHODS = frozenset({"open", "read_text", "write_text", "read_bytes", "write_bytes"})
PATH_TYPES = frozenset(
    {"pathlib.Path", "pathlib.PosixPath", "pathlib.WindowsPath", "pathlib.PurePath"}
)
_PATH_ADVICE = "use `anyio.Path` (its methods are awaitable), or `asyncio.to_thread`"
_INDENTED_IMPORT = re.compile(rb"\n[ \t]+(?:import|from)[ \t]")
#: The last part of every name above: a call spelled otherwise can only be one of them
#: through an import that renames it (checked separately), so it needs no resolving.
_LEAVES = frozenset(
    {name.rsplit(".", 1)[-1] for name in BLOCKING_CALLS}
    | REQUESTS_VERBS
    | PATH_IO_METHODS
    | {"sleep"}
)


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

    @classmethod
    def candidate(cls, gate: Rule.Gate) -> bool:
        # A call in an `async def`: a blocking callee through any import, a method of a
        # sync session or a requests session bound there, or pathlib file I/O.
        blocking = {*BLOCKING_CALLS, "time.sleep", "open", "io.open", "builtins.open"}
        blocking |= {f"{module}.{verb}" for module, verb in _REQUESTS_FUNCTIONS}
        requests_session = gate.may_call(REQUESTS_SESSIONS)
        return any(
            (c.attribute and c.leaf in PATH_IO_METHODS)
            or (c.name is not None and any(q in blocking for q in gate.qualified(c.name)))
            or (c.leaf in REQUESTS_VERBS and c.receiver is not None and requests_session)
            or (
                c.leaf in SYNC_SESSION_IO
                and not c.awaited
                and c.receiver is not None
                and "." not in c.receiver
                and gate.may_hold_session(
                    c.frame, c.receiver, own=True, fallback=False, scoped=False
                )
            )
            for c in gate.calls
            if c.frame is not None and c.frame.kind == "async"
        )

    def visit_Call(self, node: cst.Call) -> None:
        if not self.in_async_function():
            return
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in SYNC_SESSION_IO:
            receiver = dotted_name(node.func.value)
            func = self.enclosing_function()
            awaited = isinstance(self.ancestors[-1], cst.Await)  # then it is no sync Session
            if receiver is not None and func is not None and not awaited:
                if receiver in sync_session_names(func, self.context):
                    self.report(
                        node,
                        f"`{receiver}.{node.func.attr.value}()` on a sync SQLAlchemy `Session` "
                        f"blocks the event loop inside `async def`; {SYNC_SESSION_ADVICE}",
                    )
                    return
        func = node.func
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value in PATH_IO_METHODS
            and self._is_path_io(node)
        ):
            shown = f"{dotted_name(func.value) or 'Path(...)'}.{func.attr.value}"
            self.report(
                node, f"`{shown}()` does blocking file I/O on the event loop; {_PATH_ADVICE}"
            )
            return
        name = dotted_name(func)
        if name is None or not self._could_block(name):
            return
        if self._is_requests_session_call(node):
            self.report(node, f"`{name}()` is a blocking HTTP call; {_HTTP}")
            return
        qualified = self._resolve(name)
        if qualified is None:
            return  # a parameter or local, not the import or builtin it resembles
        if qualified == "time.sleep":
            self.report(
                node,
                f"`{name}()` blocks the event loop inside `async def`; use `await asyncio.sleep()`",
                fix=self._sleep_fix(node),
            )
        elif qualified == "open":
            self.report(node, f"`open()` does blocking file I/O on the event loop; {OPEN_ADVICE}")
        elif qualified in ("io.open", "builtins.open"):
            self.report(node, f"`{name}()` does blocking file I/O on the event loop; {OPEN_ADVICE}")
        elif qualified in BLOCKING_CALLS:
            self.report(node, f"`{name}()` blocks the event loop; {BLOCKING_CALLS[qualified]}")
        elif qualified.rpartition(".")[::2] in _REQUESTS_FUNCTIONS:
            self.report(node, f"`{name}()` is a blocking HTTP call; {_HTTP}")

    def _could_block(self, name: str) -> bool:
        """A cheap first look: resolving every call of every coroutine costs more than
        all the rest of this rule."""
        if name.rsplit(".", 1)[-1] in _LEAVES:
            return True
        head = name.partition(".")[0]
        if head in self._renamed():
            return True
        if not _INDENTED_IMPORT.search(self.context.source):
            return False  # no function-level import could have renamed it
        return any(
            isinstance(node, cst.FunctionDef) and self.semantic.function_imports(node)
            for node in self.ancestors
        )

    def _renamed(self) -> frozenset[str]:
        """Module-level import names that do not end like what they import
        (``from time import sleep as pause``, ``import subprocess as sp``)."""
        cached = self.context.semantic.memo.get("AM205.renamed")
        if cached is None:
            cached = frozenset(
                local
                for local, target in self.semantic.imports.items()
                if target.rsplit(".", 1)[-1] != local
            )
            self.context.semantic.memo["AM205.renamed"] = cached
        return cached

    def _resolve(self, name: str) -> str | None:
        """``name`` with its head resolved through the imports of the enclosing
        functions (innermost first), then the module's; None when a parameter or
        local variable of an enclosing function holds the head instead."""
        head, _, rest = name.partition(".")
        for ancestor in reversed(self.ancestors):
            if not isinstance(ancestor, cst.FunctionDef):
                continue
            key = ("AM205.scope", id(ancestor))
            scope = self.context.semantic.memo.get(key)
            if scope is None:
                scope = (
                    self.semantic.function_imports(ancestor),
                    self.semantic.local_names(ancestor),
                )
                self.context.semantic.memo[key] = scope
            local = scope[0].get(head)
            if local is not None:
                return f"{local}.{rest}" if rest else local
            if head in scope[1]:
                return None
        if self.semantic.is_shadowed(head, self.ancestors):
            return None
        target = self.semantic.imports.get(head)
        if target is None:
            return name
        return f"{target}.{rest}" if rest else target

    def _is_path_io(self, node: cst.Call) -> bool:
        """``p.read_text()`` / ``Path(x).open()`` where ``p`` is a ``pathlib.Path`` by its
        annotation or the call that made it (not a method of any object so named)."""
        func = node.func
        assert isinstance(func, cst.Attribute)
        receiver = func.value
        if isinstance(receiver, cst.Call):
            return self.semantic.resolve(receiver.func) in PATH_TYPES
        name = dotted_name(receiver)
        return name is not None and self.semantic.binding_kind(name, self.ancestors) in PATH_TYPES

    def _is_requests_session_call(self, node: cst.Call) -> bool:
        """``s.get(...)`` where ``s`` was bound to ``requests.Session()`` in this function."""
        func = node.func
        if not (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.attr.value in REQUESTS_VERBS
        ):
            return False
        enclosing = self.enclosing_function()
        return enclosing is not None and func.value.value in self._sessions(enclosing)

    def _sessions(self, func: cst.FunctionDef) -> frozenset[str]:
        """Names bound to ``requests.Session()`` in ``func`` (assignment or ``with``)."""
        key = ("AM205.requests_sessions", id(func))
        cached = self.context.semantic.memo.get(key)
        if cached is not None:
            return cached
        found: set[str] = set()
        for stmt in self.semantic.descendants(func.body):
            pairs: list[tuple[cst.BaseExpression, cst.BaseExpression]] = []
            if isinstance(stmt, cst.Assign):
                pairs = [(t.target, stmt.value) for t in stmt.targets]
            elif isinstance(stmt, cst.WithItem) and stmt.asname is not None:
                pairs = [(stmt.asname.name, stmt.item)]
            for target, value in pairs:
                if (
                    isinstance(target, cst.Name)
                    and isinstance(value, cst.Call)
                    and self.semantic.resolve(value.func) in REQUESTS_SESSIONS
                ):
                    found.add(target.value)
        result = frozenset(found)
        self.context.semantic.memo[key] = result
        return result

    def _sleep_fix(self, node: cst.Call) -> Fix | None:
        """``await asyncio.sleep(...)``, unless ``await`` would change what the code
        means there (a generator expression becomes an async generator) or ``asyncio``
        means something else in this module."""
        for ancestor in reversed(self.ancestors):
            if isinstance(ancestor, cst.FunctionDef):
                break
            if isinstance(ancestor, cst.GeneratorExp):
                return None
        if self.semantic.imports.get(
            "asyncio", "asyncio"
        ) != "asyncio" or self.semantic.is_shadowed("asyncio", self.ancestors):
            return None
        sleep = cst.Attribute(value=cst.Name("asyncio"), attr=cst.Name("sleep"))
        awaited: cst.BaseExpression = cst.Await(expression=node.with_changes(func=sleep))
        parent = self.ancestors[-1]
        if (isinstance(parent, (cst.Attribute, cst.Subscript)) and parent.value is node) or (
            isinstance(parent, cst.Call) and parent.func is node
        ):
            # `time.sleep(1).x` must stay `(await asyncio.sleep(1)).x`.
            awaited = awaited.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        head = (dotted_name(node.func) or "").partition(".")[0]
        return Fix(
            "Use `await asyncio.sleep()`",
            Applicability.SAFE,
            replacements=[(node, awaited)],
            imports=[ImportSpec("asyncio")],
            # `import time` / `from time import sleep` may now be unused.
            maybe_unused=[head] if head and head != "asyncio" else [],
        )
