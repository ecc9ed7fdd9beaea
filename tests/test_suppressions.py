"""Suppression comments read as flake8/ruff read ``noqa``, on Python's own lines, in real
comments only; AM001 unused-suppression; AM000 for every unparsable file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import asyncmend

from asyncmend.engine.lines import python_lines
from asyncmend.engine.noqa import IGNORE, NOQA, Suppressions, parse_comment

SLEEP = "import time\n\n\nasync def f():\n"


def _codes(result) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    return [(f["code"], f["location"]["row"]) for f in json.loads(result.stdout)]


# -- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("comment", "codes"),
    [
        ("# noqa", None),
        ("# NOQA", None),
        ("#noqa:AM101", ("AM101",)),
        ("# noqa: AM101,AM205", ("AM101", "AM205")),
        ("# noqa: AM101 AM205", ("AM101", "AM205")),
        ("# noqa: AM101, AM205 because of a reason", ("AM101", "AM205")),
        ("# noqa: E501 because a line is long", ("E501",)),
        ("# noqa: AM2", ("AM2",)),
        ("# type: ignore  # noqa: AM101", ("AM101",)),
    ],
)
def test_noqa_codes_as_flake8_reads_them(comment: str, codes) -> None:  # type: ignore[no-untyped-def]
    [directive] = parse_comment(comment)
    assert directive.kind == NOQA
    assert directive.codes == codes


@pytest.mark.parametrize("comment", ["# noqa:", "# noqa: because", "# noqaxyz", "# no qa"])
def test_not_a_directive(comment: str) -> None:
    assert parse_comment(comment) == []


def test_asyncmend_ignore_forms() -> None:
    [bare] = parse_comment("# asyncmend: ignore")
    [listed] = parse_comment("# asyncmend: ignore[AM101, AM205]")
    assert (bare.kind, bare.codes) == (IGNORE, None)
    assert listed.codes == ("AM101", "AM205")
    assert parse_comment("# asyncmend: ignore[AM101") == []  # unclosed
    assert parse_comment("# asyncmend: ignore[not codes]") == []


def test_exact_codes_only() -> None:
    suppressions = Suppressions.of("x = 1  # noqa: AM2\n")
    assert not suppressions.suppresses("AM205", 1, 1)
    suppressions = Suppressions.of("x = 1  # noqa: AM205\n")
    assert suppressions.suppresses("AM205", 1, 1)


def test_python_line_model() -> None:
    text = "a\x0cb\u2028c\r\nd\re\nf"
    assert python_lines(text) == ["a\x0cb\u2028c\r\n", "d\r", "e\n", "f"]


def test_directive_in_a_string_is_not_one() -> None:
    text = 'x = "# noqa: AM205"; y = 1\ns = """\n# noqa\n"""\n'
    assert Suppressions.of(text).by_line == {}


# -- end to end ---------------------------------------------------------------------------


