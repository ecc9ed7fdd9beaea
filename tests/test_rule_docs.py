"""Every rule documents itself the way ``asyncmend explain`` prints it."""

from __future__ import annotations

import pytest

from asyncmend.codemods.registry import all_rules

HEADINGS = ("## What it does", "## Why is this bad?", "## Example", "## Use instead")


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_docstring_has_the_four_sections_in_order(rule) -> None:  # type: ignore[no-untyped-def]
    doc = rule.doc()
    positions = [doc.find(heading) for heading in HEADINGS]
    assert all(p >= 0 for p in positions), f"{rule.code} lacks {HEADINGS}"
    assert positions == sorted(positions)
    assert rule.summary() and rule.summary() != rule.name
