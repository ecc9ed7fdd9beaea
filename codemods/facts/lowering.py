"""Lowering of syntax newer than the running Python, for pass 1 (see ``parse``).
Imported only when ``ast`` rejects a file: a warm run never pays libcst's import."""

from __future__ import annotations

import ast

import libcst as cst


class _Lower(cst.CSTTransformer):
    """Newer syntax -> syntax every supported Python parses, lines unchanged."""

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        return updated_node.with_changes(type_parameters=None)

    def leave_ClassDef(
        self, original_node: cst.ClassDef, updated_node: cst.ClassDef
    ) -> cst.ClassDef:
        return updated_node.with_changes(type_parameters=None)

    def leave_TypeAlias(
        self, original_node: cst.TypeAlias, updated_node: cst.TypeAlias
    ) -> cst.Assign:
        return cst.Assign(targets=[cst.AssignTarget(updated_node.name)], value=updated_node.value)

    def leave_ExceptHandler(
        self, original_node: cst.ExceptHandler, updated_node: cst.ExceptHandler
    ) -> cst.ExceptHandler:
        kind = updated_node.type
        if isinstance(kind, cst.Tuple) and not kind.lpar:
            kind = kind.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
            return updated_node.with_changes(type=kind)
        return updated_node

    def leave_ExceptStarHandler(
        self, original_node: cst.ExceptStarHandler, updated_node: cst.ExceptStarHandler
    ) -> cst.ExceptStarHandler:
        kind = updated_node.type
        if isinstance(kind, cst.Tuple) and not kind.lpar:
            kind = kind.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
            return updated_node.with_changes(type=kind)
        return updated_node


def lowered(data: bytes) -> ast.Module | None:
    """The ``ast`` tree of ``data`` read through libcst and lowered (see the module
    doc); None when libcst cannot read it either."""
    try:
        module = cst.parse_module(data)
        return ast.parse(module.visit(_Lower()).bytes)
    except (cst.ParserSyntaxError, SyntaxError, ValueError, RecursionError):
        return None
