"""``check --add-noqa``: a suppression on every current finding, merged into existing
directives, never inside a string, written through the safe write path."""

from __future__ import annotations

from pathlib import Path

from conftest import asyncmend

from asyncmend.engine.add_noqa import add_directives
from asyncmend.engine.results import Finding

SOURCE = """import time


async def f():
    time.sleep(1)
    time.sleep(2)  # noqa: E501
    time.sleep(3)  # keep this comment
    x = "# noqa"; time.sleep(4)
    await g(
        time.sleep(5),
    )
    time.sleep(6)  # asyncmend: ignore[AM101]
"""

EXPECTED = """import time


async def f():
    time.sleep(1)  # noqa: AM205
    time.sleep(2)  # noqa: E501, AM205
    time.sleep(3)  # keep this comment  # noqa: AM205
    x = "# noqa"; time.sleep(4)  # noqa: AM205
    await g(
        time.sleep(5),  # noqa: AM205
    )
    time.sleep(6)  # asyncmend: ignore[AM101, AM205]
"""


def test_add_noqa_writes_a_directive_per_finding(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(SOURCE)
    result = asyncmend("check", "--add-noqa", "--select", "AM205", ".", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Added 6 noqa directive(s) to 1 file(s)." in result.stderr
    assert (tmp_path / "a.py").read_text() == EXPECTED
    # Every finding is now suppressed, and no suppression is unused.
    assert asyncmend("check", "--select", "AM205,AM001", ".", cwd=tmp_path).returncode == 0
    again = asyncmend("check", "--add-noqa", ".", cwd=tmp_path)
    assert again.returncode == 0 and (tmp_path / "a.py").read_text() == EXPECTED


def test_add_noqa_keeps_crlf_and_latin1(tmp_path: Path) -> None:
    source = "# -*- coding: latin-1 -*-\r\nimport time\r\n\r\nasync def f():\r\n    s = 'caf\xe9'\r\n    time.sleep(1)\r\n"
    (tmp_path / "a.py").write_bytes(source.encode("latin-1"))
    result = asyncmend("check", "--add-noqa", "a.py", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    expected = source.replace("time.sleep(1)\r\n", "time.sleep(1)  # noqa: AM205\r\n")
    assert (tmp_path / "a.py").read_bytes() == expected.encode("latin-1")


def _finding(line: int, end_line: int) -> Finding:
    return Finding("AM205", "blocking-call", "m", "a.py", line, 1, end_line, 1)


def test_never_inside_a_string_or_after_a_backslash() -> None:
    text = 'x = f("""a\nb""",\n  1)\ny = 1 + \\\n    2\nz = """\n"""\n'
    new, count, problems = add_directives(text, [_finding(1, 3), _finding(4, 5), _finding(6, 7)])
    assert (
        new
        == 'x = f("""a\nb""",\n  1)  # noqa: AM205\ny = 1 + \\\n    2  # noqa: AM205\nz = """\n"""  # noqa: AM205\n'
    )
    assert count == 3 and problems == []
    _, count, problems = add_directives('s = """a\nb\nc"""\n', [_finding(2, 2)])
    assert count == 0 and problems == [
        "a.py:2: no line of the AM205 finding can hold a comment; not suppressed"
    ]


def test_add_noqa_writes_nothing_on_bad_input(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(SOURCE)
    (tmp_path / "blob.py").write_bytes(b"\x00binary")
    result = asyncmend("check", "--add-noqa", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert (tmp_path / "a.py").read_text() == SOURCE
