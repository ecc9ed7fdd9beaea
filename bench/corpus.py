"""The benchmark corpora: the real async services of the ecosystem check (the headline:
code like our users'), pinned library wheels, and the synthetic service project.

All are materialised under ``bench/.work/corpora/`` and reused by later runs: the
services by the ecosystem check's pins (their wheels are the ones
``bench/ecosystem.py`` downloads and checks, under ``bench/.work/ecosystem/``), the
libraries by their pins, the synthetic one by (lines, seed, generator version).
Each corpus root is made a git repository of its own (``git init``) because
``bench/.work/`` is gitignored in this repo, and tools that honour ``.gitignore``
(ruff, fixit's trailrunner, asyncmend's discovery) would otherwise see no files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import synth

# Exact versions, checked with `pip download --no-deps --only-binary=:all:` (2026-11).
# Libraries that FastAPI + SQLAlchemy apps are built on, plus real async SQLAlchemy
# application code (prefect's server, fastapi-users and its SQLAlchemy adapter).
REAL_PINS: dict[str, str] = {
    "sqlalchemy": "2.1.9",
    "fastapi": "0.165.0",
    "starlette": "1.10.0",
    "httpx": "0.28.1",
    "anyio": "4.16.0",
    "pydantic": "2.14.4",
    "typer": "0.29.2",
    "rich": "15.0.0",
    "prefect": "3.9.1",
    "fastapi-users": "15.0.5",
    "fastapi-users-db-sqlalchemy": "7.0.0",
}


@dataclass(frozen=True)
class Corpus:
    name: str
    root: Path
    files: int
    lines: int
    copies: int = 1  # side-by-side copies of one corpus (the scaling row)


def count_py(root: Path) -> tuple[int, int]:
    """Number of .py files under root and their total line count."""
    files = lines = 0
    for path in root.rglob("*.py"):
        files += 1
        with path.open("rb") as fh:
            lines += sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    return files, lines


def _git_init(root: Path) -> None:
    if shutil.which("git") and not (root / ".git").exists():
        subprocess.run(["git", "init", "-q", str(root)], check=False)


def _stamp_matches(root: Path, stamp: dict[str, object]) -> bool:
    path = root / ".bench-stamp.json"
    try:
        return json.loads(path.read_text()) == stamp
    except (OSError, ValueError):
        return False


def _write_stamp(root: Path, stamp: dict[str, object]) -> None:
    (root / ".bench-stamp.json").write_text(json.dumps(stamp, indent=1, sort_keys=True))


def _download_wheels(wheel_dir: Path) -> None:
    wheel_dir.mkdir(parents=True, exist_ok=True)
    specs = [f"{name}=={version}" for name, version in REAL_PINS.items()]
    cmd = [
        _python_with_pip(),
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "-d",
        str(wheel_dir),
        *specs,
    ]
    print(f"# fetching real corpus: {' '.join(specs)}", file=sys.stderr)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def _python_with_pip() -> str:
    """This interpreter if it has pip (uv-made venvs may not), else the bench venv's."""
    ok = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    bench_python = Path(__file__).resolve().parent / ".work" / "venv" / "bin" / "python"
    if ok.returncode != 0 and bench_python.exists():
        return str(bench_python)
    return sys.executable


def _wheel_for(wheel_dir: Path, name: str, version: str) -> Path:
    stem = name.replace("-", "_").lower()
    for wheel in sorted(wheel_dir.glob("*.whl")):
        dist, _, rest = wheel.name.partition("-")
        if dist.lower() == stem and rest.startswith(f"{version}-"):
            return wheel
    raise FileNotFoundError(f"no wheel for {name}=={version} in {wheel_dir}")


def _unpack_py(wheel: Path, dest: Path) -> None:
    """Extract only the .py members of a wheel (no install, nothing executed)."""
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if info.filename.endswith(".py") and not info.is_dir():
                target = dest / info.filename
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(info))


