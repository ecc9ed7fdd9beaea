"""Hunks of a fix: every subset of hunks rebuilds the file a partial review must write."""

from __future__ import annotations

import itertools
import random

import pytest

from asyncmend.engine.diff import split_lines, unified_diff
from asyncmend.engine.hunks import apply_hunks, compute_hunks, hunk_findings, render_hunk
from asyncmend.engine.results import Finding

BEFORE = "".join(f"line {i}\n" for i in range(1, 41))


def _edit(text: str, edits: dict[int, str | None]) -> str:
    lines = text.split("\n")
    out = []
    for number, line in enumerate(lines, 1):
        if number in edits:
            if edits[number] is not None:
                out.append(edits[number])
        else:
            out.append(line)
    return "\n".join(out)


def test_all_hunks_give_the_fixed_file_and_none_give_the_original() -> None:
    after = _edit(BEFORE, {3: "changed 3", 20: None, 38: "changed 38\nadded"})
    before_lines, after_lines = split_lines(BEFORE), split_lines(after)
    hunks = compute_hunks(before_lines, after_lines)
    assert len(hunks) == 3
    assert "".join(apply_hunks(before_lines, after_lines, hunks)) == after
    assert "".join(apply_hunks(before_lines, after_lines, [])) == BEFORE


def test_each_subset_applies_exactly_its_own_changes() -> None:
    edits = {3: "changed 3", 20: None, 38: "changed 38\nadded"}
    after = _edit(BEFORE, edits)
    before_lines, after_lines = split_lines(BEFORE), split_lines(after)
    hunks = compute_hunks(before_lines, after_lines)
    keys = sorted(edits)
    for size in range(len(hunks) + 1):
        for chosen in itertools.combinations(range(len(hunks)), size):
            expected = _edit(BEFORE, {keys[i]: edits[keys[i]] for i in chosen})
            got = "".join(apply_hunks(before_lines, after_lines, [hunks[i] for i in chosen]))
            assert got == expected, chosen


def test_random_edits_round_trip() -> None:
    rng = random.Random(7)
    base = [f"x{i}\n" for i in range(60)]
    for _ in range(200):
        after = list(base)
        for _ in range(rng.randint(1, 6)):
            where = rng.randrange(len(after) + 1)
            action = rng.choice(["insert", "delete", "replace"])
            if action == "insert":
                after.insert(where, f"new{rng.random()}\n")
            elif after and where < len(after):
                if action == "delete":
                    del after[where]
                else:
                    after[where] = f"rep{rng.random()}\n"
        hunks = compute_hunks(base, after)
        assert apply_hunks(base, after, hunks) == after
        assert apply_hunks(base, after, []) == base


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_crlf_and_missing_final_newline_survive(newline: str) -> None:
    before = newline.join(["a", "b", "c", "d"])  # no final newline
    after = newline.join(["a", "B", "c", "d", "e"])
    before_lines, after_lines = split_lines(before), split_lines(after)
    hunks = compute_hunks(before_lines, after_lines, context=0)
    assert len(hunks) == 2
    assert "".join(apply_hunks(before_lines, after_lines, hunks)) == after
    assert "".join(apply_hunks(before_lines, after_lines, hunks[:1])) == newline.join(
        ["a", "B", "c", "d"]
    )


def test_rendered_hunks_match_the_unified_diff() -> None:
    after = _edit(BEFORE, {3: "changed 3", 20: None, 38: "changed 38\nadded"})
    before_lines, after_lines = split_lines(BEFORE), split_lines(after)
    rendered = "".join(
        render_hunk(h, before_lines, after_lines) for h in compute_hunks(before_lines, after_lines)
    )
    diff = unified_diff("x.py", BEFORE, after)
    assert diff.split("\n", 2)[2] == rendered


def _finding(line: int, end_line: int) -> Finding:
    return Finding("AM101", "bare-session", "m", "x.py", line, 1, end_line, 2)


def test_findings_belong_to_the_hunks_that_change_their_lines() -> None:
    after = _edit(BEFORE, {3: "changed 3", 20: None})
    before_lines, after_lines = split_lines(BEFORE), split_lines(after)
    first, second = compute_hunks(before_lines, after_lines)
    on_3, on_20, on_10, spanning = (
        _finding(3, 3),
        _finding(20, 20),
        _finding(10, 10),
        _finding(2, 5),
    )
    findings = [on_3, on_20, on_10, spanning]
    assert hunk_findings(first, findings) == [on_3, spanning]
    assert hunk_findings(second, findings) == [on_20]


def test_a_large_file_s_diff_is_anchored_and_rebuilds_the_fixed_file() -> None:
    """Above ``WHOLE_FILE_LINES`` the diff is cut at lines unique on both sides (difflib
    over a whole 15,000-line file takes seconds); applying every hunk gives the fixed
    file, and small files keep difflib's own output."""
    import difflib

    from asyncmend.engine.diff import WHOLE_FILE_LINES, line_opcodes, split_lines, unified_diff

    units = [
        f"def f{n}(x):\n    y = x + 1\n    time.sleep(1)\n    z = y * 2\n    w = z - 1\n"
        f"    v = w + y\n    return v\n\n"
        for n in range(500)
    ]
    before = "import time\n\n" + "".join(units)
    after = before.replace("    time.sleep(1)\n", "    await asyncio.sleep(1)\n")
    old, new = split_lines(before), split_lines(after)
    assert len(old) + len(new) > WHOLE_FILE_LINES
    ops = line_opcodes(old, new, autojunk=False)
    assert sum(1 for op in ops if op[0] != "equal") == 500
    hunks = compute_hunks(old, new)
    assert "".join(apply_hunks(old, new, hunks)) == after
    assert unified_diff("a.py", before, after).count("@@ -") == len(hunks) == 500
    small_before, small_after = "".join(units[:5]), "".join(units[:5]).replace("x + 1", "x + 2")
    expected = "".join(
        difflib.unified_diff(
            split_lines(small_before), split_lines(small_after), "a/a.py", "b/a.py"
        )
    )
    assert unified_diff("a.py", small_before, small_after) == expected
