"""The warm path: a ``check`` the cache answers entirely is served by ``cli.warm``
without the heavy imports, prints exactly what the full CLI prints, and knows an
unchanged file by its (size, mtime) without reading it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FIXTURES, asyncmend, entry_point

#: Modules a cache-answered run must not import (the process pool's and
#: ``importlib.metadata`` cost tens of milliseconds of a warm run each).
HEAVY = (
    "typer", "click", "rich", "pydantic", "libcst", "multiprocessing", "concurrent.futures",
    "importlib.metadata",
)  # fmt: skip
#: Old enough to be known by its stat (see ``engine.cache.RACY_SECONDS``).
AN_HOUR_AGO = time.time() - 3600


def _tree(tmp_path: Path) -> Path:
    """The demo service (findings of several rules) with settled mtimes."""
    root = tmp_path / "demo"
    shutil.copytree(FIXTURES / "demo", root, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    for path in root.rglob("*.py"):
        os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO))
    return root


def _lean_probe(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``cli.warm.main`` as the entry point does; also report what it imported."""
    report = cwd.parent / "modules.json"
    probe = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: open({str(report)!r}, 'w').write(json.dumps(list(sys.modules))))\n"
        f"sys.argv = ['asyncmend', *{args!r}]\n"
        "from asyncmend.cli.warm import main\n"
        "main()\n"
    )
    env = {**os.environ, "NO_COLOR": "1", "ASYNCMEND_CACHE_DIR": str(cwd / ".asyncmend_cache")}
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, env=env
    )
    return proc, set(json.loads(report.read_text()))


def _heavy(modules: set[str]) -> list[str]:
    """Heavy modules and rule modules (the rules package itself only lists them)."""
    return sorted(
        m
        for m in modules
        if any(m == h or m.startswith(h + ".") for h in HEAVY)
        or m.startswith("asyncmend.codemods.rules.")
    )


@pytest.mark.parametrize("fmt", ["concise", "json", "full"])
def test_warm_output_is_the_cold_output_byte_for_byte(tmp_path: Path, fmt: str) -> None:
    root = _tree(tmp_path)
    args = ["check", "--output-format", fmt, "app"]
    cold = asyncmend(*args, cwd=root)  # an empty cache: the full CLI computes it all
    assert cold.returncode == 1, cold.stderr
    assert cold.stdout.strip()
    warm, modules = _lean_probe(args, root)
    assert _heavy(modules) == []
    assert "asyncmend.cli.app" not in modules  # answered by the lean path itself
    assert (warm.stdout, warm.stderr, warm.returncode) == (
        cold.stdout,
        cold.stderr,
        cold.returncode,
    )
    again = asyncmend(*args, cwd=root)  # the installed entry point, warm
    assert (again.stdout, again.stderr, again.returncode) == (
        cold.stdout,
        cold.stderr,
        cold.returncode,
    )


