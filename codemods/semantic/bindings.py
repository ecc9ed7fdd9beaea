"""What a statement binds: one enumeration of Python's binding forms, used by the
binding tables of ``SemanticModel`` and by the pure helpers of the edits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import libcst as cst

from asyncmend.codemods.semantic.tree import Children, dotted_name, iter_children, own_scope

#: Binding kinds that make a local variable of the scope (not a declaration or import).
_LOCAL_KINDS = frozenset({"assign", "def", "loop", "except"})


@dataclass(frozen=True)
class Binding:
    """One binding of a name: the value assigned (when the name is the whole target),
    its annotation, and how it was bound."""

    value: cst.BaseExpression | None
    annotation: cst.BaseExpression | None
    #: "assign", "import", "param", "def", "loop", "global", "except"
    kind: str

    @property
    def is_import(self) -> bool:
        return self.kind == "import"


#: Node types that bind names (checked first: most nodes bind nothing).
BINDING_TYPES = frozenset(
    {cst.Assign, cst.AnnAssign, cst.AugAssign, cst.WithItem, cst.For, cst.CompFor,
     cst.NamedExpr, cst.Import, cst.ImportFrom, cst.Global, cst.Nonlocal, cst.FunctionDef,
     cst.ClassDef, cst.ExceptHandler, cst.Param}
)  # fmt: skip


def _target_names(target: cst.BaseExpression) -> Iterator[str]:
    """Dotted names bound by an assignment target (``a``, ``self.x``, tuple elements)."""
    name = dotted_name(target)
    if name is not None:
        yield name
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _target_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from _target_names(target.value)


def bindings_of(node: cst.CSTNode) -> Iterator[tuple[str, Binding]]:
    """The names ``node`` itself binds in the scope it belongs to (dotted for attribute
    targets such as ``self.x``), with what it binds them to."""
    if type(node) not in BINDING_TYPES:
        return
    if isinstance(node, cst.Assign):
        for target in node.targets:
            whole = dotted_name(target.target) is not None
            for name in _target_names(target.target):
                yield name, Binding(node.value if whole else None, None, "assign")
    elif isinstance(node, cst.AnnAssign):
        for name in _target_names(node.target):
            yield name, Binding(node.value, node.annotation.annotation, "assign")
    elif isinstance(node, cst.AugAssign):
        for name in _target_names(node.target):
            yield name, Binding(None, None, "assign")
    elif isinstance(node, cst.WithItem) and node.asname is not None:
        whole = dotted_name(node.asname.name) is not None
        for name in _target_names(node.asname.name):  # type: ignore[arg-type]
            yield name, Binding(node.item if whole else None, None, "assign")
    elif isinstance(node, cst.For):
        for name in _target_names(node.target):
            yield name, Binding(None, None, "loop")
    elif isinstance(node, cst.CompFor):
        for name in _target_names(node.target):
            yield name, Binding(None, None, "comprehension")
    elif isinstance(node, cst.NamedExpr):
        for name in _target_names(node.target):
            yield name, Binding(node.value, None, "assign")
    elif isinstance(node, (cst.Import, cst.ImportFrom)):
        if not isinstance(node.names, cst.ImportStar):
            for alias in node.names:
                local = alias.asname.name if alias.asname is not None else alias.name
                name = dotted_name(local)  # type: ignore[arg-type]
                if name is not None:
                    yield name.split(".")[0], Binding(None, None, "import")
    elif isinstance(node, (cst.Global, cst.Nonlocal)):
        for item in node.names:
            yield item.name.value, Binding(None, None, "global")
    elif isinstance(node, (cst.FunctionDef, cst.ClassDef)):
        yield node.name.value, Binding(None, None, "def")
    elif isinstance(node, cst.ExceptHandler) and node.name is not None:
        for name in _target_names(node.name.name):  # type: ignore[arg-type]
            yield name, Binding(None, None, "except")
    elif isinstance(node, cst.Param):
        annotation = node.annotation.annotation if node.annotation else None
        yield node.name.value, Binding(None, annotation, "param")


def bound_names(stmt: cst.CSTNode, children: Children = iter_children) -> frozenset[str]:
    """Plain names a statement binds as variables of its own scope (assignments, loops,
    ``with ... as``, walrus, defs, ``except ... as``; not imports or declarations, not
    inside nested scopes). ``SemanticModel.bound_names`` memoizes it."""
    if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
        return frozenset({stmt.name.value})  # its body binds in its own scope
    return frozenset(
        name
        for node in own_scope(stmt, children)
        if type(node) in BINDING_TYPES  # most nodes bind nothing: skip the generator
        for name, binding in bindings_of(node)
        if binding.kind in _LOCAL_KINDS and "." not in name
    )
