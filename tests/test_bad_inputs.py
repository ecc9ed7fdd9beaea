"""Inputs that used to hang, eat memory or crash: special files, huge files, codecs that
fail, nesting deeper than the analysis follows (in the main process too). Each is one
line (a warning, or an AM000 finding) and the run goes on for the other files."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURES, asyncmend, entry_point

from asyncmend.engine.runner import DEFAULT_MAX_FILE_BYTES, max_file_bytes

CASE = FIXTURES / "rules" / "AM101" / "positive_basic.py"


def _tree_with_good_file(tmp_path: Path) -> Path:
    shutil.copy(CASE, tmp_path / "good.py")
    return tmp_path


def _assert_good_file_reported(result: subprocess.CompletedProcess[str]) -> None:
    assert "good.py:11:5: AM101" in result.stdout
    assert "Traceback" not in result.stderr


def test_fifo_and_device_are_skipped_with_a_message_not_read(tmp_path: Path) -> None:
    root = _tree_with_good_file(tmp_path)
    os.mkfifo(root / "pipe.py")
    (root / "zero.py").symlink_to("/dev/zero")
    result = subprocess.run(
        [entry_point(), "check", "--no-cache", "-j", "1", "."],
        cwd=root, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "zero.py: a character device, not a source file; skipped" in result.stderr
    _assert_good_file_reported(result)
    assert result.returncode == 1


def test_fifo_read_path_never_blocks(tmp_path: Path) -> None:
    from asyncmend.engine.runner import SkippedFile, read_source

    os.mkfifo(tmp_path / "pipe.py")
    with pytest.raises(SkippedFile, match="a FIFO"):
        read_source(str(tmp_path / "pipe.py"))  # returns at once, no writer needed


def test_files_over_the_size_limit_are_skipped_with_a_message(tmp_path: Path) -> None:
    root = _tree_with_good_file(tmp_path)
    with open(root / "huge.py", "wb") as handle:
        handle.write(b"# " + b"x" * (DEFAULT_MAX_FILE_BYTES + 10) + b"\n")
    result = asyncmend("check", "--no-cache", ".", cwd=root)
    assert "huge.py: 5.0 MB, over the size limit of 5.0 MB; skipped" in result.stderr
    _assert_good_file_reported(result)
    assert result.returncode == 1


def test_size_limit_setting_is_read_with_a_safe_default() -> None:
    class Config:
        pass

    config = Config()
    assert max_file_bytes(config) == DEFAULT_MAX_FILE_BYTES
    for value, expected in ((1000, 1000), ("2MB", 2 * 1024**2), ("512k", 512 * 1024)):
        config.max_file_size = value  # type: ignore[attr-defined]
        assert max_file_bytes(config) == expected
    for bad in (-1, 0, "lots", True, None):
        config.max_file_size = bad  # type: ignore[attr-defined]
        assert max_file_bytes(config) == DEFAULT_MAX_FILE_BYTES


def test_punycode_cookie_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    root = _tree_with_good_file(tmp_path)
    (root / "puny.py").write_bytes(
        b"# -*- coding: punycode -*-\nimport asyncio\nasync def f():\n"
        b"    asyncio.create_task(g())\n"
    )
    result = asyncmend("check", "--no-cache", "-j", "1", ".", cwd=root)
    assert result.returncode == 1, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("puny.py"))
    assert "AM000 Cannot decode" in line and line.endswith("point '\\n')")
    _assert_good_file_reported(result)


def test_deep_nesting_is_a_finding_in_the_main_process_too(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Nesting deeper than the recursion limit allows, checked and fixed in the main
    process (few files, as ``-j 1``): one AM000 finding, no internal error, the other
    file still checked. (The limit is lowered here so the test needs a small file: the
    real one is 10,000 frames, reached by ~5,000 nested unary minuses, which takes
    libcst's parser tens of seconds.)"""
    import sys

    from asyncmend.engine import run, runner

    monkeypatch.setattr(runner, "RECURSION_LIMIT", 0)  # keep the default limit
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    root = _tree_with_good_file(tmp_path)
    (root / "deep.py").write_text(
        "import asyncio\nasync def f():\n    x = " + "-" * 900 + "1\n    asyncio.create_task(g())\n"
    )
    try:
        reports = [run([str(root)], fix=fix, jobs=1) for fix in (False, True)]
    finally:
        sys.setrecursionlimit(limit)
    for report in reports:
        assert report.internal_errors == []
        deep = [f for f in report.findings if f.path.endswith("deep.py")]
        assert [f.code for f in deep] == ["AM000"], deep
        assert [f.code for f in report.findings if f.path.endswith("good.py")] == ["AM101"]
        assert not any(r.path.endswith("deep.py") for r in report.changed)


def test_fix_interactive_reads_answers_lazily(tmp_path: Path) -> None:
    """`yes y | asyncmend fix -i` answers every hunk and ends (stdin is endless)."""
    root = _tree_with_good_file(tmp_path)
    yes = subprocess.Popen(["yes", "y"], stdout=subprocess.PIPE)
    try:
        result = subprocess.run(
            [entry_point(), "fix", "-i", "--no-cache", "good.py"],
            cwd=root, stdin=yes.stdout, capture_output=True, text=True, timeout=120,
            env={**os.environ, "NO_COLOR": "1"},
        )  # fmt: skip
    finally:
        yes.kill()
        yes.wait()
    assert "Accepted 1 hunk(s), rejected 0; wrote 1 file(s)." in result.stdout
    assert result.returncode == 0


def test_fix_interactive_end_of_input_means_no(tmp_path: Path) -> None:
    root = _tree_with_good_file(tmp_path)
    result = asyncmend("fix", "-i", "--no-cache", "good.py", cwd=root, stdin="?\n")
    assert "rejected 1" in result.stdout
    assert (root / "good.py").read_bytes() == CASE.read_bytes()


def test_file_names_with_newlines_or_bytes_that_are_not_utf8_print_escaped(
    tmp_path: Path,
) -> None:
    source = CASE.read_bytes()
    root = os.fsencode(tmp_path)
    for name in (b"new\nline.py", b"bad\xff.py", b"ro\nonly.py"):
        with open(os.path.join(root, name), "wb") as handle:
            handle.write(source)
    os.chmod(os.path.join(root, b"ro\nonly.py"), 0o444)
    checked = subprocess.run(
        [entry_point(), "check", "."], cwd=tmp_path, capture_output=True, timeout=120
    )
    assert checked.returncode == 1, checked.stderr
    lines = checked.stdout.decode().splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == [
        "bad\\xff.py",
        "new\\nline.py",
        "ro\\nonly.py",
    ]
    fixed = subprocess.run(
        [entry_point(), "fix", "."], cwd=tmp_path, capture_output=True, timeout=120
    )
    assert b"asyncmend: warning: ro\\nonly.py: read-only file; not written\n" in fixed.stderr
    assert fixed.stdout.decode().startswith("ro\\nonly.py:11:5: AM101")


def test_a_symlink_loop_in_a_tree_is_one_line(tmp_path: Path) -> None:
    root = _tree_with_good_file(tmp_path)
    (root / "loop.py").symlink_to(root / "loop.py")
    for verb in ("check", "fix"):
        result = asyncmend(verb, "--no-cache", ".", cwd=root)
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
        assert result.stderr.startswith("asyncmend: error: ")
        assert "loop.py" in result.stderr and "symlink loop" in result.stderr
    assert (root / "good.py").read_bytes() == CASE.read_bytes()  # bad input: nothing written
