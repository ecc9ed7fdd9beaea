"""Ecosystem check: asyncmend on pinned real packages, every finding reviewed by hand.

    python bench/ecosystem.py              # full run: every pinned package (fails on unreviewed)
    python bench/ecosystem.py --smoke      # CI: two small packages, well under 2 minutes
    python bench/ecosystem.py --update     # full run, then append new findings as unreviewed rows
    python bench/ecosystem.py --prune      # full run, then drop verdict rows whose finding is gone
    python bench/ecosystem.py --peers      # only the peer cases and the review's class cases

For each pinned package (a wheel from PyPI, checked against its sha256) it runs
``asyncmend check --no-cache --select ALL --format json`` and ``asyncmend fix
--unsafe-fixes --no-cache`` on a copy, then checks the invariants on real code:
every changed file parses and compiles where the original compiled, a second ``fix``
changes nothing, and there is no internal error (a traceback, an "internal error" line,
exit code 2, or AM000 on a file that libcst parses).

Findings are matched with the reviewed verdicts in ``bench/ecosystem/verdicts.csv`` by
(package, version, path, line, code). The table shows per rule: findings, reviewed
TP/FP/debatable, precision (TP / (TP + FP)), fixes applied and wrong fixes; then the
findings with no verdict ("unreviewed") and the verdicts whose finding is gone ("stale").

Exit status: 0 when the run is clean; 1 when a crash or an invariant failure happened,
or (full mode, or ``--strict``) a finding is unreviewed or a reviewed true positive is
gone; 2 for a download or usage problem. Downloads and copies live in
``bench/.work/ecosystem/`` (gitignored); nothing downloaded is ever committed.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
VERDICTS = HERE / "ecosystem" / "verdicts.csv"
PEER_CASES = HERE / "ecosystem" / "peer_cases"
CLASS_CASES = HERE / "ecosystem" / "class_cases"
WORK = HERE / ".work" / "ecosystem"
VERDICT_FIELDS = ["package", "version", "path", "line", "code", "verdict", "fix", "reason"]
VERDICT_VALUES = {"TP", "FP", "debatable", "unreviewed"}
FIX_VALUES = {"right", "wrong", "none", ""}


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    wheel: str
    sha256: str
    why: str
    smoke: bool = False

    @property
    def slug(self) -> str:
        return f"{self.name}-{self.version}"


# Wheels hold the packages' full source (the sdists add only tests and docs); each one
# was read before it was chosen: it uses FastAPI/Starlette with sqlalchemy.ext.asyncio.
PACKAGES: tuple[Package, ...] = (
    Package(
        "prefect",
        "3.9.1",
        "prefect-3.9.1-py3-none-any.whl",
        "0c662e26e971b617993eed1f3d02fb8bc3c2dd47bee521b495f6e4dfeb38ae74",
        "big service: FastAPI server over async SQLAlchemy (orm models, api routes)",
    ),
    Package(
        "langflow-base",
        "1.13.0",
        "langflow_base-1.13.0-py3-none-any.whl",
        "e15db23e16cf27d6d1ac8fcc5030cf25ad3a04356a9581862b4e97de739dd3a2",
        "big service: FastAPI app, SQLModel AsyncSession everywhere, background jobs",
    ),
    Package(
        "arize-phoenix",
        "20.26.1",
        "arize_phoenix-20.26.1-py3-none-any.whl",
        "dd318844cba1d7021d8accaa995b7f3716d559eab4afb549dfb1017dd51bab56",
        "big service: FastAPI + GraphQL server, AsyncSession through a session factory",
    ),
    Package(
        "apache-airflow-core",
        "3.3.2",
        "apache_airflow_core-3.3.2-py3-none-any.whl",
        "99258922bccec15be4700ff89f3c942b8acd93407e263c287ce863e671bb3c50",
        "big service: FastAPI API server, sync Session next to newer async session code",
    ),
    Package(
        "advanced-alchemy",
        "1.12.0",
        "advanced_alchemy-1.12.0-py3-none-any.whl",
        "c7835c1c01cc65f3711a579e604b7d7207a1c34fe24160194376b7f0f039e128",
        "library: async repositories/services, FastAPI and Starlette extensions",
    ),
    Package(
        "chainlit",
        "2.12.0",
        "chainlit-2.12.0-py3-none-any.whl",
        "17cbd2c408f775a123892984bf9170674b5c81a01f7a8af278912e2786253ffc",
        "mid service: FastAPI server with an async SQLAlchemy data layer",
    ),
    Package(
        "fastcrud",
        "0.23.0",
        "fastcrud-0.23.0-py3-none-any.whl",
        "87ccb5125f5d5227a02ab38626e3261064dc7e5b72a2e53ed71076c1f4a5772a",
        "library: generic CRUD over AsyncSession, FastAPI endpoint factory",
        smoke=True,
    ),
    Package(
        "sqladmin",
        "0.32.0",
        "sqladmin-0.32.0-py3-none-any.whl",
        "4f5cff4ab8e5349a3dcad17f3a4d46a7867b54b92ac45e5626fdb96e465c127f",
        "library: Starlette admin over sync and async engines",
    ),
    Package(
        "fastapi-pagination",
        "0.16.1",
        "fastapi_pagination-0.16.1-py3-none-any.whl",
        "a91f030f764a5077b6cea41bc1df8c4cf738ac5bad2dc29977f3f0482e6202d2",
        "small library: FastAPI pagination with async SQLAlchemy/SQLModel backends",
    ),
    Package(
        "fastapi-users-db-sqlalchemy",
        "7.0.0",
        "fastapi_users_db_sqlalchemy-7.0.0-py3-none-any.whl",
        "5fceac018e7cfa69efc70834dd3035b3de7988eb4274154a0dbe8b14f5aa001e",
        "tiny library: FastAPI Users adapter over AsyncSession",
        smoke=True,
    ),
    Package(
        "sqlmodel",
        "0.0.50",
        "sqlmodel-0.0.50-py3-none-any.whl",
        "df518bc74287e1da0b0d7833cd00f55e77cb1cdc8c27bc29f77eea27acb51c1a",
        "small library: FastAPI-oriented ORM layer, AsyncSession wrapper",
    ),
    Package(
        "cognee",
        "1.6.5",
        "cognee-1.6.5-py3-none-any.whl",
        "aaef9fdc02f542b1d125cde21759dde2fac56355d8928e39c734e7b5c6705eca",
        "application: FastAPI API server, users/datasets/pipelines over AsyncSession",
    ),
)


# ---------------------------------------------------------------- verdicts


Key = tuple[str, str, str, int, str]


@dataclass
class Site:
    """Where a finding is: the key that ties a finding to its verdict."""

    package: str
    version: str
    path: str
    line: int
    code: str

    @property
    def key(self) -> Key:
        return (self.package, self.version, self.path, self.line, self.code)


@dataclass
class Verdict(Site):
    verdict: str
    fix: str
    reason: str

    def row(self) -> dict[str, str]:
        return {
            "package": self.package,
            "version": self.version,
            "path": self.path,
            "line": str(self.line),
            "code": self.code,
            "verdict": self.verdict,
            "fix": self.fix,
            "reason": self.reason,
        }


class VerdictError(ValueError):
    """A verdicts file row that does not say what it must."""


def parse_verdicts(text: str, source: str = "verdicts") -> list[Verdict]:
    """Rows of a verdicts CSV; a bad row is an error naming its line, never skipped."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.DictReader(lines)
    if reader.fieldnames is None:
        return []
    missing = [f for f in VERDICT_FIELDS if f not in reader.fieldnames]
    if missing:
        raise VerdictError(f"{source}: missing column(s) {', '.join(missing)}")
    out: list[Verdict] = []
    for number, row in enumerate(reader, start=2):
        verdict, fix = (row["verdict"] or "").strip(), (row["fix"] or "").strip()
        if verdict not in VERDICT_VALUES:
            raise VerdictError(f"{source} row {number}: verdict {verdict!r} is not TP|FP|debatable")
        if fix not in FIX_VALUES:
            raise VerdictError(f"{source} row {number}: fix {fix!r} is not right|wrong|none")
        try:
            line = int(row["line"])
        except (TypeError, ValueError):
            raise VerdictError(
                f"{source} row {number}: line {row['line']!r} is not a number"
            ) from None
        out.append(
            Verdict(
                row["package"].strip(),
                row["version"].strip(),
                row["path"].strip(),
                line,
                row["code"].strip(),
                verdict,
                fix,
                (row["reason"] or "").strip(),
            )
        )
    return out


