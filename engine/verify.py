"""The verify step: a fix's output must parse, and compile where the input compiled
(DESIGN.md's invariant); output that does not is never written."""

from __future__ import annotations

import ast

import libcst as cst


def verify_output(path: str, before: bytes, after: bytes) -> str | None:
    """The DESIGN.md invariant: output parses, and compiles where the input compiled.

    One parse of the output: CPython's ``compile`` (stricter than parsing); only when
    the output does not compile is the input compiled, to tell a fix that broke the
    file from input that never compiled (it may need a newer Python than this one, and
    libcst read it: then libcst's parser must still read the output)."""
    try:
        compile(after, path, "exec", dont_inherit=True)
        return None
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        failure = exc
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
        ast.parse(after)
        what = "does not compile"
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        what = "does not parse"
    return f"internal error: fix output for {path} {what} ({failure}); file left unchanged"
