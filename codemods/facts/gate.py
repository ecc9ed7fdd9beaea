"""The candidate gate's facts: one stdlib ``ast`` walk per file, asked by every rule's
``candidate`` test before the file is parsed with libcst (about 9x the cost of ``ast``).

A rule's ``candidate(gate)`` must be exact or over-approximate: whenever the rule can
report something in a file, it answers True (``tests/test_gate.py`` and
``bench/gate_check.py`` compare findings with and without the gate). The facts here are
therefore deliberately coarse: which calls occur in which kind of function, which names
a function binds, what the file imports, which words it uses as identifiers. A question
two rules ask lives here once (flake8-async's utility visitors).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from itertools import accumulate
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from asyncmend.codemods.facts.base import dotted, walk
from asyncmend.codemods.facts.gate_index import GateIndex, Place
from asyncmend.codemods.facts.locks import ROW_EXECUTE_METHODS, ROW_GET_METHODS

if TYPE_CHECKING:
    from asyncmend.engine.config import Config
    from asyncmend.engine.index import RepoIndex

#: Values whose name cannot hold a session or any other object a rule asks about.
_LITERALS = (
    ast.Constant, ast.Dict, ast.List, ast.Set, ast.Tuple, ast.JoinedStr,
    ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
)  # fmt: skip
#: Words whose use as a name or attribute can make a name an AsyncSession (or a sync one).
_SESSION_WORDS = frozenset(
    {"AsyncSession", "async_sessionmaker", "sessionmaker", "Session", "async_scoped_session",
     "scoped_session", "AsyncEngine", "create_async_engine"}
)  # fmt: skip
#: Pass-1 facts of a module that make what it exports a session, a session factory or a
#: session dependency.
_SESSION_FACTS = (
    "sessionmakers", "session_aliases", "session_dependencies", "sync_session_dependencies", "session_returners",
    "scoped_sessions", "sync_session_aliases", "session_alias_depends", "dependency_factories",
    "alias_dependencies", "sessionmaker_calls", "async_engines", "type_aliases",
)  # fmt: skip


#: How a name got its value: ("typed", *names) an annotated parameter or assignment
#: (every dotted name its annotation mentions), always followed by ("heads", *names)
#: (only those the session readings judge it by: ``_heads``); ("call", callee) ``x = f()`` /
#: ``with f() as x``; ("await", callee) ``x = await f()``; ("depends", callee, *names) a
#: parameter defaulted to a call, with the dotted names passed to it
#: (``Depends(get_session)``); ("other",) anything else but a literal. The callee is the
#: dotted name, None for a call of a call (``get_maker()()``), "" for any other.
Source = tuple[str | None, ...]

#: A callee as the gate keeps it: its dotted name (None unless a Name/Attribute chain),
#: the name or attribute called, whether it is an attribute (``x.f``).
Callee = tuple[str | None, str | None, bool]


@dataclass(eq=False, slots=True)
class ClassInfo:
    """One class: how its attributes got their values (class-level annotations and
    ``self.x = ...`` in its methods), for ``self.<attr>`` sessions."""

    attributes: dict[str, list[tuple[Frame | None, Source]]] = field(default_factory=dict)


@dataclass(eq=False, slots=True)
class Frame:
    """One function (or lambda) of the file."""

    kind: str  # "async", "sync" or "lambda"
    parent: Frame | None
    #: Every name bound in its own scope (parameters, assignments, targets, imports).
    bound: set[str] = field(default_factory=set)
    params: set[str] = field(default_factory=set)
    #: The first parameter of a function defined in a class body (``self``).
    receiver: str | None = None
    owner: ClassInfo | None = None
    #: How each plain name was bound (see ``Source``); literals leave no source.
    sources: dict[str, list[Source]] = field(default_factory=dict)
    #: Parameters with an annotation or a default (``Depends``, ``AsyncSession``).
    typed_params: bool = False
    #: Callees of ``name = call(...)`` statements of its own scope.
    assigned_calls: list[str | None] = field(default_factory=list)
    #: Base names of attribute or subscript targets it assigns (``app.state.x = ...``).
    store_bases: list[str] = field(default_factory=list)
    #: Names its statements bind as locals: plain ``name = ...`` / ``name: T = ...``,
    #: ``for`` and ``with ... as`` targets, ``except ... as`` names.
    assigned: set[str] = field(default_factory=set)
    #: Configured session names (``session-names``) it or a nested function mentions.
    mentions: set[str] = field(default_factory=set)
    #: It declares ``global`` or ``nonlocal`` names.
    declares: bool = False
    #: The attributes its decorators end in (``@router.get(...)``: ``get``).
    decorators: tuple[str, ...] = ()
    #: Two adjacent ``name = await call(...)`` statements in one block.
    adjacent_awaits: bool = False
    #: Its ``def`` (None for a lambda), for a candidate test that reads its body again
    #: (``GateFacts.read_again``, AM103).
    node: ast.FunctionDef | ast.AsyncFunctionDef | None = None

    def surely_local(self, name: str) -> bool:
        """``name`` is a local of this function by every reading (a parameter, or a
        plain assignment target in a function without ``global``/``nonlocal``)."""
        return not self.declares and (name in self.params or name in self.assigned)

    def chain(self) -> Iterator[Frame]:
        frame: Frame | None = self
        while frame is not None:
            yield frame
            frame = frame.parent


@dataclass(eq=False, slots=True)
class CallSite:
    #: ``a.b.c`` for a Name/Attribute chain callee, else None.
    name: str | None
    #: The attribute or name called (``c``), else None.
    leaf: str | None
    #: ``a.b`` for ``a.b.c(...)`` when it is a dotted name, else None.
    receiver: str | None
    awaited: bool
    #: The innermost function or lambda around the call (None at module level).
    frame: Frame | None
    #: A class body lies between the call and ``frame`` (or there is no frame).
    class_direct: bool
    nargs: int
    #: The callee is an attribute (``x.f(...)``, ``Path(p).open()``).
    attribute: bool
    #: Its value is handed to other code: an argument, an element, returned, yielded,
    #: a ``with`` item, a lambda's body... (AM204's ``HANDED_OVER``).
    handed: bool
    #: It lies in a function's header (decorators, defaults, annotations), which runs
    #: where the ``def`` is, not in the body; ``frame`` is still that function's.
    in_header: bool = False
    #: Its value is dropped (AM203's positions): an expression statement, an element of
    #: a display that is one, the test of ``x if call else y``, or (asked only of calls
    #: named like ``_SPAWNERS``) the value of ``name = call`` in a function whose body
    #: mentions ``name`` nowhere else.
    dropped: bool = False
    #: The handlers not ending with ``raise`` (AM301's swallowing ones) of the ``try``
    #: statements of its own function whose body holds it, less those of the ``try``
    #: statements around a ``with`` that closes or ends a transaction of its receiver
    #: (``with ... as receiver``, ``with receiver.begin()``: AM301's ``_failing_calls``
    #: skips such a block, and only a call on a session counts).
    guarded: tuple[Handler, ...] = ()
    #: ``name = call(...)`` (or ``name: T = call(...)``) in a function: the name.
    stored: str | None = None


@dataclass(eq=False)
class Handler:
    """An ``except`` clause around a call (``CallSite.guarded``)."""

    #: The dotted names of the classes it catches, None for a bare ``except:``.
    caught: tuple[str, ...] | None
    node: ast.ExceptHandler
    #: The ``finally`` block of its ``try`` (empty when none).
    finalbody: list[ast.stmt] = field(default_factory=list)

    @cached_property
    def method_calls(self) -> frozenset[tuple[str, str]]:
        """``(receiver, method)`` of the ``receiver.method(...)`` calls of its body and
        of its ``try``'s ``finally`` block (AM301: either rolling the session back
        recovers), not in nested functions, lambdas or classes (``own_scope``)."""
        found: set[tuple[str, str]] = set()
        stack: list[ast.AST] = [*self.node.body, *self.finalbody]
        while stack:
            node = stack.pop()
            if isinstance(node, _NESTED_SCOPES):
                continue
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                receiver = dotted(node.func.value)
                if receiver is not None:
                    found.add((receiver, node.func.attr))
            stack.extend(ast.iter_child_nodes(node))
        return frozenset(found)


_NESTED_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


class GateFacts:
    """What the rules' candidate tests read about one file (built by ``gate_facts``)."""

    Frame: TypeAlias = Frame
    CallSite: TypeAlias = CallSite

    def __init__(
        self,
        path: str,
        source: bytes,
        module_name: str | None,
        index: GateIndex | None,
        config: Config | None,
    ) -> None:
        self.path = path
        self.source = source
        self.module_name = module_name
        #: Every question about the repo goes through it (None: no repo index).
        self.index = index
        self.config = config
        self.identifiers: set[str] = set()
        #: Every import of the file (module level and inside functions): local -> targets.
        self.imports: dict[str, set[str]] = {}
        self.star_modules: set[str] = set()
        self.calls: list[CallSite] = []
        self.frames: list[Frame] = []
        #: ``targets = call(...)`` anywhere: (dotted targets, callee, outside functions).
        self.assigned_calls: list[tuple[list[str], str | None, bool]] = []
        self.has_global = False
        #: Names assigned outside functions (type aliases among them).
        self.module_names: set[str] = set()
        #: Names a ``with ... as`` or ``:=`` binds outside functions.
        self.module_targets: set[str] = set()
        #: ``async with`` items directly in a function: (frame, item kind, callee), the
        #: kind "call" (``f()``), "name" (``session``: the callee is the name) or "other".
        self.async_withs: list[tuple[Frame, str, str | None]] = []
        #: The ``async_withs`` entries whose closed name (``as name``, or the item
        #: ``name`` itself) is written after the block in its function (AM104).
        self.reused_withs: list[tuple[Frame, str, str | None]] = []
        #: The module body's own ``async def`` names (``local_async_defs``), less those
        #: a plain ``def`` there rebinds and the undecorated ones that yield (async
        #: generators).
        self.module_async_defs: set[str] = set()
        #: The module body's own ``def`` and ``async def`` statements by name.
        self.module_defs: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        #: ``Name = X[...]`` outside functions (type aliases: ``SessionDep =
        #: Annotated[AsyncSession, Depends(get_session)]``) -> the names its value mentions.
        self.subscript_aliases: dict[str, list[str]] = {}
        #: Calls named ``gather`` two of whose positional arguments use one name
        #: (AM201: a session shared by two awaitables), with the names shared.
        self.shared_gathers: list[tuple[CallSite, frozenset[str]]] = []
        #: Awaits that may take a row lock (AM501's ``row_lock``, blocking or not):
        #: their function and the call's dotted receiver (the session).
        self.row_locks: list[tuple[Frame, str]] = []
        #: Two adjacent ``name = await call(...)`` statements of one block in a function
        #: (AM202): the function and the two callees.
        self.adjacent_awaits: list[tuple[Frame, Callee, Callee]] = []
        #: ``read_again``'s answers, by (function, name).
        self._read_again: dict[tuple[int, str], bool] = {}
        #: Codes of the rules selected for the file (set by the engine).
        self.selected_codes: tuple[str, ...] = ()

    # -- questions the rules ask -----------------------------------------------------

    @property
    def settings(self) -> dict[str, Any]:
        return self.config.settings if self.config is not None else {}

    def qualified(self, name: str) -> Iterator[str]:
        """What a dotted name can resolve to: itself, or through any import of its head."""
        yield name
        head, _, rest = name.partition(".")
        for target in self.imports.get(head, ()):
            yield f"{target}.{rest}" if rest else target

    def may_call(self, qualified: Iterable[str], calls: Iterable[CallSite] | None = None) -> bool:
        """Some call (of ``calls``, default all) whose callee may resolve to one of
        ``qualified`` (``a.b.f``): by its own name or through an import of its head
        (renamed imports included)."""
        wanted = frozenset(qualified)
        leaves = {name.rsplit(".", 1)[-1] for name in wanted}
        return any(
            call.name is not None
            and (call.leaf in leaves or call.name.partition(".")[0] in self.imports)
            and any(q in wanted for q in self.qualified(call.name))
            for call in (self.calls if calls is None else calls)
        )

    def calls_leaf(self, leaves: Iterable[str], *, dropped: bool = False) -> bool:
        """Some call (with ``dropped``: whose value is dropped, ``CallSite.dropped``)
        whose last name part is one of ``leaves``, or some import renames a name ending
        so (the call may use the new name)."""
        wanted = frozenset(leaves)
        if self.renames_leaf(wanted):
            return True
        return any(call.leaf in wanted and (call.dropped or not dropped) for call in self.calls)

    def renames_leaf(self, leaves: frozenset[str]) -> bool:
        """Some import binds a name ending in one of ``leaves`` under another name."""
        return any(
            target.rsplit(".", 1)[-1] in leaves and local != target.rsplit(".", 1)[-1]
            for local, targets in self.imports.items()
            for target in targets
        )

    def may_miss_await(self, session_methods: frozenset[str]) -> bool:
        """Some call in a function, not directly under ``await`` nor handed over (nor
        iterated by ``async for``, nor stored anywhere but in a name not read again),
        may return a coroutine: a session coroutine method on a name that may hold a
        session, ``asyncio.sleep``, a module-level ``async def`` of this file, or
        (through an import) an ``async def`` of the repo."""
        imports = self.imports
        coroutine: dict[str, bool] = {}  # callees through an import: may be a coroutine
        for call in self.calls:
            frame = call.frame
            name = call.name
            if call.awaited or call.handed or name is None or frame is None:
                continue
            if frame.kind == "lambda" or call.class_direct:
                continue
            if (
                call.receiver is not None
                and call.leaf in session_methods
                and self.may_hold_session(
                    frame, call.receiver, fallback=frame.kind == "async", sync=False, heads=True
                )
            ) or ("." not in name and name in self.module_async_defs):
                may = True
            elif name.partition(".")[0] not in imports:
                # Only the name itself: no import can make it anything else.
                may = name == "asyncio.sleep"
            else:
                may = coroutine.get(name)
                if may is None:
                    may = coroutine[name] = any(
                        qualified == "asyncio.sleep"
                        or self.index is None
                        or self.index.is_coroutine_function(qualified)
                        for qualified in self.qualified(name)
                    )
            # `x = f()` then `await x`, `gather(x)`...: `_check_assignment` says nothing.
            if may and (call.stored is None or not self.read_again(frame, call.stored)):
                return True
        return False

    def read_again(self, frame: Frame, name: str) -> bool:
        """``name`` is read in the body of ``frame``'s ``def`` other than as the object
        of an attribute (``x.y``): AM204 then says nothing of ``name = coroutine()``."""
        key = (id(frame), name)
        found = self._read_again.get(key)
        if found is None:
            node = frame.node
            found = self._read_again[key] = node is not None and _read_again(node.body, name)
        return found

    def receiver_kinds(self, frame: Frame, receiver: str) -> set[str] | None:
        """What ``SemanticModel.binding_kind`` may answer for the dotted ``receiver``
        read in ``frame``: the qualified annotations and callees of its bindings in the
        functions around it (an empty set: surely no kind), or None when it may be bound
        where the gate does not follow (``self.<attr>``, outside functions)."""
        if "." in receiver:
            return None if receiver.startswith("self.") else set()
        if (
            receiver in self.module_names
            or receiver in self.module_targets
            or receiver in self.imports
        ):
            return None
        kinds: set[str] = set()
        for scope in frame.chain():
            for source in scope.sources.get(receiver, ()):
                if source[0] == "heads":  # the annotation itself, when a dotted name
                    names = source[1:]
                elif source[0] in ("call", "depends") and source[1]:
                    names = source[1:2]
                else:
                    continue  # awaited, a name, a literal...: no kind
                for name in names:
                    kinds.update(self.qualified(str(name)))
        return kinds

    def may_hold_session(
        self,
        frame: Frame,
        receiver: str,
        *,
        own: bool = False,
        fallback: bool = True,
        scoped: bool = True,
        sync: bool = True,
        heads: bool = False,
    ) -> bool:
        """``receiver`` (``session``, ``self.db``) may be a session (async or sync) in
        ``frame``: bound there (or, unless ``own``, in an enclosing function) by a
        parameter annotated or defaulted (``Depends``) as one, an annotation, a call
        that may give one; ``self.<attr>`` in a method; with ``fallback``, a configured
        session name in a module importing sqlalchemy; with ``scoped``, a scoped
        session of the module. With ``heads``, an annotation counts only by the names
        the session readings judge it by (``_heads``: not ``dict[str, Session]``)."""
        if not self.may_have_sessions:
            return False
        head, dot, rest = receiver.partition(".")
        if dot:
            if head != frame.receiver or frame.owner is None or "." in rest:
                return False
            return any(
                self._source_may_hold(source, where or frame, sync, heads)
                for where, source in frame.owner.attributes.get(rest, ())
            )
        if fallback and head in self.settings.get("session-names", ()) and self.imports_sqlalchemy:
            return True
        if scoped and head in self.scoped_session_names:
            return True
        return any(
            source[0] != "name" and self._source_may_hold(source, frame, sync, heads)
            for scope in ([frame] if own else frame.chain())
            for source in scope.sources.get(head, ())
        )

    def _source_may_hold(
        self, source: Source, frame: Frame, sync: bool, heads: bool = False
    ) -> bool:
        kind = source[0]
        if kind == "depends":
            return True
        if kind == ("heads" if heads else "typed"):  # the other one says the same or less
            return self.may_name_session(source[1:], sync=sync)
        if kind in ("call", "await"):
            return self.may_give_session(source[1])
        if kind == "name":  # `self.x = session`
            return self.may_hold_session(frame, str(source[1]), sync=sync, heads=heads)
        return False  # `_holds_session`: anything else is no session

    @cached_property
    def scoped_session_names(self) -> frozenset[str]:
        """Names of module-level scoped sessions this file binds or imports."""
        index = self.index
        if index is None:
            return frozenset(self.identifiers)
        found = set(index.entries(None, "scoped_sessions"))
        for local, targets in self.imports.items():
            for target in targets:
                if index.resolved_in(target, "scoped_sessions"):
                    found.add(local)
        return frozenset(found)

    def frame_may_have_session(self, frame: Frame, *, sync: bool = False) -> bool:
        """Some name in ``frame`` may hold a session: a method's ``self.<attr>``, a
        configured session name the file uses, a scoped session, or a name bound in it
        or an enclosing function that ``may_hold_session``."""
        if not self.may_have_sessions:
            return False
        if self.scoped_session_names & self.identifiers:
            return True
        if frame.owner is not None and any(
            self._source_may_hold(source, where or frame, sync)
            for sources in frame.owner.attributes.values()
            for where, source in sources
        ):
            return True
        if self.imports_sqlalchemy and frame.mentions:
            return True
        return any(
            self.may_hold_session(frame, name, fallback=False, scoped=False, sync=sync)
            for scope in frame.chain()
            for name in scope.sources
        )

    def awaits_session_method(self, methods: Iterable[str], *, in_try: bool = False) -> bool:
        """Some ``await <x>.<method>(...)`` in the own scope of an ``async def`` whose
        names may hold a session (with ``in_try``: in the body of a ``try`` of that
        function with a handler not ending with ``raise``): what the commit-reading
        rules start from (nested scopes have flows of their own)."""
        return any(True for _ in self.awaited_session_calls(methods, in_try=in_try))

    def awaited_session_calls(
        self, methods: Iterable[str], *, in_try: bool = False
    ) -> Iterator[CallSite]:
        """The calls ``awaits_session_method`` looks for (with ``in_try``: in the body of
        a ``try`` of their function with a handler not ending with ``raise``)."""
        wanted = frozenset(methods)
        return (
            c
            for c in self.calls
            if c.leaf in wanted
            and c.awaited
            and c.receiver is not None
            and c.frame is not None
            and c.frame.kind == "async"
            and (bool(c.guarded) or not in_try)
            and self.frame_may_have_session(c.frame)
        )

    def commits_after_use(self, uses: Iterable[str]) -> bool:
        """An awaited commit (``awaited_session_calls``) whose receiver, in the same
        function, also receives a call of one of ``uses`` (``session.add(x)``, ``await
        session.get(M, k)``): AM303 reads only objects loaded or added through the
        session it commits."""
        wanted = frozenset(uses)
        used = {
            (id(c.frame), c.receiver)
            for c in self.calls
            if c.leaf in wanted and c.receiver is not None and c.frame is not None
        }
        return any(
            (id(c.frame), c.receiver) in used for c in self.awaited_session_calls(("commit",))
        )

    def may_expire_on_commit(self) -> bool:
        """Some session of this file may expire its objects on commit
        (``flow.session_expires_on_commit``): the repo's answer for sessions of unknown
        factory, an async sessionmaker of the repo that keeps the default (a session
        bound to one, or yielded by a dependency on one), or an ``AsyncSession(...)``
        call here (which keeps it unless told otherwise)."""
        if self.index is None or self.index.repo_may_expire_on_commit():
            return True
        return self.calls_leaf(("AsyncSession",))

    def request_session_params(self, frame: Frame) -> set[str]:
        """The parameters of ``frame`` that may be a request's session (AM103's
        ``_request_sessions``): they carry a ``Depends`` (a default called
        ``Depends(...)``, which ``depends_call`` goes by, or an annotation that
        ``may_name_depends``) and may hold an AsyncSession (``session_names``: an
        annotation or a ``Depends`` target that ``may_name_async_session``, a configured
        session name left unannotated in a module importing sqlalchemy, or a name the
        function binds again)."""
        found = set()
        configured = self.settings.get("session-names", ())
        for name in frame.params:
            sources = frame.sources.get(name, ())
            typed = [source[1:] for source in sources if source[0] == "typed"]
            depends = [
                source[2:]
                for source in sources
                if source[0] == "depends" and (source[1] or "").rsplit(".", 1)[-1] == "Depends"
            ]
            if not depends and not any(self.may_name_depends(names) for names in typed):
                continue
            if (
                name in frame.assigned
                or any(source[0] == "other" for source in sources)
                or any(self.may_name_async_session(names) for names in [*typed, *depends])
                or (not typed and name in configured and self.imports_sqlalchemy)
            ):
                found.add(name)
        return found

    def may_name_depends(self, names: Iterable[str | None]) -> bool:
        """An annotation mentioning ``names`` may carry a ``Depends(...)``: it mentions
        one (``Annotated[T, Depends(dep)]``), a module-level subscript alias whose value
        does (``_local_aliases``), a name some star import may bind, or an imported name
        that the repo index knows as a ``session_alias_depends`` alias."""
        for name in names:
            if not name:
                continue
            if name.rsplit(".", 1)[-1] == "Depends" or self.star_modules:
                return True
            alias = self.subscript_aliases.get(name)
            if alias is not None and any(n.rsplit(".", 1)[-1] == "Depends" for n in alias):
                return True
            if name.partition(".")[0] not in self.imports:
                continue
            if self.index is None:
                return True
            if any(
                self.index.resolved_in(qualified, "session_alias_depends")
                for qualified in self.qualified(name)
            ):
                return True
        return False

    def may_name_async_session(
        self, names: Iterable[str | None], seen: frozenset[str] = frozenset()
    ) -> bool:
        """An annotation mentioning ``names`` may be an AsyncSession, or a ``Depends``
        naming them may depend on a dependency that yields one (``_annotation_is_session``
        and ``is_session_dependency``): ``AsyncSession``, a ``def`` of this module that
        may yield one (``_yields_session``), a module-level subscript alias whose value may be one, a name some star import may
        bind, or a dotted or imported name that the repo index knows as a session alias
        or a session dependency."""
        for name in names:
            if not name:
                continue
            if name.rsplit(".", 1)[-1] == "AsyncSession" or self.star_modules:
                return True
            if any(_may_yield_session(node) for node in self.module_defs.get(name, ())):
                return True
            alias = self.subscript_aliases.get(name)
            if alias is not None and name not in seen:
                if self.may_name_async_session(alias, seen | {name}):
                    return True
            if "." not in name and name not in self.imports:
                continue
            if self.index is None:
                return True
            for qualified in self.qualified(name):
                if "." in qualified and any(
                    self.index.resolved_in(qualified, fact)
                    for fact in ("session_aliases", "session_dependencies")
                ):
                    return True
        return False

    @cached_property
    def imports_sqlalchemy(self) -> bool:
        targets = {t for ts in self.imports.values() for t in ts} | self.star_modules
        return any(t.split(".")[0] in ("sqlalchemy", "sqlmodel") for t in targets)

    def may_name_session(self, names: Iterable[str | None], *, sync: bool = True) -> bool:
        """An annotation mentioning ``names`` may be a session type: ``AsyncSession``,
        (with ``sync``) ``Session``, ``Depends``, a module-level alias, or an imported
        name that the repo index knows as a session alias."""
        words = ("AsyncSession", "Session", "Depends") if sync else ("AsyncSession", "Depends")
        aliases = ("session_aliases", "session_alias_depends")
        if sync:
            aliases += ("sync_session_aliases",)
        for name in names:
            if not name:
                continue
            if name.rsplit(".", 1)[-1] in words:
                return True
            if name in self.module_names:
                return True
            if name.partition(".")[0] not in self.imports:
                continue
            if self.index is None:
                return True
            for qualified in self.qualified(name):
                if any(self.index.resolved_in(qualified, key) for key in aliases):
                    return True
        return False

    @cached_property
    def may_have_scoped_sessions(self) -> bool:
        if self.index is not None and self.index.nonempty(None, ("scoped_sessions",)):
            return True
        return bool(self.identifiers & {"scoped_session", "async_scoped_session"}) or any(
            self.index.nonempty(place, ("scoped_sessions",)) for place in self.imported_places
        )

    def may_be_factory(self, callee: str | None, *, sync: bool = True) -> bool:
        """``callee(...)`` may make a new session (``is_session_factory_call``): the
        ``AsyncSession`` class (with ``sync``, or any ``Session`` class), a configured
        factory, a sessionmaker bound in this file or (repo index) imported, or a call
        of a call (``get_maker()()``)."""
        if callee is None:
            return True
        if not callee:
            return False
        names = list(self.qualified(callee))
        classes = ("AsyncSession", "Session") if sync else ("AsyncSession",)
        if any(name.rsplit(".", 1)[-1] in classes for name in names):
            return True
        configured = self.settings.get("session-factories", ())
        if any(name in configured for name in names):
            return True
        if callee in self.sessionmaker_targets:
            return True
        if callee.partition(".")[0] not in self.imports or self.index is None:
            return callee.partition(".")[0] in self.imports
        for name in names:
            module, _, leaf = name.rpartition(".")
            if self.index.contains(("module", module), "sessionmakers", leaf):
                return True
            if self.index.resolved_in(name, "sessionmakers"):
                return True
        return False

    def may_give_session(self, callee: str | None) -> bool:
        """``callee(...)`` (or ``await callee(...)``) may give a session: a factory, or a
        function of that last name that the pass-1 facts of this file or of an imported
        module say returns one (``call_gives_session``)."""
        if self.may_be_factory(callee):
            return True
        if not callee:
            return False
        leaf = callee.rsplit(".", 1)[-1]
        if self.index is None:
            return True
        index = self.index
        places: list[Place] = [None, *self.imported_places]  # this file and its imports
        if callee.partition(".")[0] in self.imports:
            return any(index.ends_in(place, "session_returners", leaf) for place in places)
        if "." in callee:  # `adapter.get_session()`: a method of an imported or made class
            return any(index.ends_in(place, "session_returners", leaf) for place in places) or any(
                index.factory_classes_in(place, "session_returners", leaf) for place in places
            )
        return index.ends_in(None, "session_returners", leaf)

    @cached_property
    def sessionmaker_targets(self) -> frozenset[str]:
        """Dotted names bound anywhere in the file to a sessionmaker call."""
        return frozenset(
            target
            for targets, callee, _ in self.assigned_calls
            if callee is not None
            and any(
                name.rsplit(".", 1)[-1] in ("sessionmaker", "async_sessionmaker")
                for name in self.qualified(callee)
            )
            for target in targets
        )

    @cached_property
    def imported_places(self) -> list[Place]:
        """Where this file may import from: each import's target (the repo index follows
        re-exports; a module it does not hold answers as one without facts)."""
        if self.index is None:
            return []
        targets = {t for ts in self.imports.values() for t in ts} | self.star_modules
        return [("import", target) for target in sorted(targets)]

    @cached_property
    def may_have_sessions(self) -> bool:
        """Over-approximates "some name of this file can be known to hold a session"
        (async or sync): a session word used in code, an import of sqlalchemy or
        sqlmodel, configured session factories or names, an import of a repo module
        whose pass-1 facts define a sessionmaker, session alias or dependency, or a
        factory returning a class with a method that gives a session."""
        if self.identifiers & _SESSION_WORDS:
            return True
        if self.settings.get("session-factories"):
            return True
        targets = {t for ts in self.imports.values() for t in ts} | self.star_modules
        if any(t.split(".")[0] in ("sqlalchemy", "sqlmodel") for t in targets):
            return True
        index = self.index
        if index is None:
            return bool(targets)
        if any(index.nonempty(place, _SESSION_FACTS) for place in self.imported_places):
            return True
        if index.nonempty(None, _SESSION_FACTS):
            return True
        return any(
            index.factory_classes_in(place, "session_returners", None)
            for place in [None, *self.imported_places]
        )

    def directives_may_name(self, codes: Iterable[str]) -> bool:
        """A ``noqa`` comment may name one of ``codes``, or an ``asyncmend:`` one may be
        there (its bare form counts)."""
        lowered = self.source.lower()  # ASCII case, as the regex's (?i) on bytes
        if b"asyncmend" in lowered:
            return True
        if b"noqa" not in lowered:
            return False
        wanted = [code.encode() for code in codes]
        return any(
            any(code in line for code in wanted)
            for line in re.findall(rb"(?i)noqa[^\r\n]*", self.source)
        )