def format_verdicts(verdicts: list[Verdict]) -> str:
    """The CSV text, sorted by package, path, line and code, so diffs stay small."""
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=VERDICT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for v in sorted(verdicts, key=lambda v: (v.package, v.path, v.line, v.code)):
        writer.writerow(v.row())
    return buf.getvalue()


@dataclass
class Finding(Site):
    message: str
    fixable: bool


@dataclass
class RuleRow:
    findings: int = 0
    tp: int = 0
    fp: int = 0
    debatable: int = 0
    unreviewed: int = 0
    fixes: int = 0
    wrong_fixes: int = 0

    @property
    def precision(self) -> float | None:
        judged = self.tp + self.fp
        return self.tp / judged if judged else None


@dataclass
class Comparison:
    rules: dict[str, RuleRow]
    unreviewed: list[Finding]
    stale: list[Verdict]

    @property
    def lost_true_positives(self) -> list[Verdict]:
        return [v for v in self.stale if v.verdict == "TP"]


def compare(findings: list[Finding], verdicts: list[Verdict], packages: set[str]) -> Comparison:
    """Match findings to verdicts by key; verdicts of packages not run are not stale."""
    by_key: dict[Key, Verdict] = {}
    for v in verdicts:
        by_key.setdefault(v.key, v)
    rules: dict[str, RuleRow] = {}
    unreviewed: list[Finding] = []
    seen: set[Key] = set()
    for f in findings:
        row = rules.setdefault(f.code, RuleRow())
        row.findings += 1
        row.fixes += f.fixable
        v = by_key.get(f.key)
        if v is None or v.verdict == "unreviewed":
            row.unreviewed += 1
            unreviewed.append(f)
            seen.add(f.key)
            continue
        seen.add(f.key)
        row.tp += v.verdict == "TP"
        row.fp += v.verdict == "FP"
        row.debatable += v.verdict == "debatable"
        row.wrong_fixes += f.fixable and v.fix == "wrong"
    stale = [v for v in verdicts if v.package in packages and v.key not in seen]
    return Comparison(dict(sorted(rules.items())), unreviewed, stale)


