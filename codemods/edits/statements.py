"""New statements for a fix, written as source text in the style of the file they go in."""

from __future__ import annotations

import libcst as cst


def statement(text: str, module: cst.Module) -> cst.BaseStatement:
    """``text`` (one statement, simple or compound) parsed with ``module``'s newline and
    indentation, so the inserted lines match the file."""
    return cst.parse_statement(text.rstrip("\n") + "\n", module.config_for_parsing)


def simple_statement(text: str, module: cst.Module) -> cst.SimpleStatementLine:
    """``statement`` for one simple statement line (``await s.refresh(x)``)."""
    line = statement(text, module)
    assert isinstance(line, cst.SimpleStatementLine)
    return line
