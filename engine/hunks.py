"""Hunks of a fix: the line ranges a fixed file differs in, which findings each covers,
and the file rebuilt from any subset of them (interactive review, SARIF fixes)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from asyncmend.engine.diff import grouped_opcodes, line_opcodes, marked
from asyncmend.engine.results import Finding


@dataclass(frozen=True)
class Hunk:
    """``before[start:end]`` becomes ``after[new_start:new_end]`` (0-based, end excluded).

    With context, the ranges include the unchanged lines around the change; ``changes``
    holds the changed ranges alone, as ``(start, end, new_start, new_end)``.
    """

    start: int
    end: int
    new_start: int
    new_end: int
    changes: tuple[tuple[int, int, int, int], ...]

    def touches(self, first_line: int, last_line: int) -> bool:
        """Whether a 1-based inclusive line range meets a changed line of this hunk (an
        insertion counts for the line before and the line after it)."""
        for start, end, _, _ in self.changes:
            if end > start:  # original lines start+1 .. end (1-based) are replaced
                if first_line <= end and last_line >= start + 1:
                    return True
            elif first_line <= start + 1 and last_line >= start:
                return True
        return False


def compute_hunks(before: Sequence[str], after: Sequence[str], context: int = 3) -> list[Hunk]:
    """The hunks of a unified diff with ``context`` lines, as ``git diff`` groups them."""
    hunks = []
    for group in grouped_opcodes(line_opcodes(before, after, autojunk=False), context):
        changes = tuple((i1, i2, j1, j2) for tag, i1, i2, j1, j2 in group if tag != "equal")
        if not changes:
            continue
        hunks.append(Hunk(group[0][1], group[-1][2], group[0][3], group[-1][4], changes))
    return hunks


def apply_hunks(before: Sequence[str], after: Sequence[str], chosen: Iterable[Hunk]) -> list[str]:
    """``before`` with the chosen hunks (of ``compute_hunks(before, after)``) applied."""
    out: list[str] = []
    position = 0
    for hunk in sorted(chosen, key=lambda h: h.start):
        if hunk.start < position:
            raise ValueError("overlapping hunks")
        out.extend(before[position : hunk.start])
        out.extend(after[hunk.new_start : hunk.new_end])
        position = hunk.end
    out.extend(before[position:])
    return out


def hunk_findings(hunk: Hunk, findings: Sequence[Finding]) -> list[Finding]:
    """The findings whose fix (or, where the fix's lines are unknown, whose own
    original line range) meets a line the hunk changes."""
    return [f for f in findings if _touches_fix(hunk, f)]


def _touches_fix(hunk: Hunk, finding: Finding) -> bool:
    if finding.fix_line is not None and finding.fix_end_line is not None:
        if hunk.touches(finding.fix_line, finding.fix_end_line):
            return True
    return hunk.touches(finding.line, finding.end_line)


def finding_hunks(finding: Finding, hunks: Sequence[Hunk]) -> list[Hunk]:
    """The hunks that belong to one finding's fix."""
    return [h for h in hunks if _touches_fix(h, finding)]


def render_hunk(hunk: Hunk, before: Sequence[str], after: Sequence[str]) -> str:
    """The hunk as unified-diff text, ``@@`` header first."""

    def span(start: int, end: int) -> str:
        length = end - start
        first = start + 1 if length else start
        return f"{first}" if length == 1 else f"{first},{length}"

    out = [f"@@ -{span(hunk.start, hunk.end)} +{span(hunk.new_start, hunk.new_end)} @@\n"]
    position = hunk.start
    for start, end, new_start, new_end in hunk.changes:
        out.extend(marked(" ", before[position:start]))
        out.extend(marked("-", before[start:end]))
        out.extend(marked("+", after[new_start:new_end]))
        position = end
    out.extend(marked(" ", before[position : hunk.end]))
    return "".join(out)
