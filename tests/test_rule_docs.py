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


# -- the generated reference pages, the rules table, summaries ---------------------------


def test_docs_rules_are_in_sync_with_the_registry(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`asyncmend rules --write-docs` into an empty folder gives exactly docs/rules."""
    from conftest import ROOT, asyncmend

    done = asyncmend("rules", "--write-docs", str(tmp_path / "rules"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    generated = {p.name: p.read_text() for p in (tmp_path / "rules").iterdir()}
    shipped = {p.name: p.read_text() for p in (ROOT / "docs" / "rules").iterdir()}
    assert generated.keys() == shipped.keys(), "run `asyncmend rules --write-docs docs/rules`"
    for name, text in generated.items():
        assert shipped[name] == text, (
            f"docs/rules/{name} is stale: run `asyncmend rules --write-docs docs/rules`"
        )
    assert {f"{rule.code}.md" for rule in all_rules()} | {"README.md"} == set(shipped)


def test_rule_page_is_the_docstring_with_a_header() -> None:
    from conftest import ROOT

    for rule in all_rules():
        page = (ROOT / "docs" / "rules" / f"{rule.code}.md").read_text()
        assert page.startswith(f"# {rule.name} ({rule.code})\n")
        assert rule.doc() in page


def test_rules_wraps_to_the_terminal_and_keeps_whole_summaries(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess

    from conftest import entry_point

    env = {**os.environ, "COLUMNS": "72", "NO_COLOR": "1"}
    done = subprocess.run(
        [entry_point(), "rules"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 72
    assert "\x1b[" not in done.stdout
    header = lines[0].split()
    assert header == ["code", "fix", "name", "status", "summary"]
    flat = " ".join(done.stdout.split())
    # AM205's summary used to stop at "... functions"; it now runs to the sentence's end.
    assert "a synchronous SQLAlchemy `Session` or `create_engine`" in flat
    assert all(f"{rule.code} " in done.stdout for rule in all_rules())
    assert "stable" in flat


def test_summary_ends_at_a_sentence_end() -> None:
    from asyncmend.codemods.base import Rule

    class Sample(Rule):
        """
        ## What it does
        Finds calls such as `urllib.request.urlopen`, e.g. `x.y()`, and the `a` / ... ones
        too. Second sentence here.
        """

        code = "ZZ999"
        name = "sample"

    assert Sample.summary() == (
        "Finds calls such as `urllib.request.urlopen`, e.g. `x.y()`, and the `a` / ... ones too"
    )
