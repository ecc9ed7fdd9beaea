"""``check --add-noqa``: a ``# noqa: AMxxx`` on the line of every current finding, as
ruff's ``--add-noqa`` writes them, so that a legacy code base can adopt the tool now
and fix later.

- The directive goes on the finding's first line; when that line ends inside a string
  (a multi-line string starts there) or with a backslash continuation, where a comment
  cannot go, on its last line (a finding is suppressed by either); else nowhere, with
  a message.
- An existing ``# noqa: ...`` (or ``# asyncmend: ignore[...]``) on that line gets the
  codes merged in; otherwise ``  # noqa: CODES`` is appended after any comment.
- Files are written through the same safe path as ``fix``: verified to parse,
  atomically, and only if unchanged since the findings were computed.
"""

from __future__ import annotations

import io
import tokenize
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from asyncmend.engine.cache import content_hash
from asyncmend.engine.lines import line_ending, python_lines
from asyncmend.engine.noqa import IGNORE, NOQA, Directive, comments, parse_comment
from asyncmend.engine.results import PARSE_ERROR_CODE, FileResult, Finding
from asyncmend.engine.runner import InputError, read_source
from asyncmend.engine.verify import verify_output
from asyncmend.engine.writer import ChangedOnDiskError, write_atomic

#: Findings a suppression cannot or should not silence: a file that does not parse,
#: and a stale suppression (remove it instead).
_NOT_SUPPRESSIBLE = frozenset({PARSE_ERROR_CODE, "AM001"})


@dataclass
class AddNoqaOutcome:
    #: Directives added or extended, per written file.
    written: dict[str, int] = field(default_factory=dict)
    #: One line per finding or file that could not get its directive.
    problems: list[str] = field(default_factory=list)

    @property
    def added(self) -> int:
        return sum(self.written.values())


def _unsafe_line_ends(text: str) -> set[int]:
    """Lines whose end lies inside a string (a multi-line string, or an f-string's
    replacement field spanning lines) or that continue with a backslash."""
    lines = python_lines(text)
    feed = iter([line[: len(line) - len(line_ending(line))] + "\n" for line in lines])
    unsafe: set[int] = set()
    for token in tokenize.generate_tokens(lambda: next(feed, "")):
        if token.start[0] < token.end[0] and token.type != tokenize.NL:
            unsafe.update(range(token.start[0], token.end[0]))
    for number, line in enumerate(lines, start=1):
        body = line[: len(line) - len(line_ending(line))]
        if body.endswith("\\"):
            unsafe.add(number)
    return unsafe


def add_directives(text: str, findings: Iterable[Finding]) -> tuple[str, int, list[str]]:
    """``text`` with a directive for each finding: ``(new text, directives added or
    extended, problems)``. Raises ``tokenize.TokenError`` / ``SyntaxError`` on text the
    tokenizer refuses."""
    unsafe = _unsafe_line_ends(text)
    found = comments(text) or []
    by_line: dict[int, list[Directive]] = {}
    for line, column, comment in found:
        by_line.setdefault(line, []).extend(parse_comment(comment, line, column))
    wanted: dict[int, set[str]] = {}
    problems: list[str] = []
    for finding in findings:
        if finding.code in _NOT_SUPPRESSIBLE:
            continue
        target = next((n for n in (finding.line, finding.end_line) if n not in unsafe), None)
        if target is None:
            problems.append(
                f"{finding.path}:{finding.line}: no line of the {finding.code} finding can "
                "hold a comment; not suppressed"
            )
            continue
        wanted.setdefault(target, set()).add(finding.code)
    lines = python_lines(text)
    changed = 0
    for number, codes in sorted(wanted.items()):
        line = lines[number - 1]
        ending = line_ending(line)
        body = line[: len(line) - len(ending)]
        lines[number - 1] = _with_codes(body, by_line.get(number, []), codes) + ending
        changed += 1
    return "".join(lines), changed, problems


def _with_codes(body: str, directives: Sequence[Directive], codes: set[str]) -> str:
    """One line's body with ``codes`` added to its directive, or a new one."""
    listed = [d for d in directives if d.codes is not None]
    target = next((d for d in listed if d.kind == NOQA), None) or next(
        (d for d in listed if d.kind == IGNORE), None
    )
    if target is None:
        listed_codes = ", ".join(sorted(codes))
        return body.rstrip(" \t") + f"  # noqa: {listed_codes}"
    merged = list(target.codes or ())
    merged += sorted(codes - set(merged))
    close = "]" if target.kind == IGNORE else ""
    return body[: target.codes_start] + ", ".join(merged) + close + body[target.end :]


def _encoding(data: bytes) -> str:
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return encoding


def add_noqa(results: Sequence[FileResult]) -> AddNoqaOutcome:
    """Write the directives for every finding of a check run's ``results``."""
    outcome = AddNoqaOutcome()
    for result in results:
        findings = [f for f in result.findings if f.code not in _NOT_SUPPRESSIBLE]
        if not findings:
            continue
        path = result.path
        try:
            data = read_source(path)
        except InputError as exc:
            outcome.problems.append(str(exc))
            continue
        if result.digest and content_hash(data) != result.digest:
            outcome.problems.append(f"{path}: changed on disk since it was checked; not written")
            continue
        try:
            encoding = _encoding(data)
            text = data.decode(encoding)
            new_text, count, problems = add_directives(text, findings)
        except (SyntaxError, tokenize.TokenError, UnicodeDecodeError, LookupError) as exc:
            outcome.problems.append(f"{path}: cannot place directives ({exc}); not written")
            continue
        outcome.problems.extend(problems)
        new = new_text.encode(encoding)
        if not count or new == data:
            continue
        problem = verify_output(path, data, new)
        if problem:
            outcome.problems.append(problem)
            continue
        try:
            write_atomic(path, new, expected=data)
        except (ChangedOnDiskError, OSError) as exc:
            outcome.problems.append(f"{path}: not written: {exc}")
            continue
        outcome.written[path] = count
    return outcome
