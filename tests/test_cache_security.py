"""The cache never executes anything and never changes an answer when it comes from
somewhere else: a pickle or a crafted (even well-formed, signed by another user) data
file committed to a repository, a corrupt file, a file of another user, a symlinked
cache folder. Each is a miss; the run is what a cold run says."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
from pathlib import Path

import msgspec
import pytest
from conftest import FIXTURES, entry_point

from asyncmend.engine import cache as cache_module

CASE = FIXTURES / "rules" / "AM101" / "positive_basic.py"
CACHE_FOLDER = ".asyncmend_cache"
PYPROJECT = "[project]\nname = 'victim'\n\n[tool.asyncmend]\n"


class _Payload:
    """Unpickling this runs a shell command that leaves a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def _cli(cwd: Path, user_cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ASYNCMEND_CACHE_DIR"}
    env.update(NO_COLOR="1", XDG_CACHE_HOME=str(user_cache))
    return subprocess.run(
        [entry_point(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd, check=True, capture_output=True,
    )  # fmt: skip


@pytest.fixture
def attacker_repo(tmp_path: Path) -> tuple[Path, Path]:
    """A repository whose author ran asyncmend (own user cache) and committed the
    cache folder: ``(repo, the cache file a plain `check .` reads)``."""
    repo = tmp_path / "attacker"
    repo.mkdir()
    (repo / "pyproject.toml").write_text(PYPROJECT)
    shutil.copy(CASE, repo / "app.py")
    assert _cli(repo, tmp_path / "attacker-home", "check", ".").returncode == 1
    [cache_file] = (repo / CACHE_FOLDER).glob("*.msgpack")
    _git(repo, "init", "-q")
    return repo, cache_file


def _clone_and_check(repo: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    _git(repo, "add", "-f", ".")
    _git(repo, "commit", "-qm", "x")
    victim = tmp_path / "victim"
    _git(tmp_path, "clone", "-q", str(repo), str(victim))
    assert list((victim / CACHE_FOLDER).iterdir())  # the planted cache came along
    return _cli(victim, tmp_path / "victim-home", "check", "--format", "json", "."), victim


def _assert_correct(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 1, result.stderr
    assert '"code": "AM101"' in result.stdout and '"row": 11' in result.stdout
    assert result.stderr == ""


def test_a_committed_pickle_is_never_loaded(attacker_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo, cache_file = attacker_repo
    marker = tmp_path / "PWNED"
    evil = pickle.dumps(_Payload(marker))
    cache_file.write_bytes(evil)  # under the name the run reads
    cache_file.with_suffix(".pickle").write_bytes(evil)  # and the old format's name
    result, _ = _clone_and_check(repo, tmp_path)
    assert not marker.exists(), "a pickle from the checked tree was executed"
    _assert_correct(result)


def test_a_crafted_well_formed_cache_changes_no_answer(attacker_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The attacker's own valid, signed cache, edited to say app.py has nothing to say:
    signed with another user's key, so it is a miss."""
    repo, cache_file = attacker_repo
    blob = cache_file.read_bytes()
    payload = msgspec.msgpack.decode(blob[len(cache_module.MAGIC) + 32 :])
    for entry in payload["results"].values():
        entry[2] = None  # "no findings"
    cache_file.write_bytes(blob[: len(cache_module.MAGIC) + 32] + msgspec.msgpack.encode(payload))
    result, victim = _clone_and_check(repo, tmp_path)
    _assert_correct(result)
    # Unsigned (no MAC at all) is a miss too; so is the genuine file of another user.
    (victim / CACHE_FOLDER / cache_file.name).write_bytes(msgspec.msgpack.encode(payload))
    _assert_correct(_cli(victim, tmp_path / "victim-home", "check", "--format", "json", "."))


def test_a_symlinked_cache_folder_is_not_written_through(tmp_path: Path) -> None:
    repo = tmp_path / "attacker"
    repo.mkdir()
    (repo / "pyproject.toml").write_text(PYPROJECT)
    shutil.copy(CASE, repo / "app.py")
    _git(repo, "init", "-q")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / CACHE_FOLDER).symlink_to(elsewhere)
    _git(repo, "add", "-f", ".")
    _git(repo, "commit", "-qm", "x")
    victim = tmp_path / "victim"
    _git(tmp_path, "clone", "-q", str(repo), str(victim))
    assert (victim / CACHE_FOLDER).is_symlink()
    _assert_correct(_cli(victim, tmp_path / "home", "check", "--format", "json", "."))
    assert list(elsewhere.iterdir()) == []


def test_corrupt_truncated_or_foreign_cache_is_a_miss(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    shutil.copy(CASE, tmp_path / "app.py")
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    home = tmp_path / "home"
    assert _cli(tmp_path, home, "check", ".").returncode == 1
    [cache_file] = (tmp_path / CACHE_FOLDER).glob("*.msgpack")
    assert (tmp_path / CACHE_FOLDER / ".gitignore").read_text().splitlines()[-1] == "*"
    good = cache_file.read_bytes()
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))

    def loaded() -> dict[str, object]:
        cache = cache_module.ResultCache(cache_file, key=cache_module._user_key())
        cache._load()
        return cache.results

    assert loaded()  # the genuine file is read
    for bad in (b"", good[:10], good[: len(good) // 2], good + b"x", b"\x00" * 200):
        cache_file.write_bytes(bad)
        assert loaded() == {}
    # A file of another user (we may be root in CI: chown works then) is ignored.
    if os.geteuid() == 0:
        cache_file.write_bytes(good)
        os.chown(cache_file, 12345, 12345)
        assert loaded() == {}
    # And the CLI on a corrupt cache: the same answer as a cold run, no error.
    cache_file.unlink()
    cache_file.write_bytes(good[: len(good) // 2])
    _assert_correct(_cli(tmp_path, home, "check", "--format", "json", "."))


def test_no_pyproject_means_no_cache_in_the_current_folder(tmp_path: Path) -> None:
    shutil.copy(CASE, tmp_path / "app.py")
    home = tmp_path / "home"
    assert _cli(tmp_path, home, "check", ".").returncode == 1
    assert not (tmp_path / CACHE_FOLDER).exists()
    assert list((home / "asyncmend" / "projects").glob("*/*.msgpack"))


def test_an_oversized_cache_file_is_a_miss_and_a_genuine_one_is_read_whole(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The file is read into one buffer of its size (no copy, no read of a planted
    gigabyte): one larger than ``MAX_CACHE_BYTES`` is a miss."""
    shutil.copy(CASE, tmp_path / "app.py")
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    home = tmp_path / "home"
    assert _cli(tmp_path, home, "check", ".").returncode == 1
    [cache_file] = (tmp_path / CACHE_FOLDER).glob("*.msgpack")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))

    def loaded() -> dict[str, object]:
        cache = cache_module.ResultCache(cache_file, key=cache_module._user_key())
        cache._load()
        return cache.results

    assert loaded()
    size = cache_file.stat().st_size
    assert cache_module._read_all(os.open(cache_file, os.O_RDONLY)) == cache_file.read_bytes()
    monkeypatch.setattr(cache_module, "MAX_CACHE_BYTES", size - 1)
    assert loaded() == {}
    monkeypatch.setattr(cache_module, "MAX_CACHE_BYTES", size)
    assert loaded()


def test_the_facts_file_is_taken_only_signed_and_sealed_to_the_file_read(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The pass-1 facts live beside the results file (a warm run never reads them):
    taken only when signed with this user's key over the seal the results file
    records. Another run's facts file, a forged or corrupt one, or one reached through
    a symlink is a miss (facts recomputed), never an answer."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home"))
    key = cache_module._user_key()

    def written(name: str, facts: str) -> cache_module.ResultCache:
        cache = cache_module.ResultCache(tmp_path / name, key=key)
        cache._facts_read = {"app.py": ("d1", {"path": "app.py", "marker": facts})}
        cache.facts["other.py"] = ("d2", {"path": "other.py"})
        cache.dirty = cache._facts_changed = True
        cache.save()
        return cache

    def read(name: str) -> dict[str, object]:
        cache = cache_module.ResultCache(tmp_path / name, key=key)
        cache._load()
        return cache._raw_facts

    written("a.msgpack", "a")
    written("b.msgpack", "b")
    assert read("a.msgpack")["app.py"] == ("d1", {"path": "app.py", "marker": "a"})
    assert set(read("a.msgpack")) == {"app.py", "other.py"}
    good = (tmp_path / "a.facts").read_bytes()
    # b's facts file, genuine and signed by this user, under a's name: not a's seal.
    (tmp_path / "a.facts").write_bytes((tmp_path / "b.facts").read_bytes())
    assert read("a.msgpack") == {}
    for bad in (b"", good[:40], good + b"x", good.replace(b"marker", b"MARKER")):
        (tmp_path / "a.facts").write_bytes(bad)
        assert read("a.msgpack") == {}
    (tmp_path / "a.facts").unlink()
    (tmp_path / "a.facts").symlink_to(tmp_path / "b.facts")
    assert read("a.msgpack") == {}
    (tmp_path / "a.facts").unlink()
    (tmp_path / "a.facts").write_bytes(good)
    assert read("a.msgpack")  # the genuine pair again
    # Signed by another user's key: a miss.
    cache = cache_module.ResultCache(tmp_path / "a.msgpack", key=b"k" * 32)
    cache._load()
    assert cache.results == {} and cache._raw_facts == {}


def test_a_run_with_no_new_facts_keeps_the_facts_file(tmp_path: Path) -> None:
    """A run that only updates results (e.g. new stats) rewrites the small results
    file and leaves the facts file, still sealed to it, alone."""
    shutil.copy(CASE, tmp_path / "app.py")
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    home = tmp_path / "home"
    assert _cli(tmp_path, home, "check", "--no-cache", ".").returncode == 1
    assert _cli(tmp_path, home, "check", ".").returncode == 1
    [facts_file] = (tmp_path / CACHE_FOLDER).glob("*.facts")
    before = facts_file.stat().st_mtime_ns, facts_file.read_bytes()
    (tmp_path / "other.py").write_text("x = 1\n")  # a new file: results change
    assert _cli(tmp_path, home, "check", ".").returncode == 1
    assert (facts_file.stat().st_mtime_ns, facts_file.read_bytes()) != before  # new facts
    before = facts_file.stat().st_mtime_ns, facts_file.read_bytes()
    os.utime(tmp_path / "other.py", ns=(1, 1))  # touched, unchanged: only stats change
    result = _cli(tmp_path, home, "check", "--format", "json", ".")
    _assert_correct(result)
    assert (facts_file.stat().st_mtime_ns, facts_file.read_bytes()) == before
