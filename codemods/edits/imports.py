"""Import edits: where a new module-level statement goes, and how to spell a module
(``asyncio``) or a class (``HTTPException``) at a given place, adding its import only
when the name is free."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import libcst as cst

from asyncmend.codemods.base import ImportSpec
from asyncmend.codemods.facts.base import release_closure
from asyncmend.codemods.semantic.bindings import bindings_of
from asyncmend.codemods.semantic.tree import SCOPE_NODES, child_blocks, iter_children

if TYPE_CHECKING:
    from asyncmend.codemods.semantic.model import SemanticModel


def asyncio_reference(
    model: SemanticModel, ancestors: Sequence[cst.CSTNode] = ()
) -> tuple[str | None, bool]:
    """How to write ``asyncio.<x>`` where ``ancestors`` lead (the module level when
    empty): (the name to use, whether ``import asyncio`` must be added). ``(None, False)``
    when ``asyncio`` means something else there and no alias of the module is bound."""
    imports = model.imports
    bound_module = sorted(local for local, target in imports.items() if target == "asyncio")
    if "asyncio" in bound_module and model.means_import("asyncio", ancestors):
        return "asyncio", False
    for local in bound_module:
        if model.means_import(local, ancestors):
            return local, False
    if "asyncio" not in model.bindings(model.module) and not model.bound_in_enclosing_functions(
        "asyncio", ancestors
    ):
        return "asyncio", True
    return None, False


def class_reference(
    model: SemanticModel, name: str, targets: frozenset[str], ancestors: Sequence[cst.CSTNode]
) -> tuple[str | None, bool]:
    """How to write the class ``name`` (one of the qualified ``targets``, such as
    ``fastapi.HTTPException``) where ``ancestors`` lead: (the name to use, whether its
    import must be added). ``(None, False)`` when ``name`` is bound to something else
    there and no import of the class is."""
    bound = sorted(local for local, target in model.imports.items() if target in targets)
    if bound:
        return (name if name in bound else bound[0]), False
    if name in model.bindings(model.module) or model.bound_in_enclosing_functions(name, ancestors):
        return None, False
    return name, True


def after_imports_anchor(
    module: cst.Module, needs: str | None = None
) -> tuple[cst.BaseStatement | None, bool]:
    """Where a module-level definition goes: (statement, True) to insert after it (the
    last import of the leading import block, or the docstring), (first statement, False)
    to insert before it; (None, True) for an empty module. With ``needs``, never before
    the last top-level statement that imports that name (``if ...: import asyncio``)."""
    body = list(module.body)
    if not body:
        return None, True
    index = 0
    if _is_docstring(body[0]):
        index = 1
    while index < len(body) and _is_import_block(body[index]):
        index += 1
    if needs is not None:
        for position, stmt in enumerate(body):
            if position >= index and _imports_name(stmt, needs):
                index = position + 1
    if index > 0:
        return body[index - 1], True
    return body[0], False


def _imports_name(stmt: cst.BaseStatement, name: str) -> bool:
    """Whether a top-level statement imports ``name`` (directly or in its blocks)."""
    stack: list[cst.CSTNode] = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            if any(bound == name for bound, _ in bindings_of(node)):
                return True
        elif not isinstance(node, SCOPE_NODES):
            stack.extend(iter_children(node))
    return False


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _is_import_block(stmt: cst.BaseStatement) -> bool:
    """An import line, or an ``if``/``try`` whose blocks hold only imports (and ``pass``)."""
    if isinstance(stmt, cst.SimpleStatementLine):
        return all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body)
    if isinstance(stmt, (cst.If, cst.Try)):
        for block in child_blocks(stmt):
            for inner in block.body:
                if not (
                    isinstance(inner, cst.SimpleStatementLine)
                    and all(
                        isinstance(s, (cst.Import, cst.ImportFrom, cst.Pass)) for s in inner.body
                    )
                ):
                    return False
        return True
    return False


# -- adding and dropping imports after a fix ----------------------------------------------


def update_imports(
    module: cst.Module,
    needed: Sequence[ImportSpec],
    maybe_unused: Sequence[str] = (),
    known_code: Callable[[cst.CSTNode], str | None] | None = None,
) -> cst.Module:
    """``module`` with the imports fixes need added where isort (ruff's ``I001``) puts
    them, and the module-level imports of ``maybe_unused`` (names whose uses a fix
    removed) dropped when nothing uses them any more and ``__all__`` does not list them.
    ``known_code`` gives the code of a top-level statement when the caller has it (else
    None): one that cannot name any of ``maybe_unused`` is not walked."""
    plain = [spec for spec in needed if spec.obj is None and spec.asname is None]
    for spec in dict.fromkeys(plain):
        module = _add_plain_import(module, spec.module)
    rest: list[ImportSpec] = []
    for spec in dict.fromkeys(needed):
        if spec in plain:
            continue
        if spec.obj is not None and spec.asname is None:
            merged = _add_to_from_import(module, spec.module, spec.obj)
            if merged is None and not spec.module.startswith("."):
                merged = _insert_import(
                    module,
                    f"from {spec.module} import {spec.obj}\n",
                    (_section_of(spec.module), 1, spec.module.lower()),
                )
            if merged is not None:
                module = merged
                continue
        rest.append(spec)
    if rest:
        from libcst.codemod import CodemodContext
        from libcst.codemod.visitors import AddImportsVisitor

        context = CodemodContext()
        for spec in rest:
            AddImportsVisitor.add_needed_import(context, spec.module, spec.obj, spec.asname)
        module = AddImportsVisitor(context).transform_module(module)
    if maybe_unused:
        module = _drop_unused_imports(module, set(maybe_unused), known_code)
    return module


def _section(stmt: cst.BaseSmallStatement) -> tuple[int, int, str] | None:
    """isort's sort key of an import statement: (section, ``from`` last, module), with
    sections future < standard library < the rest < relative imports."""
    if isinstance(stmt, cst.Import):
        name = cst.Module([]).code_for_node(stmt.names[0].name)
        return (_section_of(name), 0, name.lower())
    if isinstance(stmt, cst.ImportFrom):
        if stmt.relative:
            return (3, 1, "." * len(stmt.relative))
        name = cst.Module([]).code_for_node(stmt.module) if stmt.module else ""
        return (_section_of(name), 1, name.lower())
    return None


def _member_key(name: str) -> tuple[int, str]:
    """isort's ``order-by-type`` order of imported names: CONSTANTS, Classes, functions."""
    if name.isupper() and len(name) > 1:
        return (0, name.lower())
    return (1 if name[:1].isupper() else 2, name.lower())


def _add_to_from_import(module: cst.Module, source: str, name: str) -> cst.Module | None:
    """``name`` added in sorted position to the module's top-level ``from source import
    ...`` line (None when there is none). Already there: the module unchanged."""
    body = list(module.body)
    for position, stmt in enumerate(body):
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            continue
        small = stmt.body[0]
        if (
            not isinstance(small, cst.ImportFrom)
            or small.relative
            or small.module is None
            or isinstance(small.names, cst.ImportStar)
            or cst.Module([]).code_for_node(small.module) != source
        ):
            continue
        names = list(small.names)
        if any(alias.asname is None and alias.name.value == name for alias in names):
            return module
        at = 0
        while at < len(names) and _member_key(
            cst.Module([]).code_for_node(names[at].name)
        ) <= _member_key(name):
            at += 1
        if at < len(names):
            new = cst.ImportAlias(
                name=cst.Name(name),
                comma=names[at].comma
                if at + 1 < len(names) and at > 0
                else cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")),
            )
            if at > 0 and isinstance(names[at - 1].comma, cst.Comma):
                new = new.with_changes(comma=names[at - 1].comma)
            names.insert(at, new)
        else:
            last = names[-1]
            trailing = last.comma
            names[-1] = last.with_changes(
                comma=names[-2].comma
                if len(names) > 1 and isinstance(names[-2].comma, cst.Comma)
                else cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            )
            names.append(cst.ImportAlias(name=cst.Name(name), comma=trailing))
        body[position] = stmt.with_changes(body=[small.with_changes(names=names)])
        return module.with_changes(body=body)
    return None


def _section_of(module: str) -> int:
    top = module.partition(".")[0]
    if top == "__future__":
        return 0
    return 1 if top in sys.stdlib_module_names else 2


def _add_plain_import(module: cst.Module, name: str) -> cst.Module:
    """``import name`` in sorted position within the module's leading import block
    (after a docstring and ``from __future__``); at the top when there is none. A
    module already importing it plainly at the top level is left alone."""
    body = list(module.body)
    start = 1 if body and _is_docstring(body[0]) else 0
    end = start
    while end < len(body) and _plain_import_line(body[end]) is not None:
        end += 1
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine) and any(
            isinstance(small, cst.Import)
            and any(
                alias.asname is None and cst.Module([]).code_for_node(alias.name) == name
                for alias in small.names
            )
            for small in stmt.body
        ):
            return module
    return _insert_import(module, f"import {name}\n", (_section_of(name), 0, name.lower()))