def updated_verdicts(
    verdicts: list[Verdict], comparison: Comparison, *, prune: bool
) -> list[Verdict]:
    """The verdicts plus an unreviewed row per new finding; minus stale rows when pruning."""
    stale = {id(v) for v in comparison.stale} if prune else set()
    kept = [v for v in verdicts if id(v) not in stale]
    known = {v.key for v in kept}
    for f in comparison.unreviewed:
        if f.key not in known:
            known.add(f.key)
            kept.append(
                Verdict(
                    f.package,
                    f.version,
                    f.path,
                    f.line,
                    f.code,
                    "unreviewed",
                    "" if f.fixable else "none",
                    f.message[:120],
                )
            )
    return kept


def render_table(comparison: Comparison, problems: list[str]) -> str:
    """The per-rule table, as Markdown (it is pasted into ECOSYSTEM.md as it is)."""
    head = (
        "| rule | findings | TP | FP | debatable | unreviewed | precision "
        "| fixes applied | wrong fixes |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|"
    )
    lines = [head]
    total = RuleRow()
    for code, r in comparison.rules.items():
        lines.append(_table_row(code, r))
        for name in ("findings", "tp", "fp", "debatable", "unreviewed", "fixes", "wrong_fixes"):
            setattr(total, name, getattr(total, name) + getattr(r, name))
    lines.append(_table_row("**all**", total))
    crashes = sum(p.startswith("crash") for p in problems)
    lines.append("")
    lines.append(
        f"crashes: {crashes}; invariant failures: {len(problems) - crashes}; "
        f"unreviewed: {len(comparison.unreviewed)}; stale verdicts: {len(comparison.stale)}"
    )
    return "\n".join(lines)


def _table_row(code: str, r: RuleRow) -> str:
    precision = "n/a" if r.precision is None else f"{r.precision:.0%}"
    return (
        f"| {code} | {r.findings} | {r.tp} | {r.fp} | {r.debatable} | {r.unreviewed} "
        f"| {precision} | {r.fixes} | {r.wrong_fixes} |"
    )


# ---------------------------------------------------------------- running


@dataclass
class PackageRun:
    package: Package
    files: int = 0
    lines: int = 0
    check_seconds: float = 0.0
    fix_seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    changed_files: int = 0
    problems: list[str] = field(default_factory=list)


def asyncmend_exe() -> str:
    local = Path(sys.executable).parent / "asyncmend"
    if local.exists():
        return str(local)
    found = shutil.which("asyncmend")
    if not found:
        raise SystemExit("asyncmend not found next to this Python or on PATH")
    return found


