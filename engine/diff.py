"""Unified diffs with ``a/`` and ``b/`` prefixes, as ``git apply`` expects them."""

from __future__ import annotations

import bisect
import difflib
from collections.abc import Iterator, Sequence

NO_NEWLINE = "\\ No newline at end of file\n"


def text_codec(encoding: str) -> str:
    """The codec that turns a file's bytes into diff text and back byte for byte: a BOM
    stays a character of line 1 (``utf-8-sig`` would drop it on decoding and put it in
    front of the patch on encoding)."""
    return "utf-8" if encoding.lower().replace("_", "-") == "utf-8-sig" else encoding


def split_lines(text: str) -> list[str]:
    # splitlines(keepends=True) would also split on form feeds and other separators
    # that git does not treat as line ends; split on "\n" only, keeping "\r".
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


#: Files up to this many lines (both sides together) are matched by ``difflib`` as a
#: whole; larger ones are first cut at lines that occur once on each side.
WHOLE_FILE_LINES = 4000

Opcode = tuple[str, int, int, int, int]


def line_opcodes(before: Sequence[str], after: Sequence[str], *, autojunk: bool) -> list[Opcode]:
    """``difflib.SequenceMatcher(None, before, after, autojunk=...).get_opcodes()`` for
    a file of ordinary size. On a large file with many fixes that matcher takes seconds
    (7 s of a 20 s ``diff`` of one 15,000-line file), so there the files are first
    aligned on lines that occur exactly once in each (a patience diff's anchors, in
    their longest common order) and the matcher runs between consecutive anchors."""
    if len(before) + len(after) <= WHOLE_FILE_LINES:
        matcher = difflib.SequenceMatcher(None, before, after, autojunk=autojunk)
        return [tuple(op) for op in matcher.get_opcodes()]  # type: ignore[misc]
    ops: list[Opcode] = []
    _anchored(before, after, 0, len(before), 0, len(after), ops)
    return _merged(ops)


def _anchored(
    a: Sequence[str], b: Sequence[str], i1: int, i2: int, j1: int, j2: int, ops: list[Opcode]
) -> None:
    start_i, start_j = i1, j1
    while i1 < i2 and j1 < j2 and a[i1] == b[j1]:  # common head
        i1, j1 = i1 + 1, j1 + 1
    if i1 > start_i:
        ops.append(("equal", start_i, i1, start_j, j1))
    tail = 0
    while i2 - tail > i1 and j2 - tail > j1 and a[i2 - tail - 1] == b[j2 - tail - 1]:
        tail += 1
    end_i, end_j = i2, j2
    i2, j2 = i2 - tail, j2 - tail
    anchors = _anchors(a, b, i1, i2, j1, j2)
    if not anchors or (i2 - i1) + (j2 - j1) <= WHOLE_FILE_LINES:
        matcher = difflib.SequenceMatcher(None, a[i1:i2], b[j1:j2], autojunk=False)
        for tag, x1, x2, y1, y2 in matcher.get_opcodes():
            ops.append((tag, i1 + x1, i1 + x2, j1 + y1, j1 + y2))
    else:
        for i, j in anchors:
            _anchored(a, b, i1, i, j1, j, ops)
            ops.append(("equal", i, i + 1, j, j + 1))
            i1, j1 = i + 1, j + 1
        _anchored(a, b, i1, i2, j1, j2, ops)
    if tail:
        ops.append(("equal", i2, end_i, j2, end_j))


def _anchors(
    a: Sequence[str], b: Sequence[str], i1: int, i2: int, j1: int, j2: int
) -> list[tuple[int, int]]:
    """Pairs of positions of the lines that occur once in ``a[i1:i2]`` and once in
    ``b[j1:j2]``, the longest run of them in the same order on both sides."""
    count_a: dict[str, int] = {}
    where_a: dict[str, int] = {}
    for i in range(i1, i2):
        count_a[a[i]] = count_a.get(a[i], 0) + 1
        where_a[a[i]] = i
    count_b: dict[str, int] = {}
    where_b: dict[str, int] = {}
    for j in range(j1, j2):
        count_b[b[j]] = count_b.get(b[j], 0) + 1
        where_b[b[j]] = j
    pairs = sorted(
        (where_a[line], where_b[line])
        for line, count in count_a.items()
        if count == 1 and count_b.get(line) == 1
    )
    # The longest subsequence increasing in b (patience sorting, O(k log k)).
    tops: list[int] = []  # b positions ending the best run of each length
    ends: list[int] = []  # index into pairs of that run's last pair
    previous = [-1] * len(pairs)
    for index, (_, j) in enumerate(pairs):
        at = bisect.bisect_left(tops, j)
        if at == len(tops):
            tops.append(j)
            ends.append(index)
        else:
            tops[at], ends[at] = j, index
        previous[index] = ends[at - 1] if at else -1
    run: list[tuple[int, int]] = []
    index = ends[-1] if ends else -1
    while index != -1:
        run.append(pairs[index])
        index = previous[index]
    return run[::-1]


def _merged(ops: list[Opcode]) -> list[Opcode]:
    """Adjacent opcodes of one kind joined, as ``SequenceMatcher`` reports them."""
    out: list[Opcode] = []
    for op in ops:
        if op[1] == op[2] and op[3] == op[4]:
            continue
        if out and out[-1][0] == op[0] == "equal":
            tag, x1, _, y1, _ = out[-1]
            out[-1] = (tag, x1, op[2], y1, op[4])
        else:
            out.append(op)
    return out


def grouped_opcodes(ops: Sequence[Opcode], context: int = 3) -> Iterator[list[Opcode]]:
    """``SequenceMatcher.get_grouped_opcodes(context)`` over ``ops``: the changes with
    ``context`` unchanged lines around them, one group per hunk."""
    codes = list(ops) or [("equal", 0, 1, 0, 1)]
    if codes[0][0] == "equal":
        tag, i1, i2, j1, j2 = codes[0]
        codes[0] = tag, max(i1, i2 - context), i2, max(j1, j2 - context), j2
    if codes[-1][0] == "equal":
        tag, i1, i2, j1, j2 = codes[-1]
        codes[-1] = tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context)
    group: list[Opcode] = []
    for tag, i1, i2, j1, j2 in codes:
        if tag == "equal" and i2 - i1 > 2 * context:
            group.append((tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context)))
            yield group
            group = []
            i1, j1 = max(i1, i2 - context), max(j1, j2 - context)
        group.append((tag, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        yield group


def unified_diff(path: str, before: str, after: str, context: int = 3) -> str:
    """The diff of one file; empty when nothing changed."""
    if before == after:
        return ""
    name = path.replace("\\", "/")
    if name.startswith("./"):
        name = name[2:]
    old, new = split_lines(before), split_lines(after)
    out = [f"--- a/{name}\n", f"+++ b/{name}\n"]
    for group in grouped_opcodes(line_opcodes(old, new, autojunk=True), context):
        first, last = group[0], group[-1]
        out.append(f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out.extend(marked(" ", old[i1:i2]))
                continue
            out.extend(marked("-", old[i1:i2]))
            out.extend(marked("+", new[j1:j2]))
    return "".join(out)


def _range(start: int, stop: int) -> str:
    """A hunk header's range, as ``difflib.unified_diff`` writes it."""
    length = stop - start
    first = start + 1 if length else start
    return f"{first}" if length == 1 else f"{first},{length}"


def marked(mark: str, lines: Sequence[str]) -> list[str]:
    """Diff lines; the last line of a file without a final newline says so."""
    return [
        mark + line if line.endswith("\n") else mark + line + "\n" + NO_NEWLINE for line in lines
    ]