def test_a_clean_tree_warm_says_all_checks_passed(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("async def f() -> int:\n    return 1\n")
    os.utime(tmp_path / "ok.py", (AN_HOUR_AGO, AN_HOUR_AGO))
    cold = asyncmend("check", ".", cwd=tmp_path)
    warm, modules = _lean_probe(["check", "."], tmp_path)
    assert "asyncmend.cli.app" not in modules
    assert (warm.stdout, warm.returncode) == (cold.stdout, 0) == ("All checks passed!\n", 0)


def test_anything_the_lean_path_does_not_handle_goes_to_the_full_cli(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    asyncmend("check", "app", cwd=root)
    for args in (["check", "--statistics", "app"], ["check", "--format", "sarif", "app"]):
        proc, modules = _lean_probe(args, root)
        assert "asyncmend.cli.app" in modules, args
        assert proc.returncode == 1, proc.stderr
    # a file changed since: the full run checks it (and nothing was printed twice)
    target = next((root / "app").rglob("*.py"))
    target.write_text(target.read_text() + "\n\nimport os\n")
    proc, modules = _lean_probe(["check", "app"], root)
    assert "asyncmend.cli.app" in modules
    assert proc.stdout.count("Found ") == 1


def test_an_unchanged_file_is_known_by_size_and_mtime_without_being_read(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    first = asyncmend("check", "--format", "json", "app", cwd=root)
    target = _file_with_findings(root, first)
    # The same size and mtime with other bytes: ruff's trade-off, the cache answers.
    data = target.read_bytes()
    target.write_bytes(b"#" * len(data))
    os.utime(target, (AN_HOUR_AGO, AN_HOUR_AGO))
    second = asyncmend("check", "--format", "json", "app", cwd=root)
    assert second.stdout == first.stdout
    # A touch with the same bytes is a hit by content hash; new bytes are rechecked.
    target.write_bytes(data)
    assert asyncmend("check", "--format", "json", "app", cwd=root).stdout == first.stdout
    target.write_text("x = 1\n")
    third = json.loads(asyncmend("check", "--format", "json", "app", cwd=root).stdout)
    assert all(not f["filename"].endswith(target.name) for f in third)


def test_a_file_modified_just_now_is_always_hashed(tmp_path: Path) -> None:
    """Within the racy window the stat is not trusted: a same-size rewrite in the same
    timestamp tick is still seen."""
    root = _tree(tmp_path)
    target = _file_with_findings(root, asyncmend("check", "--format", "json", "app", cwd=root))
    now = time.time()
    os.utime(target, (now, now))
    first = asyncmend("check", "--format", "json", "app", cwd=root)  # would remember it
    data = target.read_bytes()
    target.write_bytes(b"#" * len(data))
    os.utime(target, (now, now))
    second = json.loads(asyncmend("check", "--format", "json", "app", cwd=root).stdout)
    assert second != json.loads(first.stdout)
    assert all(not f["filename"].endswith(target.name) for f in second)


def _file_with_findings(root: Path, run: subprocess.CompletedProcess[str]) -> Path:
    return root / json.loads(run.stdout)[0]["filename"]


def test_the_installed_entry_point_is_the_lean_one() -> None:
    script = Path(entry_point()).read_text()
    assert "asyncmend.cli.warm" in script


def test_worker_count_does_not_keep_a_warm_run_from_the_lean_path() -> None:
    from asyncmend.cli.warm import _parse

    assert _parse(["check", "--jobs", "2", "."]) == (["."], "concise", False)
    assert _parse(["check", "-j", "1", "--jobs=4", "a.py"]) == (["a.py"], "concise", False)
    for bad in (["--jobs", "0"], ["--jobs", "x"], ["-j"], ["--jobs=", "."]):
        assert _parse(["check", *bad]) is None  # the full CLI says what is wrong


def test_a_warm_run_reads_no_facts_and_imports_only_what_it_uses(tmp_path: Path) -> None:
    """The facts file is not read (here: garbage, and the answer is the cache's), and
    what only writing, diffing or ignore patterns need is not imported; a .gitignore
    pattern still applies on the warm path."""
    root = _tree(tmp_path)
    cold = asyncmend("check", "app", cwd=root)
    [facts_file] = (root / ".asyncmend_cache").glob("*.facts")
    facts_file.write_bytes(b"garbage")
    warm, modules = _lean_probe(["check", "app"], root)
    assert "asyncmend.cli.app" not in modules
    assert (warm.stdout, warm.returncode) == (cold.stdout, cold.returncode)
    assert facts_file.read_bytes() == b"garbage"
    unused = {"pathspec", "tempfile", "difflib", "asyncmend.engine.writer", "asyncmend.engine.diff"}
    assert unused & modules == set()
    ignored = cold.stdout.splitlines()[0].split(":")[0]  # a file with findings
    assert ignored.startswith("app/") and ignored.endswith(".py")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)  # .gitignore applies
    (root / ".gitignore").write_text(f"# generated\n{ignored}\n")
    cold = asyncmend("check", "app", cwd=root)
    warm, modules = _lean_probe(["check", "app"], root)
    assert "asyncmend.cli.app" not in modules, warm.stderr
    assert "pathspec" in modules
    assert (warm.stdout, warm.returncode) == (cold.stdout, cold.returncode)
    assert ignored not in warm.stdout