def prepare_real(work: Path) -> Corpus:
    root = work / "corpora" / "real"
    stamp: dict[str, object] = {"pins": REAL_PINS}
    if not _stamp_matches(root, stamp):
        wheel_dir = work / "wheels"
        missing = [n for n, v in REAL_PINS.items() if not _has_wheel(wheel_dir, n, v)]
        if missing:
            _download_wheels(wheel_dir)
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        for name, version in REAL_PINS.items():
            pkg_dir = root / f"{name}-{version}"
            _unpack_py(_wheel_for(wheel_dir, name, version), pkg_dir)
        _git_init(root)
        _write_stamp(root, stamp)
    files, lines = count_py(root)
    return Corpus("real", root, files, lines)


def _has_wheel(wheel_dir: Path, name: str, version: str) -> bool:
    try:
        _wheel_for(wheel_dir, name, version)
    except FileNotFoundError:
        return False
    return True


def prepare_services(work: Path, names: Sequence[str] = ()) -> Corpus:
    """The pinned real FastAPI + async SQLAlchemy services of ``bench/ecosystem.py``,
    side by side (downloaded, sha256-checked and extracted once, by that module);
    ``names``: only these packages (a quick run of the whole benchmark)."""
    import ecosystem

    packages = [p for p in ecosystem.PACKAGES if not names or p.name in names]
    unknown = sorted(set(names) - {p.name for p in ecosystem.PACKAGES})
    if unknown:
        known = ", ".join(p.name for p in ecosystem.PACKAGES)
        raise SystemExit(f"run.py: unknown package(s) {', '.join(unknown)}; known: {known}")
    name = "services" if not names else "services-" + "+".join(p.name for p in packages)
    root = work / "corpora" / name
    stamp: dict[str, object] = {"services": [[p.slug, p.sha256] for p in packages]}
    if not _stamp_matches(root, stamp):
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        for pkg in packages:
            shutil.copytree(
                ecosystem.fetch(pkg), root / pkg.slug, ignore=shutil.ignore_patterns(".git")
            )
        _git_init(root)
        _write_stamp(root, stamp)
    files, lines = count_py(root)
    return Corpus(name, root, files, lines)


def scaled(work: Path, base: Corpus, copies: int) -> Corpus:
    """``copies`` side-by-side copies of ``base`` (hard links where the file system
    allows: checking reads, and fix pipelines run on a fresh copy anyway), for the
    scaling row: the same code, ``copies`` times the lines."""
    root = work / "corpora" / f"{base.name}-x{copies}"
    stamp: dict[str, object] = {"base": base.name, "copies": copies, "files": base.files}
    if not _stamp_matches(root, stamp):
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        for number in range(1, copies + 1):
            shutil.copytree(
                base.root,
                root / f"copy{number}",
                ignore=shutil.ignore_patterns(".git"),
                copy_function=_link_or_copy,
            )
        _git_init(root)
        _write_stamp(root, stamp)
    files, lines = count_py(root)
    return Corpus(f"{base.name}-x{copies}", root, files, lines, copies)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def prepare_synthetic(work: Path, lines: int, seed: int = synth.DEFAULT_SEED) -> Corpus:
    root = work / "corpora" / f"synthetic-{lines}"
    stamp: dict[str, object] = {"lines": lines, "seed": seed, "generator": synth.VERSION}
    if not _stamp_matches(root, stamp):
        shutil.rmtree(root, ignore_errors=True)
        synth.generate(root, lines, seed)
        _git_init(root)
        _write_stamp(root, stamp)
    files, total = count_py(root)
    return Corpus(f"synthetic-{_human(lines)}", root, files, total)


def _human(n: int) -> str:
    if n >= 1_000_000 and n % 100_000 == 0:
        return f"{n / 1_000_000:g}M"
    if n >= 1_000 and n % 100 == 0:
        return f"{n / 1_000:g}k"
    return str(n)
