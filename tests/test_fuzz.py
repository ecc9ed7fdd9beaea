"""Fuzzing the fix invariants (DESIGN.md) with hypothesis: fixture files mutated in
ways real code varies (comments everywhere, blank lines, CRLF, a BOM, tabs, suppression
comments, code from hypothesmith spliced in), plus hypothesmith's grammar-generated
modules. For every input the engine must:

- report no internal error (a crashing rule, a fix that fails verification);
- produce output that parses, and compiles where the input compiled;
- be idempotent: fixing the output changes nothing;
- change bytes only in hunks that belong to a fix (a finding's or its fix's lines, or
  module-level additions above the first function: imports, a task set);
- respect suppressions: a finding whose line carries ``# asyncmend: ignore`` is neither
  reported nor fixed.

CI runs a bounded profile (about 30-60 s). The long profile, for a fuzzing session:

    ASYNCMEND_FUZZ=long .venv/bin/pytest -q tests/test_fuzz.py -p no:cacheprovider

(``ASYNCMEND_FUZZ_EXAMPLES=N`` sets the number of examples per test.) Every failure it
finds becomes a small fixture-style regression test (the rule's fixtures for a rule's
fix, ``tests/test_bad_inputs.py`` for the engine).
"""

from __future__ import annotations

import ast
import difflib
import os
from functools import cache
from pathlib import Path

from conftest import FIXTURES
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from asyncmend.engine.api import run_source

LONG = os.environ.get("ASYNCMEND_FUZZ") == "long"
EXAMPLES = int(os.environ.get("ASYNCMEND_FUZZ_EXAMPLES", "5000" if LONG else "12"))
settings.register_profile(
    "asyncmend-fuzz",
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG,  # CI: the same inputs every run, no flakiness
    suppress_health_check=list(HealthCheck),
    database=None,
)
FUZZ = settings.get_profile("asyncmend-fuzz")


@cache
def _fixture_sources() -> tuple[bytes, ...]:
    files = sorted(p for p in (FIXTURES / "rules").rglob("*.py") if ".expected" not in p.name)
    return tuple(p.read_bytes() for p in files)


@cache
def _positive_sources() -> tuple[bytes, ...]:
    """Fixture files that have findings (suppressing one needs one)."""
    files = sorted((FIXTURES / "rules").rglob("positive*.py"))
    return tuple(p.read_bytes() for p in files if ".expected" not in p.name)


def _compiles(data: bytes) -> bool:
    try:
        compile(data, "<fuzz>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def _fix(data: bytes, tmp: Path):  # type: ignore[no-untyped-def]
    report = run_source(data, tmp / "case.py", fix=True, unsafe_fixes=True)
    assert report.internal_errors == [], report.internal_errors[0][-2000:]
    assert report.input_errors == []
    return report.results[0] if report.results else None


def _first_def_line(data: bytes) -> int:
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError, RecursionError):
        return 0
    lines = [
        node.lineno
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    ]
    return min(lines, default=len(data.splitlines()) + 1)


def check_invariants(data: bytes, tmp: Path) -> None:
    result = _fix(data, tmp)
    if result is None or result.fixed is None:
        return
    fixed = result.fixed
    from libcst import parse_module

    parse_module(fixed)  # output parses
    if _compiles(data):
        assert _compiles(fixed), "the fix made compiling code not compile"
    again = _fix(fixed, tmp)
    assert again is None or again.fixed is None, "a second fix changed the output again"
    # Every changed range belongs to a fix, or is a module-level addition above the
    # first function (imports, a task set).
    before, after = data.splitlines(keepends=True), fixed.splitlines(keepends=True)
    fixed_findings = [f for f in result.findings if f.code in result.applied]
    top = _first_def_line(data)
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for tag, i1, i2, _j1, _j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        first, last = i1 + 1, max(i1 + 1, i2)
        owned = any(
            _meets(first, last, f.line, f.end_line)
            or (f.fix_line is not None and _meets(first, last, f.fix_line, f.fix_end_line))
            or _meets(first, last, _enclosing_def(data, f.line), f.end_line)
            for f in fixed_findings
        )
        assert owned or last <= top, f"lines {first}-{last} changed by no fix"