def _insert_import(module: cst.Module, text: str, key: tuple[int, int, str]) -> cst.Module:
    """The import statement ``text`` inserted where its isort ``key`` puts it in the
    leading import block (at the top when there is none)."""
    body = list(module.body)
    start = 1 if body and _is_docstring(body[0]) else 0
    end = start
    while end < len(body) and _plain_import_line(body[end]) is not None:
        end += 1
    new = cst.parse_statement(text, module.config_for_parsing)
    assert isinstance(new, cst.SimpleStatementLine)
    if end == start:  # no import block: the import goes first, a blank line after it
        at = start
        following = body[at] if at < len(body) else None
        if following is not None:
            new = new.with_changes(leading_lines=following.leading_lines)
            body[at] = following.with_changes(leading_lines=[cst.EmptyLine()])
        elif start:
            new = new.with_changes(leading_lines=[cst.EmptyLine()])
        body.insert(at, new)
        return module.with_changes(body=body)
    at = start
    while at < end and (_plain_import_line(body[at]) or key) <= key:
        at += 1
    previous = _plain_import_line(body[at - 1]) if at > start else None
    same_as_previous = previous is not None and previous[0] == key[0]
    if at < end:
        following = body[at]
        following_key = _plain_import_line(following)
        assert following_key is not None
        if same_as_previous:
            body.insert(at, new)
        else:
            # First of its section: it takes the blank lines (or header comment) above
            # the statement it precedes; a new section starts after it when that one
            # belongs to another section.
            new = new.with_changes(leading_lines=following.leading_lines)
            gap = [] if following_key[0] == key[0] else [cst.EmptyLine()]
            body[at] = following.with_changes(leading_lines=gap)
            body.insert(at, new)
    else:
        if not same_as_previous:
            new = new.with_changes(leading_lines=[cst.EmptyLine()])
        body.insert(at, new)
    return module.with_changes(body=body)


