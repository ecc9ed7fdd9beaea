"""The engine side of the language server: its per-keystroke check (engine/buffer.py)
and its code actions (engine/quickfix.py): minimal text edits, one finding's fix
alone, and the suppression comment. In-process and fast;
the server itself is tested end to end in test_server.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from asyncmend.engine.api import run_source
from asyncmend.engine.buffer import check_buffer, refresh_facts
from asyncmend.engine.index import RepoIndex
from asyncmend.engine.noqa import directives
from asyncmend.engine.quickfix import (
    apply_edits,
    finding_key,
    minimal_edits,
    single_fixes,
    suppression_edit,
)
from asyncmend.engine.results import Finding


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("a = 1\nsession.commit()\nb = 2\n", "a = 1\nawait session.commit()\nb = 2\n"),
        ("x = 1\r\ny = 2\r\n", "x = 1\r\nz = 3\r\ny = 2\r\n"),  # CRLF kept
        ("é = 1\nprint(é)", "é = 1\nprint(é, 2)"),  # no final newline
        ("a\nb\nc\n", "c\n"),
        ("", "import asyncio\n"),
    ],
)
def test_minimal_edits_rebuild_the_text(before: str, after: str) -> None:
    edits = minimal_edits(before, after)
    assert apply_edits(before, edits) == after
    changed = sum(len(e.new_text) for e in edits)
    assert changed <= len(after)


def test_an_insertion_is_one_small_edit() -> None:
    before = "async def f(s):\n    s.commit()\n"
    (edit,) = minimal_edits(before, "async def f(s):\n    await s.commit()\n")
    assert (edit.start, edit.end, edit.new_text) == ((1, 4), (1, 4), "await ")


SOURCE = """\
import time

from sqlalchemy.ext.asyncio import AsyncSession


async def a(session: AsyncSession) -> None:
    session.commit()


async def b() -> None:
    time.sleep(1)
"""


def test_single_fix_changes_only_its_finding(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    findings = run_source(SOURCE.encode(), path).findings
    assert [f.code for f in findings] == ["AM204", "AM205"]
    fixes = single_fixes(SOURCE, path, {finding_key(f) for f in findings})
    assert fixes[finding_key(findings[0])] == SOURCE.replace(
        "    session.commit()", "    await session.commit()"
    )
    sleep_fixed = fixes[finding_key(findings[1])]
    assert sleep_fixed is not None
    assert "await asyncio.sleep(1)" in sleep_fixed and "import asyncio" in sleep_fixed
    assert "    session.commit()" in sleep_fixed  # the other finding left alone


def finding(code: str, line: int, end_line: int | None = None) -> Finding:
    return Finding(code, "x", "m", "f.py", line, 1, end_line or line, 2)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("    session.commit()\n", "    session.commit()  # noqa: AM204\n"),
        ("    session.commit()  # noqa: E501\n", "    session.commit()  # noqa: E501, AM204\n"),
        (
            "    session.commit()  # asyncmend: ignore[AM101]\n",
            "    session.commit()  # asyncmend: ignore[AM101, AM204]\n",
        ),
        ("    session.commit()  # why not\n", "    session.commit()  # why not  # noqa: AM204\n"),
        ("    session.commit()\r\n", "    session.commit()  # noqa: AM204\r\n"),
    ],
)
def test_suppression_adds_or_merges_a_noqa(line: str, expected: str) -> None:
    text = "x = 1\n" + line
    edit = suppression_edit(text, finding("AM204", 2))
    assert edit is not None
    result = apply_edits(text, [edit])
    assert result == "x = 1\n" + expected
    assert any("AM204" in (d.codes or ()) for d in directives(result) if d.line == 2)


def test_suppression_never_lands_inside_a_string() -> None:
    text = 'call(session, """\ntext\n""")\n'
    edit = suppression_edit(text, finding("AM103", 1, 3))
    assert edit is not None and edit.start[0] == 2  # the last line, after the string
    assert apply_edits(text, [edit]).endswith('""")  # noqa: AM103\n')
    inside = 'x = f(s, """\nabc\n""", 1\n)\n'
    assert suppression_edit(inside, finding("AM103", 1, 2)) is None


DANGLING = """\
import asyncio


async def work() -> None:
    await asyncio.sleep(0)


async def spawn() -> None:
    asyncio.create_task(work())
"""


def test_the_diagnostics_pass_defers_fixes_built_on_demand(tmp_path: Path) -> None:
    """The server's per-keystroke check leaves out the fix AM203 builds on demand; the
    findings are the same, and the check with fixes built still offers it."""
    path = tmp_path / "m.py"
    index = RepoIndex()
    lazy = check_buffer(DANGLING.encode(), path, index=index, defer_fixes=True).findings
    full = check_buffer(DANGLING.encode(), path, index=index).findings
    assert [finding_key(f) for f in lazy] == [finding_key(f) for f in full]
    assert [(f.code, f.fix_applicability) for f in lazy] == [("AM203", None)]
    assert [(f.code, f.fix_applicability) for f in full] == [("AM203", "safe")]
    assert full == run_source(DANGLING.encode(), path).findings


def test_refresh_facts_says_when_the_index_changes(tmp_path: Path) -> None:
    path = str(tmp_path / "m.py")
    index = RepoIndex()
    assert refresh_facts(index, path, DANGLING.encode())
    # A comment, a moved line, a changed literal: the same facts, nothing else to redo.
    edited = DANGLING.replace("async def spawn", "# typing...\n\nasync def spawn")
    assert not refresh_facts(index, path, edited.replace("sleep(0)", "sleep(1)").encode())
    # A new coroutine is a new fact (another file's missing await may now be found).
    grown = DANGLING + "\n\nasync def more() -> None:\n    pass\n"
    assert refresh_facts(index, path, grown.encode())
    assert "more" in index.by_path[path].async_defs


def test_the_server_index_reads_its_facts_back_from_the_content_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The repo index of a restarted server comes from the content cache: pass 1 does
    not run again on unchanged files."""
    from asyncmend.cli.server import Settings, _build_index
    from asyncmend.engine import runner

    monkeypatch.setenv("ASYNCMEND_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home"))
    root = tmp_path / "proj"
    (root / "app").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.asyncmend]\n")
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "jobs.py").write_text("async def refresh() -> None:\n    pass\n")
    folders, opened = (str(root / "app"),), str(root / "app" / "jobs.py")
    first = _build_index(folders, opened, Settings())
    assert first.by_path[opened].async_defs == ["refresh"]

    def pass_one(*args: object, **kwargs: object) -> None:
        raise AssertionError("pass 1 ran on an unchanged file")

    monkeypatch.setattr(runner, "_facts_task", pass_one)
    again = _build_index(folders, opened, Settings())
    assert again.by_path == first.by_path
    # A changed file is read again (and only it).
    (root / "app" / "jobs.py").write_text("def refresh() -> None:\n    pass\n")
    with pytest.raises(AssertionError, match="pass 1 ran"):
        _build_index(folders, opened, Settings())
