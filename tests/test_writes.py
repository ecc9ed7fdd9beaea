"""Writes keep a file's identity (owner, group, mode, symlink, hard links) or skip it
with a message; one failing write is one line and the others still happen; two
concurrent `fix` runs never lose an update or write a file twice."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import FIXTURES, asyncmend, entry_point

CASE = FIXTURES / "rules" / "AM101" / "positive_basic.py"
FIXED = (FIXTURES / "rules" / "AM101" / "positive_basic.expected.py").read_bytes()
ORIGINAL = CASE.read_bytes()
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown, mount)")


@root_only
def test_owner_group_and_mode_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "a.py"
    shutil.copy(CASE, target)
    os.chown(target, 4321, 8765)
    os.chmod(target, 0o640)
    assert asyncmend("fix", ".", cwd=tmp_path).returncode == 0
    info = target.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (4321, 8765, 0o640)
    assert target.read_bytes() == FIXED


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    shutil.copy(CASE, real / "a.py")
    checked = tmp_path / "src"
    checked.mkdir()
    (checked / "link.py").symlink_to(real / "a.py")
    result = asyncmend("fix", "link.py", cwd=checked)
    assert result.returncode == 0, result.stderr
    assert (checked / "link.py").is_symlink()
    assert (real / "a.py").read_bytes() == FIXED
    assert sorted(p.name for p in real.iterdir()) == ["a.py"]


def test_read_only_file_and_hard_links_are_skipped_with_a_message(tmp_path: Path) -> None:
    for name in ("ro.py", "linked.py", "plain.py"):
        shutil.copy(CASE, tmp_path / name)
    os.chmod(tmp_path / "ro.py", 0o444)
    os.link(tmp_path / "linked.py", tmp_path / "other_name.txt")
    result = asyncmend("fix", "ro.py", "linked.py", "plain.py", cwd=tmp_path)
    assert "ro.py: read-only file; not written" in result.stderr
    assert "linked.py: has 2 hard links; not written" in result.stderr
    assert (tmp_path / "ro.py").read_bytes() == ORIGINAL
    assert (tmp_path / "linked.py").read_bytes() == ORIGINAL
    assert (tmp_path / "other_name.txt").read_bytes() == ORIGINAL
    assert (tmp_path / "plain.py").read_bytes() == FIXED
    # The findings of the files left alone are still there, against their real lines.
    assert result.returncode == 1
    assert "ro.py:11:" in result.stdout and "linked.py:11:" in result.stdout
    assert "plain.py" not in result.stdout


def test_diff_output_onto_a_checked_source_is_refused(tmp_path: Path) -> None:
    shutil.copy(CASE, tmp_path / "a.py")
    (tmp_path / "alias.py").symlink_to(tmp_path / "a.py")
    for target in ("a.py", "alias.py", "./a.py"):
        result = asyncmend("diff", "a.py", "-o", target, cwd=tmp_path)
        assert result.returncode == 2
        assert "is one of the checked source files" in result.stderr
        assert (tmp_path / "a.py").read_bytes() == ORIGINAL


@root_only
def test_a_failing_write_is_one_line_and_the_others_happen(tmp_path: Path) -> None:
    """A full disk (a tiny tmpfs) and a read-only mount: each failing file is one line,
    the other files are written, exit 2."""
    full, readonly, fine = tmp_path / "full", tmp_path / "ro", tmp_path / "fine"
    for folder in (full, readonly, fine):
        folder.mkdir()
    mounted = []
    try:
        for folder, options in ((full, "size=64k,nr_inodes=64"), (readonly, "size=64k")):
            done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)])
            if done.returncode != 0:
                pytest.skip("cannot mount a tmpfs here (no CAP_SYS_ADMIN)")
            mounted.append(folder)
        shutil.copy(CASE, full / "a.py")
        while True:  # fill the rest of the disk
            try:
                with open(full / "filler", "ab") as handle:
                    handle.write(b"x" * 512)
            except OSError:
                break
        shutil.copy(CASE, readonly / "a.py")
        subprocess.run(["mount", "-o", "remount,ro", str(readonly)], check=True)
        shutil.copy(CASE, fine / "a.py")
        result = asyncmend("fix", "full/a.py", "ro/a.py", "fine/a.py", cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        errors = [line for line in result.stderr.splitlines() if "error" in line]
        assert any(line.startswith("asyncmend: error: full/a.py: cannot write:") for line in errors)
        assert any(line.startswith("asyncmend: error: ro/a.py: cannot write:") for line in errors)
        assert len(errors) == 2, result.stderr
        assert (fine / "a.py").read_bytes() == FIXED
        assert (full / "a.py").read_bytes() == ORIGINAL
        assert sorted(p.name for p in full.iterdir()) == ["a.py", "filler"]
        assert (readonly / "a.py").read_bytes() == ORIGINAL
    finally:
        for folder in mounted:
            subprocess.run(["umount", str(folder)])


def test_two_concurrent_fix_runs_lose_no_update_and_write_nothing_twice(tmp_path: Path) -> None:
    """Whatever the interleaving, every file ends fully fixed, and each file is reported
    written by exactly one run."""
    src = tmp_path / "src"
    src.mkdir()
    (tmp_path / "pyproject.toml").write_text("[tool.asyncmend]\n")
    for number in range(30):
        shutil.copy(CASE, src / f"m{number}.py")
    env = {**os.environ, "NO_COLOR": "1", "ASYNCMEND_CACHE_DIR": str(tmp_path / "cache")}
    runs = [
        subprocess.Popen(
            [entry_point(), "fix", "--no-cache", "-j", "1", "src"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert all(run.returncode in (0, 1) for run in runs), outputs
    for number in range(30):
        assert (src / f"m{number}.py").read_bytes() == FIXED
    written = []
    for _out, err in outputs:
        fixed = next((line for line in err.splitlines() if line.startswith("Fixed ")), "")
        written.append(int(fixed.split(" in ")[1].split()[0]) if fixed else 0)
    # Each file written by exactly one run (a run that read a file after the other
    # wrote it has nothing to do there; one that read it before skips it).
    assert sum(written) == 30, outputs
    assert sorted(p.name for p in src.iterdir()) == sorted(f"m{n}.py" for n in range(30))


def test_a_second_fix_waits_for_the_first_and_says_so(tmp_path: Path) -> None:
    """Another run holds the project's write lock: `fix` says it waits, then writes."""
    import fcntl

    (tmp_path / "pyproject.toml").write_text("[tool.asyncmend]\n")
    shutil.copy(CASE, tmp_path / "a.py")
    fd = os.open(tmp_path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        env = {**os.environ, "NO_COLOR": "1"}
        process = subprocess.Popen(
            [entry_point(), "fix", "--no-cache", "a.py"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert process.stderr is not None
        line = process.stderr.readline()  # blocks until the run reaches the lock
        assert "waiting for another `asyncmend fix` on this project" in line
        assert (tmp_path / "a.py").read_bytes() == ORIGINAL
    finally:
        os.close(fd)  # releases the lock
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert (tmp_path / "a.py").read_bytes() == FIXED


def test_a_file_whose_name_is_near_the_limit_is_written(tmp_path: Path) -> None:
    long_name = "m" * 250 + ".py"
    shutil.copy(CASE, tmp_path / long_name)
    result = asyncmend("fix", "--no-cache", long_name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / long_name).read_bytes() == FIXED
    assert [p.name for p in tmp_path.iterdir() if "asyncmend" in p.name] == []
