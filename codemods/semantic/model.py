"""The per-file semantic model: what a name is, where it is bound, what it resolves to.

One ``SemanticModel`` exists per checked tree (``FileContext.semantic``) and owns every
memo the rules share for that tree's lifetime; nothing is kept in module globals. Like
ruff's ``SemanticModel``, it answers the questions every rule asks, computed lazily
on first use:

- ``imports`` / ``resolve(expr)``: a name's qualified target through the imports
  (ruff's ``resolve_qualified_name``); ``resolves_to`` when it must not be rebound;
  ``resolve_where(name, ancestors)`` through the enclosing functions' imports too.
- ``value_kind(expr)``: what made an object (``Path(x)``, a name bound to ``Client()``).
- ``bindings(scope)``: the binding table of a function or the module (name -> what
  each binding holds); ``bound_names(stmt)``; ``names_read(node)``; ``is_shadowed``.
- ``scope_statements(body)``: the small statements of one scope (``tree.own_scope``
  walks every node of it).
- ``fresh_name(base)``: a name that collides with nothing in the module.

Domain questions (sessions, FastAPI, coroutines, exceptions, queries, control flow,
locks) live in the sibling modules and memoize here (``cached``, ``memoized``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import libcst as cst

from asyncmend.codemods.facts.base import resolve_through
from asyncmend.codemods.semantic.bindings import BINDING_TYPES, Binding, bindings_of, bound_names
from asyncmend.codemods.semantic.paths import is_test_file
from asyncmend.codemods.semantic.tree import (
    SCOPE_TYPES,
    Children,
    assigned_names,
    dotted_name,
    iter_children,
    iter_descendants,
    names_in,
    own_scope,
    parameters,
)

if TYPE_CHECKING:
    from asyncmend.codemods.base import FileContext

T = TypeVar("T")
#: An import statement that is not at the start of a line: inside a function (or block).
_INDENTED_IMPORT = re.compile(rb"\n[ \t]+(?:import|from)[ \t]")


def _import_targets(
    node: cst.Import | cst.ImportFrom, base: str | None
) -> Iterator[tuple[str, str]]:
    """(local name, dotted target) of each alias of an import; ``base`` is the resolved
    module of a ``from`` import (None: record the name as itself)."""
    if isinstance(node, cst.Import):
        for alias in node.names:
            full = dotted_name(alias.name) or ""
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                yield alias.asname.name.value, full
            else:
                head = full.split(".")[0]
                yield head, head
        return
    if isinstance(node.names, cst.ImportStar):
        return
    for alias in node.names:
        name = dotted_name(alias.name) or ""
        local = name
        if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
            local = alias.asname.name.value
        yield local, (f"{base}.{name}" if base else local if base is None else name)


_BLOCK_PARTS = (
    cst.BaseSuite,
    cst.BaseCompoundStatement,
    cst.Else,
    cst.ExceptHandler,
    cst.ExceptStarHandler,
    cst.Finally,
    cst.MatchCase,
)


def _memoized_children() -> Children:
    memo: dict[int, tuple[cst.CSTNode, list[cst.CSTNode]]] = {}
    lookup = memo.get

    def children(node: cst.CSTNode) -> list[cst.CSTNode]:
        entry = lookup(id(node))
        if entry is not None and entry[0] is node:
            return entry[1]
        found = iter_children(node)
        memo[id(node)] = (node, found)
        return found

    return children


#: Expressions whose ``for`` targets are variables of their own scope.
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)


class SemanticModel:
    """The questions every rule asks about one tree, each answered once."""

    def __init__(self, context: FileContext) -> None:
        self.context = context
        self.module = context.module
        #: Every memo of this tree: (question, id(node)) or a question name -> answer.
        #: Entries keyed by a node id keep the node, so an id reused after the node
        #: is freed can never match.
        self.memo: dict[Any, Any] = {}
        #: ``tree.iter_children``, memoized for this tree: rules walk the same bodies
        #: many times (a closure over a local dict: this is the hottest call there is).
        self.children: Children = _memoized_children()

    def release(self) -> None:
        """Forget every memo (``FileContext.release``): answers may refer back to
        the model or hold closures over it."""
        self.memo.clear()
        self.children = _memoized_children()

    # -- memo ----------------------------------------------------------------------

    def memoized(self, kind: str, node: cst.CSTNode) -> Any:
        entry = self.memo.get((kind, id(node)))
        return entry[1] if entry is not None and entry[0] is node else None

    def remember(self, kind: str, node: cst.CSTNode, value: Any) -> Any:
        self.memo[(kind, id(node))] = (node, value)
        return value

    def cached(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The answer to the per-file question ``key`` (no node ids in it: use
        ``memoized``/``remember`` for a question about one node), computed once."""
        if key not in self.memo:
            self.memo[key] = compute()
        return self.memo[key]  # type: ignore[no-any-return]

    @property
    def in_test_file(self) -> bool:
        """Whether the file is a test module (``paths.is_test_file``)."""
        return self.cached(
            "in_test_file", lambda: is_test_file(self.context.path, self.context.module_name)
        )

    # -- walking the tree ------------------------------------------------------------

    def descendants(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        return iter_descendants(node, self.children)

    def own_scope(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        return own_scope(node, self.children)

    # -- imports and qualified names -------------------------------------------------

    @property
    def imports(self) -> dict[str, str]:
        """Module-level import bindings: local name -> dotted target. ``import
        asyncio as aio`` gives ``aio -> asyncio``; ``from asyncio import sleep`` gives
        ``sleep -> asyncio.sleep``; relative imports resolve against the module name."""
        found = self.memo.get("imports")
        if found is None:
            found = {}
            for stmt in _module_level_small_statements(self.module.body):
                if isinstance(stmt, cst.Import):
                    found.update(_import_targets(stmt, None))
                elif isinstance(stmt, cst.ImportFrom):
                    found.update(_import_targets(stmt, self._resolve_from(stmt)))
            self.memo["imports"] = found
        return found

    def _resolve_from(self, stmt: cst.ImportFrom) -> str:
        module = dotted_name(stmt.module) if stmt.module is not None else ""
        level = len(stmt.relative)
        if level == 0:
            return module or ""
        parts = (self.context.module_name or "").split(".")
        if not self.context.path.endswith("__init__.py"):
            parts = parts[:-1]
        if level > 1:
            parts = parts[: len(parts) - (level - 1)]
        return ".".join(p for p in [*parts, module or ""] if p)

    def resolve(self, node: cst.CSTNode | None) -> str | None:
        """The dotted name of an expression with its first part resolved through the
        module's imports: ``aio.sleep`` -> ``asyncio.sleep`` after ``import asyncio as
        aio``. None for anything but a Name/Attribute chain."""
        return resolve_through(dotted_name(node), self.imports)

    def resolve_where(self, name: str, ancestors: Sequence[cst.CSTNode]) -> str | None:
        """The dotted ``name`` read where ``ancestors`` lead, its head resolved through the
        imports of the enclosing functions (innermost first), then the module's; None
        when a parameter or local of an enclosing function holds the head instead, or a
        top-level binding other than an import."""
        head, _, rest = name.partition(".")
        for ancestor in reversed(ancestors):
            if not isinstance(ancestor, cst.FunctionDef):
                continue
            local = self.function_imports(ancestor).get(head)
            if local is not None:
                return f"{local}.{rest}" if rest else local
            if head in self.local_names(ancestor):
                return None
        if self.is_shadowed(head, ancestors):
            return None
        return resolve_through(name, self.imports)

    def may_resolve_to(
        self, name: str, leaves: frozenset[str], ancestors: Sequence[cst.CSTNode]
    ) -> bool:
        """A cheap first look before ``resolve_where``: whether the dotted ``name``, read
        where ``ancestors`` lead, may resolve to a qualified name whose last part is one of
        ``leaves``: it ends so, its head is an import that renames, or an enclosing function
        imports something."""
        if name.rsplit(".", 1)[-1] in leaves:
            return True
        if name.partition(".")[0] in self.renamed_imports():
            return True
        # No function-level import could have renamed it when `function_imports` finds none.
        return any(isinstance(n, cst.FunctionDef) and self.function_imports(n) for n in ancestors)

    def renamed_imports(self) -> frozenset[str]:
        """Module-level import names that do not end like what they import
        (``from time import sleep as pause``, ``import subprocess as sp``)."""
        return self.cached(
            "renamed_imports",
            lambda: frozenset(
                local
                for local, target in self.imports.items()
                if target.rsplit(".", 1)[-1] != local
            ),
        )

    def function_imports(self, func: cst.FunctionDef) -> dict[str, str]:
        """Imports inside ``func``'s own scope: local name -> dotted target (absolute
        imports only; a relative import's target is recorded as the name itself)."""
        found = self.memoized("function_imports", func)
        if found is None:
            found = {}
            # Most files import nothing inside a function: then no function needs a walk.
            has_any = self.cached(
                "function_level_imports",
                lambda: bool(_INDENTED_IMPORT.search(self.context.source)),
            )
            for node in self.own_scope(func.body) if has_any else ():
                if isinstance(node, cst.Import):
                    found.update(_import_targets(node, None))
                elif isinstance(node, cst.ImportFrom):
                    base = dotted_name(node.module) if node.module is not None else None
                    found.update(_import_targets(node, None if node.relative else base))
            self.remember("function_imports", func, found)
        return found

    def imports_module(self, *roots: str) -> bool:
        """Whether the file imports one of the top-level packages ``roots``, at module
        level or inside a function (a lazy ``import sqlalchemy`` counts too)."""
        key = ("imports_module", roots)
        found = self.memo.get(key)
        if found is None:
            found = any(t.split(".")[0] in roots for t in self.imports.values())
            for node in () if found else self.module_statements():
                if isinstance(node, cst.Import):
                    modules = [dotted_name(alias.name) or "" for alias in node.names]
                elif isinstance(node, cst.ImportFrom) and not node.relative:
                    modules = [dotted_name(node.module) or ""]
                else:
                    continue
                if any(module.split(".")[0] in roots for module in modules):
                    found = True
                    break
            self.memo[key] = found
        return found

    # -- bindings --------------------------------------------------------------------

    def bindings(self, scope: cst.CSTNode) -> dict[str, list[Binding]]:
        """Every binding made directly in ``scope`` (a function or the module; nested
        scopes contribute only their own name), by (dotted) name. One walk per scope."""
        table = self.memoized("bindings", scope)
        if table is None:
            table = {}
            stack: list[cst.CSTNode] = [scope]
            if isinstance(scope, cst.FunctionDef):
                stack = [scope.body, scope.params]
            while stack:
                node = stack.pop()
                if type(node) in BINDING_TYPES:  # most nodes bind nothing
                    for name, binding in bindings_of(node):
                        table.setdefault(name, []).append(binding)
                if node is not scope and type(node) in SCOPE_TYPES:
                    continue  # its name is bound here; its body is another scope
                stack.extend(self.children(node))
            self.remember("bindings", scope, table)
        return table

    def single_value(self, scope: cst.CSTNode, name: str) -> cst.BaseExpression | None:
        """What ``name`` holds in ``scope`` when one plain assignment (``name = value``,
        ``with value as name``) is its only binding there, else None."""
        found = self.bindings(scope).get(name, [])
        return found[0].value if len(found) == 1 and found[0].kind == "assign" else None

    def class_attribute_bindings(self, cls: cst.ClassDef) -> dict[str, list[Binding]]:
        """``self.x`` bindings anywhere in the methods of ``cls``, by dotted name."""
        table = self.memoized("class_bindings", cls)
        if table is None:
            table = {}
            for node in self.descendants(cls.body):
                for name, binding in bindings_of(node):
                    if name.startswith("self."):
                        table.setdefault(name, []).append(binding)
            self.remember("class_bindings", cls, table)
        return table

    def bound_names(self, stmt: cst.CSTNode) -> frozenset[str]:
        """``bindings.bound_names``, memoized."""
        found = self.memoized("bound_names", stmt)
        if found is None:
            found = self.remember("bound_names", stmt, bound_names(stmt, self.children))
        return found

    def local_names(self, func: cst.FunctionDef | cst.Lambda) -> frozenset[str]:
        """Names bound in ``func``'s own scope: parameters, what its body binds, and
        its imports."""
        found = self.memoized("local_names", func)
        if found is None:
            names = {p.name.value for p in parameters(func, stars=True)}
            if isinstance(func, cst.FunctionDef):
                names |= self.bound_names(func.body)
                names |= set(self.function_imports(func))
            elif isinstance(func.body, cst.NamedExpr):
                names |= self.bound_names(func.body)
            found = self.remember("local_names", func, frozenset(names))
        return found

    def module_bound_names(self) -> frozenset[str]:
        """Names the module binds at top level other than by imports."""
        found = self.memo.get("module_bound_names")
        if found is None:
            found = frozenset(n for stmt in self.module.body for n in self.bound_names(stmt))
            self.memo["module_bound_names"] = found
        return found

    def is_shadowed(self, name: str, ancestors: Sequence[cst.CSTNode]) -> bool:
        """Whether ``name`` read where ``ancestors`` lead may mean something other than
        its module-level import or builtin: a parameter or local of an enclosing
        function, or a top-level binding besides imports."""
        for node in ancestors:
            if isinstance(node, (cst.FunctionDef, cst.Lambda)) and name in self.local_names(node):
                return True
        return name in self.module_bound_names()

    def comprehension_binds(
        self, name: str, node: cst.CSTNode, ancestors: Sequence[cst.CSTNode]
    ) -> bool:
        """Whether ``name`` read at ``node`` (``ancestors`` above it) is the own variable
        of an enclosing comprehension (``[s for s in rows if s.get(k)]``), not the
        function's ``name``. The outermost ``for``'s iterable is read outside."""
        path = [*ancestors, node]
        for index in range(len(ancestors) - 1, -1, -1):
            comp = path[index]
            if isinstance(comp, (cst.FunctionDef, cst.Lambda)):
                return False
            if not isinstance(comp, _COMPREHENSIONS):
                continue
            below = path[index + 1 : index + 3]
            if (
                below
                and below[0] is comp.for_in
                and len(below) > 1
                and below[1] is comp.for_in.iter
            ):
                continue  # the outermost iterable: evaluated in the enclosing scope
            clause: cst.CompFor | None = comp.for_in
            while clause is not None:
                if name in assigned_names(clause.target):
                    return True
                clause = clause.inner_for_in
        return False

    def means_import(self, name: str, ancestors: Sequence[cst.CSTNode]) -> bool:
        """Whether ``name``, read where ``ancestors`` lead, is only ever bound by imports:
        the module binds it by imports alone and no enclosing function or lambda binds it."""
        module_level = self.bindings(self.module).get(name, [])
        if any(not b.is_import for b in module_level):
            return False
        return not self.bound_in_enclosing_functions(name, ancestors)

    def bound_in_enclosing_functions(self, name: str, ancestors: Sequence[cst.CSTNode]) -> bool:
        for node in ancestors:
            if isinstance(node, cst.FunctionDef) and name in self.bindings(node):
                return True
            if isinstance(node, cst.Lambda) and any(
                p.name.value == name for p in node.params.params
            ):
                return True
        return False

    def resolves_to(
        self, func: cst.BaseExpression, targets: frozenset[str], ancestors: Sequence[cst.CSTNode]
    ) -> bool:
        """Whether ``func`` is one of the qualified ``targets`` through the module's
        imports, its first name not rebound where it is read."""
        if self.resolve(func) not in targets:
            return False
        head = (dotted_name(func) or "").split(".")[0]
        return head in self.imports and self.means_import(head, ancestors)

    def binding_kind(self, receiver: str, ancestors: Sequence[cst.CSTNode]) -> str | None:
        """What the dotted ``receiver`` (``client``, ``self._http``, ``loop``) was bound
        to where it is used: the qualified callee or annotation of its bindings, when
        they all agree. Looked up in the innermost function that binds it, then the
        module; ``self.x`` in the methods of the enclosing class."""
        if receiver.startswith("self."):
            cls = next((n for n in reversed(ancestors) if isinstance(n, cst.ClassDef)), None)
            if cls is None:
                return None
            return self._single_kind(self.class_attribute_bindings(cls).get(receiver, []))
        if "." in receiver:
            return None
        for node in reversed(ancestors):
            if isinstance(node, cst.Lambda):
                if any(p.name.value == receiver for p in node.params.params):
                    return None
            elif isinstance(node, cst.FunctionDef):
                found = self.bindings(node).get(receiver)
                if found:
                    return self._single_kind(found)
        return self._single_kind(self.bindings(self.module).get(receiver, []))

    def value_kind(self, value: cst.BaseExpression, ancestors: Sequence[cst.CSTNode]) -> str | None:
        """What made the object ``value`` (a receiver such as ``Path(x)`` or ``client``):
        the qualified callee of a call, else ``binding_kind`` of a (dotted) name."""
        if isinstance(value, cst.Call):
            return self.resolve(value.func)
        name = dotted_name(value)
        return None if name is None else self.binding_kind(name, ancestors)

    def _single_kind(self, found: list[Binding]) -> str | None:
        kinds = [self._kind_of(binding) for binding in found]
        if kinds and all(k is not None and k == kinds[0] for k in kinds):
            return kinds[0]
        return None

    def _kind_of(self, binding: Binding) -> str | None:
        if binding.annotation is not None:
            return self.resolve(binding.annotation)
        if isinstance(binding.value, cst.Call):
            return self.resolve(binding.value.func)
        return None  # awaited results, literals, parameters without annotation...

    def binding_count(self, name: str) -> int:
        """How many statements, parameters, defs and imports bind ``name`` anywhere in
        the module (class bodies aside: they never shadow a module-level name)."""
        counts = self.memo.get("binding_counts")
        if counts is None:
            counts = {}
            stack: list[tuple[cst.CSTNode, bool]] = [(self.module, False)]
            while stack:
                node, in_class_body = stack.pop()
                if not in_class_body:
                    for bound, _ in bindings_of(node):
                        counts[bound] = counts.get(bound, 0) + 1
                if isinstance(node, cst.ClassDef):
                    stack.append((node.body, True))
                elif isinstance(node, (cst.FunctionDef, cst.Lambda)):
                    stack.extend((child, False) for child in iter_children(node))
                else:
                    stack.extend((child, in_class_body) for child in iter_children(node))
            self.memo["binding_counts"] = counts
        return counts.get(name, 0)

    def subscript_aliases(self) -> dict[str, cst.Subscript]:
        """Module-level type aliases written as a subscript: ``Name = X[...]``
        (``SessionDep = Annotated[AsyncSession, Depends(get_session)]``)."""
        found = self.memo.get("subscript_aliases")
        if found is None:
            found = {}
            for stmt in self.module.body:
                if not isinstance(stmt, cst.SimpleStatementLine):
                    continue
                for small in stmt.body:
                    if (
                        isinstance(small, cst.Assign)
                        and len(small.targets) == 1
                        and isinstance(small.targets[0].target, cst.Name)
                        and isinstance(small.value, cst.Subscript)
                    ):
                        found[small.targets[0].target.value] = small.value
            self.memo["subscript_aliases"] = found
        return found

    # -- names read ----------------------------------------------------------------------

    def names_read(self, node: cst.CSTNode) -> frozenset[str]:
        """``tree.names_in``, memoized: rules ask it of the same bodies many times."""
        found = self.memoized("names_read", node)
        if found is None:
            found = self.remember("names_read", node, names_in(node, self.children))
        return found

    def reads(self, node: cst.CSTNode, names: set[str] | frozenset[str]) -> bool:
        """Whether a variable named in ``names`` occurs in the subtree."""
        return bool(names) and not self.names_read(node).isdisjoint(names)

    def identifiers(self, within: cst.CSTNode | None = None) -> frozenset[str]:
        """Every identifier written in ``within`` (default: the whole module; variables,
        parameters, imports, attributes, nested scopes included)."""
        node = self.module if within is None else within
        found = self.memoized("identifiers", node)
        if found is None:
            found = self.remember(
                "identifiers",
                node,
                frozenset(n.value for n in self.descendants(node) if isinstance(n, cst.Name)),
            )
        return found

    def fresh_name(
        self,
        base: str,
        *candidates: str,
        within: cst.CSTNode | None = None,
        taken: frozenset[str] | set[str] = frozenset(),
    ) -> str:
        """The first of ``base`` and ``candidates`` that collides with no identifier of
        ``within`` (default: the module), no module-level import, and nothing in
        ``taken``; else ``<base>_1``, ``<base>_2``... The one fresh-name helper."""
        used = self.identifiers(within) | set(self.imports) | set(taken)
        for name in (base, *candidates):
            if name not in used:
                return name
        number = 1
        while f"{base}_{number}" in used:
            number += 1
        return f"{base}_{number}"

    # -- own-scope statements ------------------------------------------------------------

    def scope_statements(self, body: cst.CSTNode) -> list[cst.CSTNode]:
        """The small statements (``Assign``, ``Expr``, ...) and ``WithItem``s of ``body``'s
        own scope, at any block depth, without entering expressions or nested functions
        and classes: about a tenth of the nodes ``tree.own_scope`` visits."""
        found = self.memoized("scope_statements", body)
        if found is not None:
            return found
        found = []
        stack: list[cst.CSTNode] = [body]
        while stack:
            node = stack.pop()
            if isinstance(node, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
                found.extend(node.body)
            elif isinstance(node, (cst.FunctionDef, cst.ClassDef)) and node is not body:
                continue
            elif isinstance(node, _BLOCK_PARTS) or node is body:
                if isinstance(node, cst.With):
                    found.extend(node.items)
                children = [
                    c
                    for c in self.children(node)
                    if isinstance(
                        c, (*_BLOCK_PARTS, cst.SimpleStatementLine, cst.SimpleStatementSuite)
                    )
                ]
                stack.extend(reversed(children))
        return self.remember("scope_statements", body, found)

    def module_statements(self) -> list[cst.CSTNode]:
        """Every small statement of the module at any depth, nested scopes included
        (without entering expressions)."""
        found = self.memo.get("module_statements")
        if found is None:
            found = self.memo["module_statements"] = self.statements_under(self.module.body)
        return found

    def statements_under(self, nodes: Sequence[cst.CSTNode]) -> list[cst.CSTNode]:
        """``module_statements`` of the top-level statements ``nodes``, in order (the
        editor's incremental check joins those of each statement)."""
        found: list[cst.CSTNode] = []
        stack: list[cst.CSTNode] = list(reversed(nodes))
        while stack:
            node = stack.pop()
            if isinstance(node, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
                found.extend(node.body)
            elif isinstance(node, _BLOCK_PARTS):
                children = [
                    c
                    for c in self.children(node)
                    if isinstance(
                        c, (*_BLOCK_PARTS, cst.SimpleStatementLine, cst.SimpleStatementSuite)
                    )
                ]
                stack.extend(reversed(children))
        return found


def _module_level_small_statements(body: object) -> Iterator[cst.BaseSmallStatement]:
    """Small statements at module level, also inside top-level ``if`` and ``try``."""
    for stmt in body:  # type: ignore[attr-defined]
        if isinstance(stmt, cst.SimpleStatementLine):
            yield from stmt.body
        elif isinstance(stmt, cst.If):
            yield from _module_level_small_statements(stmt.body.body)
            if isinstance(stmt.orelse, cst.Else):
                yield from _module_level_small_statements(stmt.orelse.body.body)
            elif isinstance(stmt.orelse, cst.If):
                yield from _module_level_small_statements([stmt.orelse])
        elif isinstance(stmt, cst.Try):
            yield from _module_level_small_statements(stmt.body.body)
            for handler in stmt.handlers:
                yield from _module_level_small_statements(handler.body.body)


__all__ = ["Binding", "SemanticModel"]