def gate_facts(
    path: str,
    data: bytes,
    *,
    module_name: str | None = None,
    index: RepoIndex | None = None,
    config: Config | None = None,
) -> GateFacts | None:
    """The gate's facts of a file, or None when ``ast`` cannot read it (then every rule
    is a candidate)."""
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    gate_index = GateIndex(index, path) if index is not None else None
    return gate_facts_of(tree, path, data, module_name, gate_index, config)


def gate_facts_of(
    tree: ast.Module,
    path: str,
    data: bytes,
    module_name: str | None,
    index: GateIndex | None,
    config: Config | None,
) -> GateFacts | None:
    """The gate's facts of a file from its ``ast`` tree (``ast.parse(data)``), or None
    when the walk cannot follow its nesting."""
    gate = GateFacts(path, data, module_name, index, config)
    try:
        _Walker(gate).visit(tree)
    except RecursionError:
        return None
    return gate


#: Fields that never hold a node worth visiting (names, flags, the load/store context,
#: the operators of ``BinOp``/``BoolOp``/``UnaryOp``/``Compare``).
_SCALAR_FIELDS = frozenset(
    {"ctx", "id", "attr", "name", "arg", "asname", "module", "level", "is_async", "kind",
     "conversion", "simple", "type_comment", "names", "op", "ops", "kwd_attrs"}
)  # fmt: skip
_BLOCK_FIELDS = frozenset({"body", "orelse", "finalbody"})


