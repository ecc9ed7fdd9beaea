"""The content-hash cache: same answers warm as cold, and invalidated by exactly what
can change an answer (the file's bytes, the config, the rule selection, the repo
index for rules that read it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import FIXTURES, asyncmend

from asyncmend.engine import run

CASE = FIXTURES / "rules" / "AM101" / "positive_basic.py"
CROSS_FILE = FIXTURES / "rules" / "AM101" / "positive_imported_factory"


def _findings(result: subprocess.CompletedProcess[str]) -> list[tuple[str, int, str]]:
    return [(f["filename"], f["location"]["row"], f["code"]) for f in json.loads(result.stdout)]


def test_warm_run_answers_from_cache_without_importing_libcst(tmp_path: Path) -> None:
    shutil.copy(CASE, tmp_path / "a.py")
    cold = asyncmend("check", "--format", "json", ".", cwd=tmp_path)
    assert list((tmp_path / ".asyncmend_cache").glob("*.msgpack"))
    probe = (
        "import sys, runpy; sys.argv=['asyncmend','check','--format','json','.'];\n"
        "try:\n    runpy.run_module('asyncmend.cli.app', run_name='__main__')\n"
        "except SystemExit: pass\n"
        "print('LIBCST' if 'libcst' in sys.modules else 'NO-LIBCST', file=sys.stderr)"
    )
    warm = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "ASYNCMEND_CACHE_DIR": str(tmp_path / ".asyncmend_cache")},
    )  # fmt: skip
    assert json.loads(warm.stdout) == json.loads(cold.stdout)
    assert _findings(cold) == [("a.py", 11, "AM101")]
    assert "NO-LIBCST" in warm.stderr, warm.stderr


def test_cache_is_invalidated_by_content_config_and_selection(tmp_path: Path) -> None:
    target = tmp_path / "a.py"
    shutil.copy(CASE, target)
    assert _findings(asyncmend("check", "--format", "json", ".", cwd=tmp_path)) == [
        ("a.py", 11, "AM101")
    ]
    # Content: the finding moves with the code.
    target.write_text("# a new first line\n" + CASE.read_text())
    assert _findings(asyncmend("check", "--format", "json", ".", cwd=tmp_path)) == [
        ("a.py", 12, "AM101")
    ]
    # Config: a suppressing per-file-ignore.
    (tmp_path / "pyproject.toml").write_text(
        '[tool.asyncmend]\nper-file-ignores = {"a.py" = ["AM101"]}\n'
    )
    assert asyncmend("check", ".", cwd=tmp_path).returncode == 0
    (tmp_path / "pyproject.toml").unlink()
    # Selection.
    assert asyncmend("check", "--ignore", "AM101", ".", cwd=tmp_path).returncode == 0
    assert asyncmend("check", ".", cwd=tmp_path).returncode == 1


def test_cache_follows_the_repo_index(tmp_path: Path) -> None:
    """AM101 reads the index (a sessionmaker imported from another module): changing
    that other module must change the answer for the unchanged importing file."""
    root = tmp_path / "proj"
    shutil.copytree(CROSS_FILE, root, ignore=shutil.ignore_patterns("*.expected.py"))
    users = "app/services/users.py"
    assert _findings(asyncmend("check", "--format", "json", users, cwd=root)) == [
        (users, 8, "AM101")
    ]
    db = root / "app" / "db.py"
    db.write_text(db.read_text().replace("async_sessionmaker(engine)", "make_pool(engine)"))
    assert asyncmend("check", users, cwd=root).returncode == 0


def test_no_cache_flag_and_api_default_write_nothing(tmp_path: Path) -> None:
    shutil.copy(CASE, tmp_path / "a.py")
    assert asyncmend("check", "--no-cache", ".", cwd=tmp_path).returncode == 1
    assert not (tmp_path / ".asyncmend_cache").exists()
    run([str(tmp_path)])
    assert not (tmp_path / ".asyncmend_cache").exists()


def test_every_fixture_s_facts_are_kept_by_the_cache(tmp_path: Path) -> None:
    """Pass-1 facts the cache cannot read back exactly are recomputed on every run (a
    collector returning a tuple reads back as a list): every fixture's facts must be
    kept, so a warm run over a real tree computes none."""
    from asyncmend.engine.cache import ResultCache
    from asyncmend.engine.index import collect_facts

    cache = ResultCache(tmp_path / "c.msgpack")
    dropped = []
    for number, path in enumerate(sorted((FIXTURES / "rules").rglob("*.py"))):
        facts = collect_facts(str(path), path.read_bytes())
        if facts is None:
            continue
        cache.put_facts(str(path), str(number), facts)
        if cache.get_facts(str(path), str(number)) is None:
            dropped.append(str(path.relative_to(FIXTURES)))
    assert dropped == []