def _meets(first: int, last: int, start: int, end: int | None) -> bool:
    end = start if end is None else end
    return first <= end + 1 and last >= start - 1


@cache
def _defs(data: bytes) -> tuple[tuple[int, int], ...]:
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError, RecursionError):
        return ()
    return tuple(
        (node.lineno, node.end_lineno or node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    )


def _enclosing_def(data: bytes, line: int) -> int:
    """First line of the innermost function around ``line`` (a fix may rewrite the
    whole body it sits in, e.g. AM101's ``async with``), else ``line``."""
    inside = [start for start, end in _defs(data) if start <= line <= end]
    return max(inside, default=line)


# -- mutations of fixture files ----------------------------------------------------------

COMMENTS = ["# note", "# asyncmend: ignore", "# noqa", "# type: ignore", "#", "# é ü 中"]


@st.composite
def mutated_fixture(draw: st.DrawFn) -> bytes:
    source = draw(st.sampled_from(_fixture_sources()))
    lines = source.decode("utf-8", "surrogateescape").split("\n")
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["comment", "blank", "comment-line", "trailing-ws"]))
        at = draw(st.integers(0, max(0, len(lines) - 1)))
        if op == "comment" and lines[at].strip() and '"""' not in lines[at]:
            lines[at] = f"{lines[at]}  {draw(st.sampled_from(COMMENTS))}"
        elif op == "blank":
            lines.insert(at, "")
        elif op == "comment-line":
            indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
            lines.insert(at, f"{indent}{draw(st.sampled_from(COMMENTS))}")
        elif op == "trailing-ws" and lines[at].strip():
            lines[at] = lines[at] + " "
    text = "\n".join(lines)
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    data = text.encode("utf-8", "surrogateescape")
    if draw(st.integers(0, 9)) == 0:
        data = b"\xef\xbb\xbf" + data
    return data


@FUZZ
@given(data=mutated_fixture())
def test_fix_invariants_on_mutated_fixtures(data: bytes, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    check_invariants(data, tmp_path_factory.getbasetemp())


@settings(FUZZ, max_examples=max(1, EXAMPLES // 2))  # two runs per example
@given(source=st.sampled_from(_positive_sources()), pick=st.integers(0, 10_000))
def test_a_suppressed_finding_is_neither_reported_nor_fixed(
    source: bytes,
    pick: int,
    tmp_path_factory,  # type: ignore[no-untyped-def]
) -> None:
    tmp = tmp_path_factory.getbasetemp()
    result = _fix(source, tmp)
    # AM001 judges suppressions themselves: adding one changes what it means.
    findings = [] if result is None else [f for f in result.findings if f.code != "AM001"]
    assume(findings)
    finding = findings[pick % len(findings)]
    # bytes.splitlines splits where Python does: \n, \r\n and \r only
    lines = source.splitlines(keepends=True)
    target = lines[finding.line - 1]
    body = target.rstrip(b"\r\n")
    assume(b'"""' not in body and b"'''" not in body)
    assume(not body.rstrip().endswith(b"\\"))  # no comment after a continuation
    lines[finding.line - 1] = body + b"  # asyncmend: ignore" + target[len(body) :]
    suppressed = b"".join(lines)
    after = _fix(suppressed, tmp)
    reported = [] if after is None else after.findings
    assert not [f for f in reported if f.line == finding.line and f.code == finding.code]
    if after is not None and after.fixed is not None:
        assert suppressed.splitlines()[finding.line - 1] in after.fixed.splitlines()


# -- hypothesmith: any valid Python --------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_fix_invariants_on_generated_modules(data: st.DataObject, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    import hypothesmith

    source = data.draw(hypothesmith.from_node())
    prefix = data.draw(st.sampled_from(_fixture_sources()))
    try:
        generated = source.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: not a file anyone can save
        assume(False)
    # Generated code alone rarely triggers a rule: splice it after a fixture.
    combined = prefix + b"\n" + generated
    check_invariants(combined, tmp_path_factory.getbasetemp())
