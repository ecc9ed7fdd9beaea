"""The verify step: a fix's output must parse, and compile where the input compiled
(DESIGN.md's invariant); output that does not is never written."""

from __future__ import annotations

import ast

import libcst as cst


def verify_output(path: str, before: bytes, after: bytes) -> str | None:
    """The DESIGN.md invariant: output parses, and compiles where the input compiled.

    One parse of the output: CPython's ``compile`` where the input compiled (stricter
    than parsing), else libcst's parser (the input may need a newer Python than this
    one, and libcst read it)."""
    try:
        compile(before, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        try:
            cst.parse_module(after)
        except Exception as exc:
            return (
                f"internal error: fix output for {path} does not parse ({exc}); file left unchanged"
            )
        return None
    try:
        compile(after, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        try:
            ast.parse(after)
            what = "does not compile"
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            what = "does not parse"
        return f"internal error: fix output for {path} {what} ({exc}); file left unchanged"
    return None
