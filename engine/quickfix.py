"""What an editor needs from the engine beyond findings: each finding's fix on its own,
as minimal text edits, and a suppression comment for one finding.

``asyncmend fix`` applies every allowed fix, round after round. An editor's quick fix
applies one: the tree is parsed once, the rules run once, and the chosen finding's
replacements (plus the imports it needs) are applied alone, then verified as every
written fix is (it parses, and compiles where the input compiled). Unsafe fixes are
computed too: the user picks them one at a time, as the label says.
"""

from __future__ import annotations

import difflib
import io
import os
import tokenize
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from asyncmend.engine.add_noqa import add_directives
from asyncmend.engine.api import _prepare
from asyncmend.engine.index import RepoIndex
from asyncmend.engine.lines import line_ending, python_lines
from asyncmend.engine.process import _run_rules, _to_finding, apply_fixes
from asyncmend.engine.results import Finding
from asyncmend.engine.syntax import parse_source
from asyncmend.engine.verify import verify_output

#: Line ends as LSP counts them (``str.splitlines`` would also split on form feeds).

FindingKey = tuple[str, int, int, int, int, str]


def finding_key(finding: Finding) -> FindingKey:
    """Identifies a finding within one version of a file."""
    return (
        finding.code, finding.line, finding.column, finding.end_line, finding.end_column,
        finding.message,
    )  # fmt: skip


@dataclass(frozen=True)
class TextEdit:
    """Replace ``[start, end)`` with ``new_text``; positions are 0-based
    ``(line, column)`` with columns counted in code points."""

    start: tuple[int, int]
    end: tuple[int, int]
    new_text: str


def split_lines(text: str) -> list[str]:
    """Lines with their ends, split where LSP and Python split them (``\\n``, ``\\r\\n``,
    ``\\r``)."""
    return python_lines(text)


def minimal_edits(before: str, after: str) -> list[TextEdit]:
    """Edits that turn ``before`` into ``after``, touching only what changed: lines
    are matched with difflib, then each changed block is trimmed to the characters
    that differ (adding ``await`` is one insertion of six characters)."""
    old, new = split_lines(before), split_lines(after)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    edits = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        removed, added = "".join(old[i1:i2]), "".join(new[j1:j2])
        prefix = _common_prefix(removed, added)
        limit = min(len(removed), len(added)) - prefix
        suffix = 0
        while suffix < limit and removed[-1 - suffix] == added[-1 - suffix]:
            suffix += 1
        start = _position(old, i1, prefix)
        end = _position(old, i1, len(removed) - suffix)
        edits.append(TextEdit(start, end, added[prefix : len(added) - suffix]))
    return edits


def _common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix of two strings."""
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return min(len(a), len(b))


def apply_edits(text: str, edits: Sequence[TextEdit]) -> str:
    """``text`` with non-overlapping ``edits`` applied (what an editor does)."""
    lines = split_lines(text)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(position: tuple[int, int]) -> int:
        line, column = position
        return starts[min(line, len(lines))] + column

    out = text
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        out = out[: offset(edit.start)] + edit.new_text + out[offset(edit.end) :]
    return out


def _position(lines: Sequence[str], line: int, offset: int) -> tuple[int, int]:
    """The ``(line, column)`` of ``offset`` characters past the start of ``lines[line]``."""
    while line < len(lines) and offset >= len(lines[line]) and offset > 0:
        offset -= len(lines[line])
        line += 1
    return line, offset


def source_bytes(text: str) -> tuple[bytes, str]:
    """The bytes of an editor buffer as the file would hold them, and their codec
    (a ``# -*- coding: latin-1 -*-`` file is saved in latin-1)."""
    data = text.encode("utf-8", "surrogatepass")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        return data, "utf-8"
    if encoding in ("utf-8", "utf-8-sig"):
        return data, "utf-8"
    try:
        return text.encode(encoding), encoding
    except (UnicodeEncodeError, LookupError):
        return data, "utf-8"


def single_fixes(
    text: str,
    filename: str | os.PathLike[str],
    wanted: Collection[FindingKey],
    *,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    config_path: str | os.PathLike[str] | None = None,
    index: RepoIndex | None = None,
) -> dict[FindingKey, str | None]:
    """The buffer after applying each wanted finding's fix alone (None when that fix
    fails verification). Findings without a fix, or not wanted, are left out."""
    # The engine's own steps, in the order process_source takes them (one parse, one
    # walk of every rule), then one fix at a time instead of the fix loop.
    path = str(filename)
    data, codec = source_bytes(text)
    _config, job = _prepare(
        Path(path), select, ignore, True, True, None, config_path, None, None, None
    )
    if index is not None:
        job.index = index
    module = parse_source(path, data)
    if isinstance(module, Finding):
        return {}
    raw, positions, _suppressions = _run_rules(path, data, module, job.rules, job)
    out: dict[FindingKey, str | None] = {}
    for item in raw:
        if item.fix is None:
            continue
        key = finding_key(_to_finding(path, item, positions.span(item.node)))
        if key not in wanted:
            continue
        fixed = apply_fixes(module, [item], positions).bytes
        if fixed == data or verify_output(path, data, fixed):
            out[key] = None
        else:
            out[key] = fixed.decode(codec)
    return out


def suppression_edit(text: str, finding: Finding) -> TextEdit | None:
    """An edit that silences ``finding`` as ``check --add-noqa`` would: ``# noqa: CODE``
    on its first line (or its last, when the first ends inside a string), merged into a
    ``noqa`` or ``asyncmend: ignore[...]`` comment already there. None when no line can
    hold it."""
    try:
        fixed, added, _problems = add_directives(text, [finding])
    except (tokenize.TokenError, SyntaxError):
        return None
    if not added:
        return None
    for number, (old, new) in enumerate(zip(python_lines(text), python_lines(fixed), strict=True)):
        if old != new:
            old_body = old[: len(old) - len(line_ending(old))]
            new_body = new[: len(new) - len(line_ending(new))]
            prefix = _common_prefix(old_body, new_body)
            return TextEdit((number, prefix), (number, len(old_body)), new_body[prefix:])
    return None
