"""AM000 for every checked file that does not parse, not only for those a rule parses.

A file no rule needs (none of their trigger tokens) is checked with CPython's own
parser, which is several times cheaper than libcst's; where CPython refuses it (a
syntax newer than the running Python, say) libcst decides. A file libcst accepts is
still AM000 when CPython's parser refuses it for one of its implementation limits (200
nested brackets; checked only where the brackets nest deep): no Python can run it.

Pass 2's parse step lives here too (``parse_source``: a file's libcst tree, or the AM000
finding that says why there is none), since each of the two asks the other.
"""

from __future__ import annotations

import ast

import libcst as cst
from libcst._nodes.base import CSTNode

from asyncmend.engine.results import PARSE_ERROR_CODE, PARSE_ERROR_NAME, FileResult, Finding

#: libcst validates every node as it is constructed (``CSTNode.__post_init__``), the
#: parser's output included, where it can only pass: ~15% of a parse. libcst's own
#: comment there calls for skipping it when parsing. Nodes our fixes build are still
#: validated (the hook is swapped only while the parser runs).
_VALIDATE = CSTNode.__dict__["__post_init__"]


def _trusted(self: CSTNode) -> None:
    return None


def parse_module(source: str | bytes, config: cst.PartialParserConfig | None = None) -> cst.Module:
    """``libcst.parse_module`` without re-validating the parser's own nodes. The
    switch is process-wide: a thread building nodes while another parses skips their
    validation for that moment (our fixes' output is verified by a parse anyway)."""
    CSTNode.__post_init__ = _trusted  # type: ignore[method-assign]
    try:
        if config is None:
            return cst.parse_module(source)
        return cst.parse_module(source, config=config)
    finally:
        CSTNode.__post_init__ = _VALIDATE  # type: ignore[method-assign]


#: CPython's tokenizer nests at most 200 brackets (MAXLEVEL). A file whose raw bracket
#: depth (strings included, hence the margin) stays below the gate is not parsed twice.
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"()[]{}")
_LIMIT_GATE = 100
#: How CPython's messages for its implementation limits start.
_LIMITS = ("too many", "too complex", "exceeds the limit")


def _finding(path: str, line: int, column: int, message: str) -> Finding:
    return Finding(
        PARSE_ERROR_CODE, PARSE_ERROR_NAME, f"Cannot parse: {message}",
        path, line, column, line, column,
    )  # fmt: skip


def _compile_error(data: bytes, path: str, flags: int) -> Finding | str | None:
    """None when CPython compiles ``data``; the AM000 finding when it refuses it for a
    limit; ``"other"`` for any other refusal."""
    try:
        compile(data, path, "exec", flags=flags, dont_inherit=True)
    except (RecursionError, MemoryError):
        return _finding(path, 1, 1, "too deeply nested for CPython")
    except SyntaxError as error:
        message = (error.msg or "").lower()
        if message.startswith(_LIMITS):
            return _finding(path, error.lineno or 1, error.offset or 1, error.msg)
        return "other"
    except ValueError:
        return "other"
    return None


def _bracket_depth(data: bytes) -> int:
    depth = deepest = 0
    for byte in data.translate(None, _NOT_BRACKETS):
        if byte in b"([{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(depth - 1, 0)
    return deepest


def syntax_finding(path: str, data: bytes, *, parsed: bool = False) -> Finding | None:
    """AM000 for ``data`` if no Python can run it, else None.

    ``parsed``: libcst already accepted the file, so only CPython's limits are left
    to check (and only for files with enough brackets to reach one).
    """
    if parsed:
        if _bracket_depth(data) < _LIMIT_GATE:
            return None
        problem = _compile_error(data, path, ast.PyCF_ONLY_AST)
        return problem if isinstance(problem, Finding) else None
    problem = _compile_error(data, path, ast.PyCF_ONLY_AST)
    if problem is None or isinstance(problem, Finding):
        return problem
    # CPython refuses it: a syntax error, or syntax newer than this Python's.
    parsed_tree = parse_source(path, data)
    return parsed_tree if isinstance(parsed_tree, Finding) else None


def parse_into(result: FileResult, path: str, data: bytes) -> cst.Module | None:
    """The file's tree (its encoding noted in ``result``), or None with the AM000
    finding that says why in ``result``."""
    parsed = parse_source(path, data)
    if isinstance(parsed, Finding):
        result.findings = result.remaining = [parsed]
        return None
    result.encoding = parsed.encoding
    return parsed


def parse_source(path: str, data: bytes) -> cst.Module | Finding:
    """The file's tree, or the AM000 finding that says why there is none."""
    try:
        module = parse_module(data)
    except cst.ParserSyntaxError as exc:
        line, column, message = _syntax_error(data, exc)
        return Finding(
            PARSE_ERROR_CODE, PARSE_ERROR_NAME, f"Cannot parse: {message}",
            path, line, column, line, column,
        )  # fmt: skip
    except (UnicodeError, LookupError, SyntaxError) as exc:
        # UnicodeError: a codec that exists but fails (a ``punycode`` cookie).
        message = f"Cannot decode: {exc}".encode("unicode_escape").decode("ascii")
        return Finding(PARSE_ERROR_CODE, PARSE_ERROR_NAME, message, path, 1, 1, 1, 1)
    except (RecursionError, MemoryError):
        return Finding(
            PARSE_ERROR_CODE, PARSE_ERROR_NAME,
            "Cannot parse: expressions nested too deeply", path, 1, 1, 1, 1,
        )  # fmt: skip
    # libcst accepts what CPython's implementation limits reject (nesting depth).
    return syntax_finding(path, data, parsed=True) or module


def _syntax_error(data: bytes, exc: cst.ParserSyntaxError) -> tuple[int, int, str]:
    """Line, column and message of a syntax error: CPython's own when it rejects the
    file too (its messages are the ones people know), else libcst's."""
    try:
        compile(data, "<file>", "exec", dont_inherit=True)
    except SyntaxError as error:
        if error.lineno:
            return error.lineno, error.offset or 1, error.msg
    except (ValueError, RecursionError, MemoryError):
        pass
    return exc.raw_line, exc.raw_column + 1, exc.message.removeprefix("parser error: ")