def fetch(pkg: Package) -> Path:
    """The extracted package root, downloading and checking the pinned wheel once."""
    root = WORK / "src" / pkg.slug
    if (root / ".extracted").exists():
        return root
    dl = WORK / "dl"
    dl.mkdir(parents=True, exist_ok=True)
    wheel = dl / pkg.wheel
    if not wheel.exists():
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "--only-binary",
            ":all:",
            "-d",
            str(dl),
            f"{pkg.name}=={pkg.version}",
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not wheel.exists():
            raise SystemExit(f"cannot download {pkg.slug}: {proc.stderr.strip()[-400:]}")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if pkg.sha256 and digest != pkg.sha256:
        raise SystemExit(f"{wheel.name}: sha256 {digest} is not the pinned {pkg.sha256}")
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if name.endswith(".py") and ".dist-info/" not in name:
                zf.extract(name, root)
    # bench/.work is gitignored in this repo; a repo of its own lets discovery see the files.
    if not shutil.which("git"):
        raise SystemExit("git is needed: each corpus root is made a repository of its own")
    subprocess.run(["git", "init", "-q", str(root)], check=True, capture_output=True)
    (root / ".extracted").write_text(digest)
    return root


def count_lines(root: Path) -> tuple[int, int]:
    files = lines = 0
    for path in root.rglob("*.py"):
        if ".git" in path.parts:
            continue
        files += 1
        lines += path.read_bytes().count(b"\n")
    return files, lines


def _run(cmd: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = dict(os.environ, NO_COLOR="1", ASYNCMEND_CACHE_DIR=str(WORK / "cache"))
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    return proc, time.perf_counter() - start


def _internal_error(proc: subprocess.CompletedProcess[str], what: str) -> str | None:
    err = proc.stderr
    if proc.returncode not in (0, 1) or "Traceback" in err or "internal error" in err:
        detail = next((ln for ln in err.splitlines() if "internal error" in ln), err[-300:])
        return f"crash: {what} exited {proc.returncode}: {detail.strip()}"
    return None


def _parses(source: bytes) -> bool:
    import libcst

    try:
        libcst.parse_module(source)
    except Exception:
        return False
    return True


def _compiles(source: bytes, name: str) -> bool:
    try:
        compile(source, name, "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*.py")
        if ".git" not in p.parts
    }


def run_package(pkg: Package, exe: str, jobs: int, extra: list[str]) -> PackageRun:
    root = fetch(pkg)
    run = PackageRun(pkg)
    run.files, run.lines = count_lines(root)
    common = ["--no-cache", "--jobs", str(jobs), *extra]

    proc, run.check_seconds = _run(
        [exe, "check", "--select", "ALL", "--format", "json", *common, "."], root
    )
    if problem := _internal_error(proc, "check"):
        run.problems.append(problem)
    try:
        raw = json.loads(proc.stdout or "[]")
    except ValueError:
        run.problems.append(f"crash: check printed no JSON: {proc.stdout[:200]!r}")
        raw = []
    for item in raw:
        path = Path(item["filename"])
        rel = str(path.relative_to(root) if path.is_absolute() else path)
        f = Finding(
            pkg.name,
            pkg.version,
            rel,
            item["location"]["row"],
            item["code"],
            item.get("message", ""),
            item.get("fix") is not None,
        )
        if f.code == "AM000" and _parses((root / rel).read_bytes()):
            run.problems.append(f"crash: AM000 on {rel}, which libcst parses: {f.message}")
        run.findings.append(f)

    copy = WORK / "fixed" / pkg.slug
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(root, copy, symlinks=True)
    before = _snapshot(copy)
    fix_cmd = [exe, "fix", "--unsafe-fixes", "--select", "ALL", *common, "."]
    proc, run.fix_seconds = _run(fix_cmd, copy)
    if problem := _internal_error(proc, "fix"):
        run.problems.append(problem)
    after = _snapshot(copy)
    diff_out: list[str] = []
    for rel, new in sorted(after.items()):
        old = before.get(rel)
        if old == new:
            continue
        run.changed_files += 1
        if not _parses(new):
            run.problems.append(f"invariant: fixed {rel} does not parse")
        elif old is not None and _compiles(old, rel) and not _compiles(new, rel):
            run.problems.append(f"invariant: fixed {rel} does not compile")
        diff_out.extend(
            difflib.unified_diff(
                (old or b"").decode("utf-8", "replace").splitlines(keepends=True),
                new.decode("utf-8", "replace").splitlines(keepends=True),
                f"a/{rel}",
                f"b/{rel}",
            )
        )
    (WORK / "diffs").mkdir(parents=True, exist_ok=True)
    (WORK / "diffs" / f"{pkg.slug}.diff").write_text("".join(diff_out))
    proc, _ = _run(fix_cmd, copy)
    if problem := _internal_error(proc, "second fix"):
        run.problems.append(problem)
    again = _snapshot(copy)
    for rel in sorted(k for k in again if again[k] != after.get(k)):
        run.problems.append(f"invariant: second fix changed {rel}")
    return run