def _plain_import_line(stmt: cst.BaseStatement) -> tuple[int, int, str] | None:
    """The sort key of a one-import top-level line, else None (the block ends there)."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    return _section(stmt.body[0])


def _drop_unused_imports(
    module: cst.Module,
    names: set[str],
    known_code: Callable[[cst.CSTNode], str | None] | None = None,
) -> cst.Module:
    """Drop the module-level import bindings of ``names`` that nothing reads any more."""
    used: set[str] = set()
    exported: set[str] = set()
    # The header and footer hold comments only; a statement whose code holds none of
    # `names` and no backslash (an escape could spell one in a string) reads none.
    stack: list[cst.CSTNode] = [
        statement
        for statement in module.body
        if known_code is None or not _cannot_name(known_code(statement), names)
    ]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            continue
        if isinstance(node, cst.Name):
            used.add(node.value)
        elif isinstance(node, cst.SimpleString) and isinstance(node.evaluated_value, str):
            exported.add(node.evaluated_value)  # `__all__` entries, string annotations
        elif isinstance(node, cst.Attribute):
            stack.append(node.value)  # `asyncio.sleep` does not read a name `sleep`
            continue
        elif isinstance(node, cst.Arg):
            stack.append(node.value)  # nor does a keyword `f(sleep=1)`
            continue
        stack.extend(iter_children(node))
    gone = {name for name in names if name not in used and name not in exported}
    if not gone:
        return module
    dropper = _DropImports(gone)
    dropper.mark_paths(module)
    updated = module.visit(dropper)
    assert isinstance(updated, cst.Module)
    return updated


def _cannot_name(code: str | None, names: set[str]) -> bool:
    """Whether code (None: unknown) can hold no ``Name`` and no string equal to one of
    ``names``: a name or a string without escapes is written out in the code."""
    return code is not None and "\\" not in code and not any(name in code for name in names)


class _DropImports(cst.CSTTransformer):
    """Remove the import bindings of ``gone`` (at any level), never emptying a block; a
    removed line's blank lines and comments above it move to the next statement.

    Only the nodes on the way to such an import are entered (``mark_paths``): a file
    with thousands of fixes is not rebuilt block by block for one dropped import."""

    def __init__(self, gone: set[str]) -> None:
        super().__init__()
        self.gone = gone
        self.on_path: set[int] = set()

    def mark_paths(self, module: cst.Module) -> None:
        """Record the ids of the nodes from ``module`` down to each import line that
        binds a name of ``gone`` (statements only: no expression holds one)."""
        path: list[cst.CSTNode] = []

        def visit(node: cst.CSTNode) -> None:
            if isinstance(node, cst.SimpleStatementLine):
                if self._drop(node) is not node:
                    self.on_path.update(id(step) for step in path)
                return
            if isinstance(node, cst.BaseExpression):
                return
            path.append(node)
            for child in iter_children(node):
                visit(child)
            path.pop()

        visit(module)
        release_closure(visit)

    def on_visit(self, node: cst.CSTNode) -> bool:
        return id(node) in self.on_path

    def _drop(self, stmt: cst.BaseStatement) -> cst.BaseStatement | None:
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            return stmt
        small = stmt.body[0]
        if not isinstance(small, (cst.Import, cst.ImportFrom)) or isinstance(
            small.names, cst.ImportStar
        ):
            return stmt
        kept = [alias for alias in small.names if _alias_binding(alias) not in self.gone]
        if not kept:
            return None
        if len(kept) != len(small.names):
            kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            return stmt.with_changes(body=[small.with_changes(names=kept)])
        return stmt

    def _body(self, statements: Sequence[cst.BaseStatement]) -> list[cst.BaseStatement]:
        body: list[cst.BaseStatement] = []
        carried: Sequence[cst.EmptyLine] | None = None
        for stmt in statements:
            if carried is not None and (not body or not stmt.leading_lines):
                stmt = stmt.with_changes(leading_lines=carried)
            carried = None
            kept = self._drop(stmt)
            if kept is None:
                carried = stmt.leading_lines
                continue
            body.append(kept)
        return body or list(statements)

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        if id(original_node) not in self.on_path:
            return updated_node
        return updated_node.with_changes(body=self._body(updated_node.body))

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        if id(original_node) not in self.on_path:
            return updated_node
        return updated_node.with_changes(body=self._body(updated_node.body))


def _alias_binding(alias: cst.ImportAlias) -> str:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    return cst.Module([]).code_for_node(alias.name).partition(".")[0]