@pytest.mark.parametrize("separator", ["\x0c", "\u2028", "\x1c", "\x85"])
def test_suppression_stays_on_its_line_after_odd_separators(tmp_path: Path, separator: str) -> None:
    # str.splitlines breaks inside the comment on line 5, so line 6's noqa was read as
    # line 7's, and line 6's finding was rewritten.
    source = (
        SLEEP + f"    # a note{separator}with an odd character\n"
        "    time.sleep(1)  # noqa: AM205\n"
        "    time.sleep(2)\n"
    )
    (tmp_path / "a.py").write_text(source, encoding="utf-8")
    result = asyncmend("check", "--format", "json", "--select", "AM205", "a.py", cwd=tmp_path)
    assert _codes(result) == [("AM205", 7)], result.stderr
    fixed = asyncmend("fix", "--select", "AM205", "a.py", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    lines = (tmp_path / "a.py").read_text(encoding="utf-8").split("\n")
    assert "    time.sleep(1)  # noqa: AM205" in lines
    assert "    await asyncio.sleep(2)" in lines


def test_carriage_return_line_ends(tmp_path: Path) -> None:
    source = SLEEP + "    time.sleep(1)  # noqa: AM205\n    time.sleep(2)\n"
    (tmp_path / "a.py").write_bytes(source.replace("\n", "\r").encode())
    result = asyncmend("check", "--format", "json", "--select", "AM205", "a.py", cwd=tmp_path)
    assert _codes(result) == [("AM205", 6)], result.stderr


def test_noqa_in_a_string_suppresses_nothing(tmp_path: Path) -> None:
    source = SLEEP + '    x = "# noqa"; time.sleep(1)\n'
    (tmp_path / "a.py").write_text(source)
    result = asyncmend("check", "--format", "json", "--select", "AM205", "a.py", cwd=tmp_path)
    assert _codes(result) == [("AM205", 5)]


@pytest.mark.parametrize(
    ("comment", "suppressed"),
    [
        ("# noqa: E501 because a line is long", False),
        ("# noqa: AM2", False),
        ("# noqa:AM205", True),
        ("# noqa: E501 AM205", True),
        ("# noqa: E501,AM205", True),
        ("# noqa", True),
        ("# asyncmend: ignore[AM205]", True),
        ("# asyncmend: ignore[AM20]", False),
    ],
)
def test_noqa_semantics_end_to_end(tmp_path: Path, comment: str, suppressed: bool) -> None:
    (tmp_path / "a.py").write_text(SLEEP + f"    time.sleep(1)  {comment}\n")
    result = asyncmend("check", "--format", "json", "--select", "AM205", "a.py", cwd=tmp_path)
    assert _codes(result) == ([] if suppressed else [("AM205", 5)])


# -- AM001 unused-suppression -----------------------------------------------------------

STALE = SLEEP + (
    "    time.sleep(1)  # noqa: AM205\n"
    "    x = 1  # noqa: AM205, E501\n"
    "    y = 2  # asyncmend: ignore[AM101]\n"
    "    return x + y  # noqa: AM101  # noqa: AM001\n"
)


def test_unused_suppressions_reported_and_fixed(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(STALE)
    result = asyncmend("check", "--format", "json", "a.py", cwd=tmp_path)
    assert result.returncode == 1
    found = json.loads(result.stdout)
    assert [(f["code"], f["location"]["row"]) for f in found] == [("AM001", 6), ("AM001", 7)]
    assert found[0]["message"] == "Unused `noqa` directive (unused: `AM205`)"
    assert found[0]["fix"]["applicability"] == "safe"
    fixed = asyncmend("fix", "a.py", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert (tmp_path / "a.py").read_text() == SLEEP + (
        "    time.sleep(1)  # noqa: AM205\n"
        "    x = 1  # noqa: E501\n"
        "    y = 2\n"
        "    return x + y  # noqa: AM101  # noqa: AM001\n"
    )
    assert asyncmend("fix", "a.py", cwd=tmp_path).returncode == 0  # idempotent


def test_fix_with_an_unused_suppression_before_a_fixable_finding(tmp_path: Path) -> None:
    # A stale directive's AM001 finding sorted among the rules' findings once made the
    # fix step pair fixes with the wrong findings and fail (found by the fuzz test).
    (tmp_path / "a.py").write_text(
        "import asyncio  # noqa: AM205\n\n\nasync def start(job):\n    asyncio.create_task(job())\n"
    )
    fixed = asyncmend("fix", "--statistics", "a.py", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "internal error" not in fixed.stdout + fixed.stderr
    assert (tmp_path / "a.py").read_text() == (  # AM203's fix, then AM001's
        "import asyncio\n"
        "\n"
        "_background_tasks: set[asyncio.Task] = set()\n"
        "\n"
        "\n"
        "async def start(job):\n"
        "    task = asyncio.create_task(job())\n"
        "    _background_tasks.add(task)\n"
        "    task.add_done_callback(_background_tasks.discard)\n"
    )


def test_unused_suppression_only_for_selected_codes(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(STALE)
    # AM205 is not selected: its noqa may well be needed, so it is not reported.
    result = asyncmend("check", "--format", "json", "--ignore", "AM205", "a.py", cwd=tmp_path)
    assert _codes(result) == [("AM001", 7)]
    assert asyncmend("check", "--ignore", "AM001", "a.py", cwd=tmp_path).returncode == 0
    assert asyncmend("check", "--select", "AM205", "a.py", cwd=tmp_path).returncode == 0


def test_explain_am001(tmp_path: Path) -> None:
    result = asyncmend("explain", "AM001", cwd=tmp_path)
    assert result.returncode == 0
    assert "unused-suppression" in result.stdout
    assert "## Use instead" in result.stdout
    assert "AM001" in asyncmend("rules", cwd=tmp_path).stdout


# -- AM000 for every unparsable file -------------------------------------------------------


def test_every_unparsable_file_is_am000(tmp_path: Path) -> None:
    # No rule's trigger token: no rule parses it, yet it is not clean.
    (tmp_path / "broken.py").write_text("def f(:\n    pass\n")
    (tmp_path / "deep.py").write_text("x = " + "(" * 250 + "1" + ")" * 250 + "\n")
    (tmp_path / "ok.py").write_text("x = 1\n")
    (tmp_path / "newer.py").write_text("type Point = tuple[float, float]\n")  # 3.12 syntax
    result = asyncmend("check", "--format", "json", ".", cwd=tmp_path)
    found = {(f["filename"], f["code"]) for f in json.loads(result.stdout)}
    assert found == {("broken.py", "AM000"), ("deep.py", "AM000")}
    assert result.returncode == 1
    messages = {f["filename"]: f["message"] for f in json.loads(result.stdout)}
    assert "too many nested parentheses" in messages["deep.py"]


def test_nested_parentheses_with_a_trigger_token(tmp_path: Path) -> None:
    (tmp_path / "deep.py").write_text(
        "import time\nasync def f():\n    time.sleep(1)\nx = " + "(" * 250 + "1" + ")" * 250 + "\n"
    )
    result = asyncmend("check", "--format", "json", "deep.py", cwd=tmp_path)
    assert _codes(result) == [("AM000", 4)]


def test_tree_fallback_when_the_tokenizer_refuses(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import libcst as cst

    from asyncmend.engine import noqa

    text = 'x = 1  # noqa: AM205\ns = """\n# noqa\n"""\ny = 2  # asyncmend: ignore\n'
    expected = Suppressions.of(text).by_line
    monkeypatch.setattr(noqa, "comments", lambda text: None)
    assert Suppressions.of(text).by_line == {}  # nothing to fall back on
    assert Suppressions.of(text, cst.parse_module(text)).by_line == expected
    assert sorted(expected) == [1, 5]


def test_unused_suppression_respects_per_file_ignores(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text(STALE)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.asyncmend]\nper-file-ignores = { "tests/*" = ["AM205"] }\n'
    )
    # AM205 is off for tests/: its noqa there is none of our business.
    result = asyncmend("check", "--format", "json", ".", cwd=tmp_path)
    assert _codes(result) == [("AM001", 7)]
