"""Pass 2 parses with libcst's node validation off (``engine/syntax.parse_module``):
the tree is the one libcst builds, and nodes built afterwards (by fixes) are validated
again."""

from __future__ import annotations

import libcst as cst
import pytest

from asyncmend.engine.syntax import parse_module

SOURCE = b"async def f(s):\n    await s.commit()  # note\n    return [x for x in (1, 2)]\n"


def test_same_tree_as_libcst() -> None:
    tree = parse_module(SOURCE)
    assert tree.deep_equals(cst.parse_module(SOURCE))
    assert tree.bytes == SOURCE


def test_nodes_built_after_a_parse_are_validated() -> None:
    parse_module(SOURCE)
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not a name")
    with pytest.raises(cst.ParserSyntaxError):
        parse_module(b"def (:\n")
    with pytest.raises(cst.CSTValidationError):  # restored after a failed parse too
        cst.Name("not a name")