# ---------------------------------------------------------------- peer cases

#: Case file -> the peer rules its cases were written after (see peer_cases/README.md).
PEER_FILES: dict[str, str] = {
    "ruf006_dangling_task.py": "ruff RUF006",
    "async300_create_task_no_reference.py": "flake8-async ASYNC300",
    "async210_blocking_http.py": "ASYNC210",
    "async22x_blocking_process.py": "ASYNC220/221/222",
    "async230_blocking_open.py": "ASYNC230",
    "async251_fixit_blocking_sleep.py": "ASYNC251 + Fixit UseAsyncSleepInAsyncDef",
    "async105_not_awaited.py": "ASYNC105 (asyncio analogue)",
    "async115_116_sleep_forms.py": "ASYNC115/116 (no asyncmend rule)",
}


@dataclass
class PeerRow:
    peer: str
    positives: int = 0
    found: int = 0
    negatives: int = 0
    wrongly_flagged: int = 0
    misses: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)


def peer_markers(source: str) -> tuple[dict[int, str], set[int]]:
    """Expected (line -> code) and must-be-silent lines of one case file."""
    expected: dict[int, str] = {}
    silent: set[int] = set()
    for number, line in enumerate(source.splitlines(), start=1):
        _, sep, comment = line.partition("# expect: ")
        if sep:
            expected[number] = comment.split()[0]
        elif line.rstrip().endswith("# ok"):
            silent.add(number)
    return expected, silent


def score_peer_file(peer: str, source: str, found: list[tuple[int, str]], name: str) -> PeerRow:
    """Positives found and negatives (or unmarked lines) wrongly flagged, for one case file."""
    expected, silent = peer_markers(source)
    row = PeerRow(peer, positives=len(expected), negatives=len(silent))
    hits = set(found)
    for line, code in sorted(expected.items()):
        if (line, code) in hits:
            row.found += 1
        else:
            row.misses.append(f"{name}:{line} {code}")
    for line, code in sorted(hits):
        if expected.get(line) == code:
            continue
        row.wrongly_flagged += line in silent
        row.wrong.append(f"{name}:{line} {code}" + ("" if line in silent else " (unmarked line)"))
    return row


#: Case file -> the false-positive/negative class of the review it stands for.
CLASS_FILES: dict[str, str] = {
    "am302_commit_ends_path.py": "AM302: a commit that ends its path",
    "am301_handlers.py": "AM301: savepoint, conditional re-raise, raise after try",
    "am401_cheap_enqueue.py": "AM401: `send_*` callee that only enqueues",
    "am204_sync_session_attribute.py": "AM204: sync Session held on `self`",
    "fn_session_from_database_object.py": "FN AM201: session from a database object",
    "fn_sync_session_in_async_dependency.py": "FN AM205: sync Session in async dependency",
    "fn_session_from_factory_result.py": "FN AM201: session from a factory's returned object",
}


def run_peers(exe: str) -> int:
    """Score the peer cases and the review's class cases, one table each."""
    extra = _preview_flag(exe)  # preview rules are measured too
    for folder, files, title in (
        (PEER_CASES, PEER_FILES, "peer rule"),
        (CLASS_CASES, CLASS_FILES, "class from the review"),
    ):
        cmd = [exe, "check", "--no-cache", "--select", "ALL", "--format", "json", *extra, "."]
        proc, _ = _run(cmd, folder)
        if problem := _internal_error(proc, "check"):
            print(problem, file=sys.stderr)
            return 1
        by_file: dict[str, list[tuple[int, str]]] = {}
        for item in json.loads(proc.stdout or "[]"):
            by_file.setdefault(Path(item["filename"]).name, []).append(
                (item["location"]["row"], item["code"])
            )
        print(f"| {title} | cases file | positives found | negatives wrongly flagged |")
        print("|---|---|--:|--:|")
        details: list[str] = []
        for name, label in files.items():
            source = (folder / name).read_text()
            row = score_peer_file(label, source, by_file.get(name, []), name)
            print(
                f"| {label} | `{name}` | {row.found} / {row.positives} "
                f"| {row.wrongly_flagged} / {row.negatives} |"
            )
            details += [f"missed {m}" for m in row.misses] + [f"wrong {w}" for w in row.wrong]
        for line in details:
            print(line)
        print()
    return 0