# The walk's commonest node types, as module globals (one lookup each in the hot loop).
_NAME, _CONSTANT, _ATTRIBUTE = ast.Name, ast.Constant, ast.Attribute
_KEYWORD, _ARG = ast.keyword, ast.arg


class _ChildFields(dict[type, tuple[str, ...]]):
    """Node type -> the fields that may hold a node to visit (a dict: the hot lookup)."""

    def __missing__(self, kind: type) -> tuple[str, ...]:
        fields = (
            ()
            if kind is ast.Constant
            else tuple(f for f in getattr(kind, "_fields", ()) if f not in _SCALAR_FIELDS)
        )
        self[kind] = fields
        return fields


_child_fields = _ChildFields().__getitem__


class _Walker:
    """The one walk: records calls with their function, bindings per function, imports.

    The walk is the gate's hot loop (a few million nodes on a large repo): ``generic_visit``
    handles the commonest leaves (``Name``, ``Constant``, attribute chains) inline, and
    the ``visit_<Node>`` handlers are looked up in one class-level table (``_DISPATCH``,
    plain functions: no bound methods kept on the walker)."""

    _DISPATCH: ClassVar[dict[type, Callable[[_Walker, Any], None]]]

    def __init__(self, gate: GateFacts) -> None:
        self.gate = gate
        self.frame: Frame | None = None
        self.in_class = False
        #: Inside a function's decorators, defaults or annotations (``CallSite.in_header``).
        self.in_header = False
        self.klass: ClassInfo | None = None
        self.session_names = frozenset(gate.settings.get("session-names", ()))
        #: ids of the nodes directly under ``await``, and of those handed over.
        self.awaited: set[int] = set()
        self.handed: set[int] = set()
        #: ids of calls whose value is dropped (``CallSite.dropped``), and of the values
        #: of ``name = call`` in a function (id -> name), decided when the function ends.
        self.dropped: set[int] = set()
        self.unread: dict[int, str] = {}
        #: The ``name = call`` sites of the current function.
        self.pending: list[tuple[str, CallSite]] = []
        #: The ``async with`` items of the current function: (name closed, where the
        #: block ends, the ``async_withs`` entry).
        self.withs: list[tuple[str, tuple[int, int], tuple[Frame, str, str | None]]] = []
        self._line_starts: list[int] | None = None
        #: Inside the body of a ``try`` of the current function with a handler that
        #: does not end with ``raise``: those handlers (``CallSite.guarded``).
        self.guarded: tuple[Handler, ...] = ()
        #: Receivers whose calls the first ``n`` handlers of ``guarded`` do not guard: a
        #: ``with`` in those ``try`` bodies closes them or ends their transaction
        #: (``CallSite.guarded``).
        self.shielded: dict[str, int] = {}
        self.is_package = gate.path.endswith("__init__.py")
        #: The current function (or lambda) has a ``yield`` of its own; the ids of the
        #: undecorated ``async def``s that do (async generators: no coroutine).
        self.yielded = False
        self.generators: set[int] = set()
        #: ids of the calls of ``name = call(...)`` in a function (``CallSite.stored``).
        self.stored: dict[int, str] = {}

    def visit(self, node: ast.AST) -> None:
        handler = self._DISPATCH.get(type(node))
        if handler is not None:
            handler(self, node)
        else:
            self.generic_visit(node)

    def generic_visit(self, node: ast.AST, fields: tuple[str, ...] | None = None) -> None:
        """Visit the children (of ``fields``, default all) in ``ast``'s order: a
        hand-rolled ``ast.NodeVisitor`` with the leaves inlined."""
        dispatch = self._DISPATCH
        identifiers = self.gate.identifiers
        mentioned = self.session_names
        for name in _child_fields(type(node)) if fields is None else fields:
            value = getattr(node, name, None)
            if type(value) is list:
                if name in _BLOCK_FIELDS and len(value) > 1 and self.frame is not None:
                    self._adjacent_awaits(value)
                items = value
            elif value is None:
                continue
            else:
                items = (value,)
            for item in items:
                kind = type(item)
                if kind is not _NAME:
                    if kind is _CONSTANT:
                        continue
                    if kind is _KEYWORD:  # no handler, one child: visit it here
                        item = item.value
                        kind = type(item)
                    elif kind is _ARG:
                        item = item.annotation
                        kind = type(item)
                    while kind is _ATTRIBUTE:  # visit_Attribute, down the chain
                        identifiers.add(item.attr)
                        item = item.value
                        kind = type(item)
                    if kind is not _NAME:
                        if kind is not _CONSTANT:
                            handler = dispatch.get(kind)
                            if handler is not None:
                                handler(self, item)
                            elif isinstance(item, ast.AST):
                                self.generic_visit(item)
                        continue
                identifiers.add(item.id)
                if mentioned and item.id in mentioned:
                    self._mention(item.id)

    def _visit_field(self, node: ast.AST, name: str) -> None:
        self.generic_visit(node, (name,))

    # -- scopes ------------------------------------------------------------------------

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        kind = (
            "async"
            if isinstance(node, ast.AsyncFunctionDef)
            else "lambda"
            if isinstance(node, ast.Lambda)
            else "sync"
        )
        if not isinstance(node, ast.Lambda):
            self.gate.identifiers.add(node.name)
            if self.frame is not None:
                self.frame.bound.add(node.name)
        frame = Frame(kind, self.frame)
        if not isinstance(node, ast.Lambda):
            frame.node = node
        self.gate.frames.append(frame)
        if not isinstance(node, ast.Lambda) and node.decorator_list:
            frame.decorators = tuple(
                expr.attr
                for decorator in node.decorator_list
                if isinstance(expr := getattr(decorator, "func", decorator), ast.Attribute)
            )
        args = node.args
        positional = [*args.posonlyargs, *args.args]
        tail = positional[len(positional) - len(args.defaults) :]
        defaults = dict(zip([a.arg for a in tail], args.defaults, strict=True))
        defaults |= {
            a.arg: d
            for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
            if d is not None
        }
        defaulted = set(defaults)
        if positional and self.in_class:
            frame.receiver = positional[0].arg
            frame.owner = self.klass
        for arg in [*positional, *args.kwonlyargs, args.vararg, args.kwarg]:
            if arg is not None:
                frame.bound.add(arg.arg)
                frame.params.add(arg.arg)
                if arg.annotation is not None or arg.arg in defaulted:
                    frame.typed_params = True
                if arg.annotation is not None:
                    frame.sources.setdefault(arg.arg, []).extend(_sources(None, arg.annotation))
                if isinstance(default := defaults.get(arg.arg), ast.Call):
                    frame.sources.setdefault(arg.arg, []).append(
                        ("depends", _callee(default), *_argument_names(default))
                    )
        if isinstance(node, ast.Lambda):
            self._hand([node.body])
        saved = self.frame, self.in_class, self.in_header, self.guarded, self.pending, self.withs
        self.frame, self.in_class, self.guarded, self.pending, self.withs = (
            frame, False, (), [], []
        )  # fmt: skip
        shielded, self.shielded = self.shielded, {}
        yielded, self.yielded = self.yielded, False
        for name in _child_fields(type(node)):  # in ast's order: args before the body
            self.in_header = saved[2] or name != "body"
            self._visit_field(node, name)
        if self.yielded and kind == "async" and not node.decorator_list:  # type: ignore[union-attr]
            self.generators.add(id(node))
        self.yielded = yielded
        if self.pending and not isinstance(node, ast.Lambda):
            _mark_unread(node.body, self.pending)
        if self.withs:
            self._reused_withs(node)
        self.frame, self.in_class, self.in_header, self.guarded, self.pending, self.withs = saved
        self.shielded = shielded

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Module(self, node: ast.Module) -> None:
        self.generic_visit(node)
        # `local_async_defs`: the module body's own `async def`s, less those a plain def
        # there rebinds and those that surely return an async generator.
        body = node.body
        plain = {stmt.name for stmt in body if type(stmt) is ast.FunctionDef}
        for stmt in body:
            if type(stmt) is ast.FunctionDef or type(stmt) is ast.AsyncFunctionDef:
                self.gate.module_defs.setdefault(stmt.name, []).append(stmt)
        self.gate.module_async_defs.update(
            stmt.name
            for stmt in body
            if type(stmt) is ast.AsyncFunctionDef
            and stmt.name not in plain
            and id(stmt) not in self.generators
        )

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._hand([*node.bases, *(k.value for k in node.keywords)])
        self.gate.identifiers.add(node.name)
        if self.frame is not None:
            self.frame.bound.add(node.name)
        saved = self.in_class, self.klass
        self.in_class, self.klass = True, ClassInfo()
        self.generic_visit(node)
        self.in_class, self.klass = saved

    # -- statements --------------------------------------------------------------------

    def _adjacent_awaits(self, block: list[ast.stmt]) -> None:
        previous: Callee | None = None
        for stmt in block:
            current = (
                _callee_of(stmt.value.value)
                if type(stmt) is ast.Assign
                and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)
                and isinstance(stmt.value, ast.Await)
                and isinstance(stmt.value.value, ast.Call)
                else None
            )
            if current is not None and previous is not None:
                assert self.frame is not None
                self.frame.adjacent_awaits = True
                self.gate.adjacent_awaits.append((self.frame, previous, current))
            previous = current

    def _bind(
        self, target: ast.AST, value: ast.AST | None, *, typed: ast.expr | None = None
    ) -> None:
        """Record the names ``target`` binds and, for a plain name, where its value
        came from (``value`` None: a loop or ``with`` target of unknown kind)."""
        frame = self.frame
        if frame is None:
            return
        if isinstance(target, ast.Name):
            frame.bound.add(target.id)
            if found := _sources(value, typed):
                frame.sources.setdefault(target.id, []).extend(found)
            return
        for node in walk(target):
            if isinstance(node, ast.Name):
                frame.bound.add(node.id)
                frame.sources.setdefault(node.id, []).append(("other",))

    def _attribute(
        self, receiver: str, attr: str, value: ast.AST | None, typed: ast.expr | None
    ) -> None:
        """``self.attr = value`` anywhere in a method of a class."""
        if self.frame is None:
            return
        for frame in self.frame.chain():
            if frame.receiver == receiver and frame.owner is not None:
                found = [(self.frame, source) for source in _sources(value, typed)]
                if found:
                    frame.owner.attributes.setdefault(attr, []).extend(found)
                return

    def _assignment(
        self, targets: list[ast.expr], value: ast.expr | None, *, typed: ast.expr | None = None
    ) -> None:
        for target in targets:
            self._bind(target, value, typed=typed)
            if self.frame is not None and not self.in_class and isinstance(target, ast.Name):
                self.frame.assigned.add(target.id)
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                self._attribute(target.value.id, target.attr, value, typed)
            if self.frame is not None and isinstance(target, (ast.Attribute, ast.Subscript)):
                base = target.value
                while isinstance(base, (ast.Attribute, ast.Subscript)):
                    base = base.value
                if isinstance(base, ast.Name):
                    self.frame.store_bases.append(base.id)
        if self.frame is None or self.in_class:
            self.gate.module_names.update(t.id for t in targets if isinstance(t, ast.Name))
            if (
                self.frame is None
                and not self.in_class
                and type(value) is ast.Subscript
                and len(targets) == 1
                and type(targets[0]) is ast.Name
            ):
                self.gate.subscript_aliases[targets[0].id] = _names_in(value)
        if self.in_class and self.klass is not None:
            for target in targets:
                if isinstance(target, ast.Name) and (found := _sources(value, typed)):
                    self.klass.attributes.setdefault(target.id, []).extend(
                        (None, source) for source in found
                    )
        if isinstance(value, ast.Call):
            if self.frame is not None:
                # AM204's `_check_assignment`: a value stored anywhere but in one name
                # is handed over; one in a name is judged by its reads (`read_again`).
                if len(targets) == 1 and isinstance(targets[0], ast.Name):
                    self.stored[id(value)] = targets[0].id
                else:
                    self.handed.add(id(value))
            if (
                self.frame is not None
                and len(targets) == 1
                and isinstance(targets[0], ast.Name)
                and _leaf(value.func) in _SPAWNERS
            ):
                self.unread[id(value)] = targets[0].id
            callee = _callee(value)
            names = [name for t in targets if (name := dotted(t)) is not None]
            self.gate.assigned_calls.append((names, callee, self.frame is None or self.in_class))
            if self.frame is not None and len(targets) == 1 and isinstance(targets[0], ast.Name):
                self.frame.assigned_calls.append(callee)

    def visit_Assign(self, node: ast.Assign) -> None:
        self._assignment(node.targets, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._assignment([node.target], node.value, typed=node.annotation)
        else:
            self._bind(node.target, None, typed=node.annotation)
            if self.in_class and self.klass is not None and isinstance(node.target, ast.Name):
                self.klass.attributes.setdefault(node.target.id, []).extend(
                    (None, source) for source in _sources(None, node.annotation)
                )
        self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        value = node.value
        self.dropped.add(id(value))
        if isinstance(value, (ast.List, ast.Tuple, ast.Set)):
            self.dropped.update(id(element) for element in value.elts)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._bind(node.target, node.value)
        if self.frame is None:
            self.gate.module_targets.add(node.target.id)
        self._hand([node.value])
        self.generic_visit(node)

    def _for(self, node: ast.For | ast.AsyncFor) -> None:
        if type(node) is ast.AsyncFor:
            self.handed.add(id(node.iter))  # iterated asynchronously, not awaited
        self._bind(node.target, None)
        self._local(node.target)
        self.generic_visit(node)

    def _local(self, target: ast.AST) -> None:
        """The names a loop or ``with`` target binds are locals of the function."""
        if self.frame is None or self.in_class:
            return
        if isinstance(target, ast.Name):
            self.frame.assigned.add(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._local(element)
        elif isinstance(target, ast.Starred):
            self._local(target.value)

    visit_For = visit_AsyncFor = _for

    def visit_comprehension(self, node: ast.comprehension) -> None:
        if node.is_async:
            self.handed.add(id(node.iter))
        self._bind(node.target, None)
        self.generic_visit(node)

    def _with(self, node: ast.With | ast.AsyncWith) -> None:
        direct = self.frame is not None and self.frame.kind != "lambda" and not self.in_class
        for item in node.items:
            expr = item.context_expr
            self._hand([expr])
            if item.optional_vars is not None:
                self._bind(item.optional_vars, expr)
                if self.frame is None:
                    self.gate.module_targets.update(
                        n.id for n in walk(item.optional_vars) if isinstance(n, ast.Name)
                    )
                self._local(item.optional_vars)
                # `async with maker.begin() as s`: a session of `maker`.
                if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
                    self._bind(item.optional_vars, ast.Call(expr.func.value, [], []))
            if isinstance(node, ast.AsyncWith) and direct:
                assert self.frame is not None
                kind = (
                    "call"
                    if isinstance(expr, ast.Call)
                    else "name"
                    if isinstance(expr, ast.Name)
                    else "other"
                )
                callee = (
                    _callee(expr)
                    if isinstance(expr, ast.Call)
                    else expr.id
                    if isinstance(expr, ast.Name)
                    else ""
                )
                entry = (self.frame, kind, callee)
                self.gate.async_withs.append(entry)
                target = item.optional_vars if item.optional_vars is not None else expr
                if isinstance(target, ast.Name) and node.end_lineno is not None:
                    end = (node.end_lineno, node.end_col_offset or 0)
                    self.withs.append((target.id, end, entry))
        if not self.guarded:
            self.generic_visit(node)
            return
        shielded = self.shielded
        self.shielded = {**shielded, **dict.fromkeys(_closed_by(node), len(self.guarded))}
        self.generic_visit(node)
        self.shielded = shielded

    visit_With = visit_AsyncWith = _with

    def _reused_withs(self, function: ast.AST) -> None:
        """Keep the ``async with`` items of ``function`` whose name occurs in its text
        after the block (AM104 reports a use in a statement that runs after it: that
        statement lies there; comments and strings only make this over-approximate)."""
        source = self.gate.source
        if not _utf8(source):  # columns count bytes of the decoded text
            self.gate.reused_withs.extend(entry for _, _, entry in self.withs)
            return
        stop = self._offset(function.end_lineno, function.end_col_offset)  # type: ignore[attr-defined]
        for name, (line, column), entry in self.withs:
            pattern = rb"(?<!\w)" + re.escape(name.encode()) + rb"(?!\w)"
            if re.compile(pattern).search(source, self._offset(line, column), stop):
                self.gate.reused_withs.append(entry)

    def _offset(self, line: int | None, column: int | None) -> int:
        """The byte offset of an ``ast`` position (1-based line, byte column)."""
        if self._line_starts is None:
            # After each line break (\r\n, \r or \n: the breaks bytes.splitlines knows).
            source = self.gate.source
            starts = [0, *accumulate(map(len, source.splitlines(keepends=True)))]
            if source and not source.endswith((b"\n", b"\r")):
                starts.pop()  # the end of an unterminated last line starts no line
            self._line_starts = starts
        if line is None:
            return len(self.gate.source)
        return self._line_starts[min(line, len(self._line_starts)) - 1] + (column or 0)

    def _try(self, node: ast.Try | ast.TryStar) -> None:
        saved = self.guarded
        self.guarded = saved + tuple(
            Handler(_caught(handler), handler, node.finalbody)
            for handler in node.handlers
            if not (handler.body and isinstance(handler.body[-1], ast.Raise))
        )
        self._visit_field(node, "body")
        self.guarded = saved
        for name in ("handlers", "orelse", "finalbody"):
            self._visit_field(node, name)

    visit_Try = _try
    visit_TryStar = _try

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name and self.frame is not None:
            self.frame.bound.add(node.name)
            if not self.in_class:
                self.frame.assigned.add(node.name)
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        self.gate.has_global = True
        if self.frame is not None:
            self.frame.declares = True

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        if self.frame is not None:
            self.frame.declares = True

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            local = alias.asname or alias.name.split(".")[0]
            self._import(local, alias.name if alias.asname else local)
            if not alias.asname:
                self._import(local, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = self._resolve_from(node)
        for alias in node.names:
            if alias.name == "*":
                self.gate.star_modules.add(base)
                continue
            local = alias.asname or alias.name
            self._import(local, f"{base}.{alias.name}".lstrip("."))
            if node.level:
                # Function-level relative imports resolve to the name itself.
                self._import(local, alias.name)

    def _import(self, local: str, target: str) -> None:
        self.gate.imports.setdefault(local, set()).add(target)
        self.gate.identifiers.add(local)
        self.gate.identifiers.update(target.split("."))
        if self.frame is not None:
            self.frame.bound.add(local)

    def _resolve_from(self, node: ast.ImportFrom) -> str:
        module = node.module or ""
        if not node.level:
            return module
        parts = (self.gate.module_name or "").split(".")
        if not self.is_package:
            parts = parts[:-1]
        if node.level > 1:
            parts = parts[: len(parts) - (node.level - 1)]
        return ".".join(p for p in [*parts, module] if p)

    # -- expressions -------------------------------------------------------------------

    # ``Name`` and ``Attribute`` nodes are read inline by ``generic_visit``.

    def _mention(self, name: str) -> None:
        """A configured session name is used in the current function."""
        if self.frame is not None:
            for frame in self.frame.chain():
                frame.mentions.add(name)

    # Where a call's value goes (AM204's HANDED_OVER and ``await``): marked on the
    # children before they are visited.

    def _hand(self, nodes: Iterable[ast.AST | None]) -> None:
        # The id of a None (a missing part) matches no node: no need to filter it out.
        self.handed.update(map(id, nodes))

    def visit_Await(self, node: ast.Await) -> None:
        self.awaited.add(id(node.value))
        if self.frame is not None and (receiver := _row_lock_receiver(node.value)):
            self.gate.row_locks.append((self.frame, receiver))
        self.generic_visit(node)

    def _hands_value(self, node: ast.Return | ast.Yield | ast.YieldFrom | ast.NamedExpr) -> None:
        self.handed.add(id(node.value))  # the id of a None matches no node
        self.generic_visit(node)

    visit_Return = _hands_value

    def _yield(self, node: ast.Yield | ast.YieldFrom) -> None:
        self.yielded = True
        self._hands_value(node)

    visit_Yield = visit_YieldFrom = _yield

    def _hands_elements(self, node: ast.List | ast.Tuple | ast.Set) -> None:
        self.handed.update(map(id, node.elts))
        self.generic_visit(node)

    visit_List = visit_Tuple = visit_Set = _hands_elements

    def visit_Dict(self, node: ast.Dict) -> None:
        self._hand([*node.keys, *node.values])
        self.generic_visit(node)

    def _hands_element(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp) -> None:
        self.handed.add(id(node.elt))
        self.generic_visit(node)

    visit_ListComp = visit_SetComp = visit_GeneratorExp = _hands_element

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._hand([node.key, node.value])
        self.generic_visit(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._hand([node.test, node.body, node.orelse])
        self.dropped.add(id(node.test))
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self.handed.add(id(node.slice))
        self.generic_visit(node)

    def visit_Slice(self, node: ast.Slice) -> None:
        self._hand([node.lower, node.upper, node.step])
        self.generic_visit(node)

    def visit_Starred(self, node: ast.Starred) -> None:
        if id(node) in self.handed:
            self._hand([node.value])
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        kind = type(func)
        if kind is ast.Attribute:
            leaf: str | None = func.attr
            receiver = _dotted(func.value)
            name = f"{receiver}.{leaf}" if receiver is not None else None
        elif kind is ast.Name:
            leaf = name = func.id
            receiver = None
        else:
            leaf = name = receiver = None
        key = id(node)
        handed = self.handed
        guarded = self.guarded
        if self.shielded and receiver in self.shielded:
            guarded = guarded[self.shielded[receiver] :]
        site = CallSite(
            name,
            leaf,
            receiver,
            key in self.awaited,
            self.frame,
            self.in_class or self.frame is None,
            len(node.args) + len(node.keywords),
            kind is ast.Attribute,
            key in handed,
            self.in_header,
            key in self.dropped,
            guarded,
        )
        handed.update(map(id, node.args))
        for keyword in node.keywords:
            handed.add(id(keyword.value))
        self.gate.calls.append(site)
        if key in self.stored:
            site.stored = self.stored[key]
        if key in self.unread:
            self.pending.append((self.unread[key], site))
        if leaf == "gather" and (shared := _shared_names(node)):
            self.gate.shared_gathers.append((site, shared))
        self.generic_visit(node)


#: Calls whose ``name = call`` is checked for a name never read again (AM203).
_SPAWNERS = frozenset({"create_task", "ensure_future"})


def _dotted(node: ast.AST) -> str | None:
    """``facts.base.dotted`` without recursion (the walk asks it for every call)."""
    parts = []
    while type(node) is ast.Attribute:
        parts.append(node.attr)  # type: ignore[attr-defined]
        node = node.value  # type: ignore[attr-defined]
    if type(node) is not ast.Name:
        return None
    if not parts:
        return node.id  # type: ignore[attr-defined]
    parts.append(node.id)  # type: ignore[attr-defined]
    return ".".join(reversed(parts))


def _may_yield_session(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Over-approximates ``sessions._yields_session``: its return annotation is a
    subscript (``AsyncIterator[AsyncSession]``), or a ``yield`` lies anywhere in it."""
    return type(function.returns) is ast.Subscript or any(
        type(node) is ast.Yield or type(node) is ast.YieldFrom for node in ast.walk(function)
    )


def _closed_by(node: ast.With | ast.AsyncWith) -> Iterator[str]:
    """The names a ``with`` statement closes or ends a transaction of: its plain ``as``
    targets, and ``x`` of its ``x.begin()`` / ``x.begin_nested()`` items."""
    for item in node.items:
        if type(item.optional_vars) is ast.Name:
            yield item.optional_vars.id
        expr = item.context_expr
        if (
            type(expr) is ast.Call
            and type(expr.func) is ast.Attribute
            and expr.func.attr in ("begin", "begin_nested")
            and (name := dotted(expr.func.value)) is not None
        ):
            yield name


def _argument_names(call: ast.Call) -> list[str]:
    """The dotted names passed to ``call`` (positionally, starred or by keyword): what a
    ``Depends(dep)`` default may depend on."""
    values = [a.value if type(a) is ast.Starred else a for a in call.args]
    values += [k.value for k in call.keywords]
    return [name for value in values if (name := dotted(value)) is not None]


def _leaf(func: ast.expr) -> str | None:
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else None


def _callee_of(call: ast.Call) -> Callee:
    func = call.func
    return dotted(func), _leaf(func), isinstance(func, ast.Attribute)


def _caught(handler: ast.ExceptHandler) -> tuple[str, ...] | None:
    """The dotted names of the classes a handler catches; None for a bare ``except:``."""
    if handler.type is None:
        return None
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return tuple(name for expr in types if (name := dotted(expr)) is not None)


def _utf8(source: bytes) -> bool:
    if source.isascii():
        return True
    try:
        source.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _mark_unread(body: list[ast.stmt], pending: list[tuple[str, CallSite]]) -> None:
    """Mark the ``name = call`` sites of a function whose body has no other ``Name`` of
    ``name`` as dropped (AM203 counts libcst's variable names in the body: a superset
    of ``ast``'s ``Name`` nodes, so a name seen twice here is seen twice there)."""
    counts = dict.fromkeys((name for name, _ in pending), 0)
    for stmt in body:
        for node in ast.walk(stmt):
            if type(node) is ast.Name and node.id in counts:
                counts[node.id] += 1
    for name, site in pending:
        if counts[name] <= 1:
            site.dropped = True


def _read_again(body: list[ast.stmt], name: str) -> bool:
    """Some ``Name`` of ``name`` in ``body`` is read other than as the object of an
    attribute (each is a read AM204's ``_check_assignment`` returns at)."""
    receivers: set[int] = set()
    reads = []
    for stmt in body:
        for node in ast.walk(stmt):
            kind = type(node)
            if kind is ast.Attribute and type(node.value) is ast.Name:  # type: ignore[attr-defined]
                receivers.add(id(node.value))  # type: ignore[attr-defined]
            elif kind is ast.Name and node.id == name and type(node.ctx) is ast.Load:  # type: ignore[attr-defined]
                reads.append(node)
    return any(id(node) not in receivers for node in reads)


def _row_lock_receiver(call: ast.expr) -> str | None:
    """The dotted receiver of an awaited call that may take a row lock (over-approximates
    ``semantic.locks.row_lock``): ``s.get(..., with_for_update=...)``, or an
    ``s.execute(...)`` of a statement whose call chain has a ``.with_for_update()``."""
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
        return None
    method = call.func.attr
    if method in ROW_GET_METHODS:
        locks = any(k.arg == "with_for_update" for k in call.keywords)
    elif method in ROW_EXECUTE_METHODS:
        locks = any(_chain_locks(arg) for arg in call.args)
    else:
        return None
    return dotted(call.func.value) if locks else None


def _chain_locks(expr: ast.expr) -> bool:
    if isinstance(expr, ast.Starred):
        expr = expr.value
    while isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
        if expr.func.attr == "with_for_update":
            return True
        expr = expr.func.value
    return False


def _shared_names(call: ast.Call) -> frozenset[str]:
    """The dotted names two positional arguments of ``call`` (a starred comprehension
    counts twice) use as a method call's receiver or as an argument: AM201's
    ``_shared_session`` with any name standing for its sessions."""
    arguments = [(a.value, True) if isinstance(a, ast.Starred) else (a, False) for a in call.args]
    arguments += [(k.value, True) for k in call.keywords if k.arg is None]
    seen: dict[str, int] = {}
    for value, starred in arguments:
        weight = 2 if starred and isinstance(value, _COMPREHENSIONS) else 1
        for name in _used_names(value):
            seen[name] = seen.get(name, 0) + weight
    return frozenset(name for name, count in seen.items() if count >= 2)


_COMPREHENSIONS = (ast.GeneratorExp, ast.ListComp, ast.SetComp)


def _used_names(expression: ast.expr) -> set[str]:
    used: set[str] = set()
    for node in ast.walk(expression):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and (name := dotted(node.func.value)):
            used.add(name)
        for item in [*node.args, *(k.value for k in node.keywords)]:
            if name := dotted(item.value if isinstance(item, ast.Starred) else item):
                used.add(name)
    return used


def _sources(value: ast.AST | None, typed: ast.expr | None = None) -> list[Source]:
    """Where a bound value came from (see ``Source``): an annotation's typed and heads
    sources, and the value's own (``x: T = v`` too: the session readings judge it by
    ``v`` when ``T`` says nothing); ``value`` None without ``typed``: ("other",)."""
    found: list[Source] = []
    if typed is not None:
        found += [("typed", *_names_in(typed)), ("heads", *_heads(typed))]
    if typed is None or value is not None:
        source = _source(value)
        if source is not None:
            found.append(source)
    return found


def _source(value: ast.AST | None) -> Source | None:
    """Where a bound value came from (see ``Source``); None for a literal."""
    if isinstance(value, _LITERALS):
        return None
    if isinstance(value, ast.Call):
        return ("call", _callee(value))
    if isinstance(value, ast.Await) and isinstance(value.value, ast.Call):
        return ("await", _callee(value.value))
    if isinstance(value, ast.Name):
        return ("name", value.id)
    return ("other",)


def _names_in(annotation: ast.expr) -> list[str]:
    """The dotted names an annotation mentions (``Annotated[AsyncSession, Depends(x)]``:
    ``Annotated``, ``AsyncSession``, ``Depends``, ``x``), breadth first (``walk``'s
    order; ``a.b`` gives ``a.b`` then ``a``)."""
    kind = type(annotation)
    if kind is ast.Name:  # the common cases, without a walk
        return [annotation.id]  # type: ignore[attr-defined]
    if kind is ast.Constant:
        return []
    found = []
    todo: list[ast.AST] = [annotation]
    for node in todo:  # grows as it goes: a breadth-first walk
        kind = type(node)
        if kind is ast.Name:
            found.append(node.id)  # type: ignore[attr-defined]
            continue
        if kind is ast.Attribute and (name := _dotted(node)):
            found.append(name)
        for part in _child_fields(kind):
            value = getattr(node, part, None)
            if type(value) is list:
                todo.extend(item for item in value if isinstance(item, ast.AST))
            elif isinstance(value, ast.AST):
                todo.append(value)
    return found


def _heads(annotation: ast.expr) -> list[str]:
    """The dotted names an annotation names a session by, as the session readings see
    it (``sessions._annotation_is_session``, ``_is_sync_session_annotation``): itself,
    the first argument of ``Annotated[...]`` / ``Optional[...]``, each side of ``X | Y``.
    ``dict[str, AsyncSession]`` and ``"AsyncSession"`` have none."""
    kind = type(annotation)
    if kind is ast.Name:
        return [annotation.id]  # type: ignore[attr-defined]
    if kind is ast.Attribute:
        name = _dotted(annotation)
        return [name] if name else []
    if kind is ast.Subscript:
        assert isinstance(annotation, ast.Subscript)
        base = _dotted(annotation.value) or ""
        if base.rsplit(".", 1)[-1] not in ("Annotated", "Optional"):
            return []
        first = annotation.slice
        if isinstance(first, ast.Tuple):
            if not first.elts:
                return []
            first = first.elts[0]
        return _heads(first)
    if kind is ast.BinOp and type(annotation.op) is ast.BitOr:  # type: ignore[attr-defined]
        return _heads(annotation.left) + _heads(annotation.right)  # type: ignore[attr-defined]
    return []


def _callee(call: ast.Call) -> str | None:
    """The dotted callee of a call; None for a call of a call (``get_maker()()``);
    "" for any other callee (``x[0]()``, ``f().g()``)."""
    if isinstance(call.func, ast.Call):
        return None
    return dotted(call.func) or ""


_Walker._DISPATCH = {
    getattr(ast, name[6:]): function
    for name, function in vars(_Walker).items()
    if name.startswith("visit_") and hasattr(ast, name[6:])
}