def _preview_flag(exe: str) -> list[str]:
    """Select preview rules too where the CLI has them: every rule is measured here."""
    proc = subprocess.run(
        [exe, "check", "--help"],
        capture_output=True,
        text=True,
        env=dict(os.environ, NO_COLOR="1", COLUMNS="200"),
    )
    return ["--preview"] if "--preview" in proc.stdout else []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="only the small CI packages")
    parser.add_argument(
        "--update", action="store_true", help="append new findings as unreviewed rows"
    )
    parser.add_argument("--prune", action="store_true", help="drop verdicts whose finding is gone")
    parser.add_argument(
        "--strict", action="store_true", help="smoke too fails on unreviewed findings"
    )
    parser.add_argument(
        "--package", action="append", default=[], help="run only these (repeatable)"
    )
    parser.add_argument("--peers", action="store_true", help="only the peer cases (no download)")
    parser.add_argument("--jobs", type=int, default=2, help="asyncmend --jobs (default 2)")
    args = parser.parse_args(argv)

    packages = [p for p in PACKAGES if p.smoke] if args.smoke else list(PACKAGES)
    if args.package:
        unknown = set(args.package) - {p.name for p in PACKAGES}
        if unknown:
            parser.error(f"unknown package(s): {', '.join(sorted(unknown))}")
        packages = [p for p in PACKAGES if p.name in args.package]
    try:
        verdicts = parse_verdicts(VERDICTS.read_text(), str(VERDICTS)) if VERDICTS.exists() else []
    except VerdictError as exc:
        print(exc, file=sys.stderr)
        return 2
    exe = asyncmend_exe()
    if args.peers:
        return run_peers(exe)
    extra = _preview_flag(exe)

    runs: list[PackageRun] = []
    for pkg in packages:
        print(f"{pkg.slug} ...", file=sys.stderr, flush=True)
        runs.append(run_package(pkg, exe, args.jobs, extra))

    findings = [f for r in runs for f in r.findings]
    problems = [f"{r.package.slug}: {p}" for r in runs for p in r.problems]
    comparison = compare(findings, verdicts, {p.name for p in packages})

    print("| package | version | files | lines | findings | check s | fix s | files fixed |")
    print("|---|---|--:|--:|--:|--:|--:|--:|")
    for r in runs:
        print(
            f"| {r.package.name} | {r.package.version} | {r.files} | {r.lines} | "
            f"{len(r.findings)} | {r.check_seconds:.1f} | {r.fix_seconds:.1f} | {r.changed_files} |"
        )
    print(
        f"| **total** | | {sum(r.files for r in runs)} | {sum(r.lines for r in runs)} | "
        f"{len(findings)} | {sum(r.check_seconds for r in runs):.1f} | "
        f"{sum(r.fix_seconds for r in runs):.1f} | {sum(r.changed_files for r in runs)} |"
    )
    print()
    print(render_table(comparison, problems))
    for p in problems:
        print(f"PROBLEM {p}")
    for f in comparison.unreviewed:
        print(f"unreviewed {f.package} {f.path}:{f.line} {f.code} {f.message[:100]}")
    for v in comparison.stale:
        print(f"stale ({v.verdict}) {v.package} {v.path}:{v.line} {v.code}: {v.reason}")

    if args.update or args.prune:
        VERDICTS.parent.mkdir(parents=True, exist_ok=True)
        VERDICTS.write_text(
            format_verdicts(updated_verdicts(verdicts, comparison, prune=args.prune))
        )
        print(f"wrote {VERDICTS}", file=sys.stderr)

    failed = bool(problems)
    if not args.smoke or args.strict:
        failed |= bool(comparison.unreviewed) and not args.update
        failed |= bool(comparison.lost_true_positives)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
