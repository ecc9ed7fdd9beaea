"""The tools the benchmark times, how each is found, invoked and judged.

Every tool runs as a subprocess with the corpus root as its working directory and
``.`` as the path, so all tools see the same files and print relative paths.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
WORK = BENCH_DIR / ".work"
BENCH_VENV = WORK / "venv"

# Versions installed into the bench venv by `run.py --setup` (current on PyPI, 2026-11).
PEER_PINS = [
    "fixit==2.2.1",
    "flake8==7.5.0",
    "flake8-async==26.8.1",
    "ruff==0.17.6",
    "libcst==1.9.0",
]

FIXIT_RULE = "fixit.rules:UseAsyncSleepInAsyncDef"
RUFF_RULES = "ASYNC,RUF006"

FINDING_LINE = re.compile(r"^\S+?[:@]\d+")  # path:line:... (ruff, flake8) / path@line (fixit)


@dataclass(frozen=True)
class RunCtx:
    """What a command line may depend on."""

    corpus: str  # corpus name, for per-corpus cache dirs
    jobs: int | None  # explicit --jobs, or None for each tool's default

    @property
    def cache_root(self) -> Path:
        return WORK / "cache" / self.corpus


@dataclass
class Tool:
    key: str  # name for --tools
    label: str  # row label in the table
    exe: str  # executable to look up
    argv: Callable[[str, RunCtx], list[str]]  # (resolved exe, ctx) -> command
    group: str  # "asyncmend" or "peer": where to look the exe up
    warm: bool = False  # run once untimed first (fills the cache)
    writes: bool = False  # rewrites files (a fix pipeline): runs on a fresh copy each time
    finds: bool = True  # reports findings: expected to print some on the synthetic corpus
    count: Callable[[str], int | None] = field(default=lambda out: _count_findings(out))
    path: str | None = None  # resolved executable, or None when not installed
    note: str = ""  # why it is skipped


def _count_findings(stdout: str) -> int:
    return sum(1 for line in stdout.splitlines() if FINDING_LINE.match(line))


def _count_hunks(stdout: str) -> int:
    return sum(1 for line in stdout.splitlines() if line.startswith("@@"))


def _count_none(stdout: str) -> int | None:
    return None


def _asyncmend_env_cache(ctx: RunCtx) -> Path:
    return ctx.cache_root / "asyncmend"


def _jobs(flag: str, ctx: RunCtx) -> list[str]:
    return [flag, str(ctx.jobs)] if ctx.jobs else []


def _cpu() -> int:
    return os.cpu_count() or 1


def _ruff(exe: str, *flags: str) -> list[str]:
    """``ruff check`` on ``.`` with the comparable rules, config and .gitignore ignored."""
    return [
        exe, "check", "--isolated", "--no-respect-gitignore", *flags,
        "--select", RUFF_RULES, "--output-format", "concise", ".",
    ]  # fmt: skip


def all_tools() -> list[Tool]:
    parse = str(BENCH_DIR / "parse_only.py")
    return [
        Tool(
            "asyncmend-cold",
            "asyncmend check --no-cache",
            "asyncmend",
            lambda exe, c: [exe, "check", "--no-cache", *_jobs("--jobs", c), "."],
            "asyncmend",
        ),
        Tool(
            "asyncmend-warm",
            "asyncmend check (warm cache)",
            "asyncmend",
            lambda exe, c: [exe, "check", *_jobs("--jobs", c), "."],
            "asyncmend",
            warm=True,
        ),
        Tool(
            "asyncmend-diff",
            "asyncmend diff --no-cache",
            "asyncmend",
            lambda exe, c: [exe, "diff", "--no-cache", *_jobs("--jobs", c), "."],
            "asyncmend",
            count=_count_hunks,
        ),
        Tool(
            "asyncmend-fix",
            "asyncmend fix --no-cache (on a copy)",
            "asyncmend",
            lambda exe, c: [exe, "fix", "--no-cache", *_jobs("--jobs", c), "."],
            "asyncmend",
            finds=False,
            count=_count_none,
            writes=True,
        ),
        Tool(
            "fixit",
            f"fixit lint ({FIXIT_RULE.split(':')[1]} only)",
            "fixit",
            lambda exe, c: [exe, "--rules", FIXIT_RULE, "lint", "."],
            "peer",
        ),
        Tool(
            "fixit-fix",
            f"fixit fix --automatic ({FIXIT_RULE.split(':')[1]} only, on a copy)",
            "fixit",
            lambda exe, c: [exe, "--rules", FIXIT_RULE, "fix", "--automatic", "."],
            "peer",
            finds=False,
            count=_count_none,
            writes=True,
        ),
        Tool(
            "flake8-async",
            f"flake8 --select ASYNC -j {_cpu()}",
            "flake8",
            lambda exe, c: [
                exe,
                "--isolated",
                "--select",
                "ASYNC",
                "-j",
                str(c.jobs or _cpu()),
                ".",
            ],
            "peer",
        ),
        Tool(
            "ruff-cold",
            f"ruff check --no-cache --select {RUFF_RULES}",
            "ruff",
            lambda exe, c: _ruff(exe, "--no-cache"),
            "peer",
        ),
        Tool(
            "ruff-warm",
            f"ruff check --select {RUFF_RULES} (warm cache)",
            "ruff",
            lambda exe, c: _ruff(exe, "--cache-dir", str(c.cache_root / "ruff")),
            "peer",
            warm=True,
        ),
        Tool(
            "ruff-diff",
            f"ruff check --diff --no-cache --select {RUFF_RULES}",
            "ruff",
            lambda exe, c: _ruff(exe, "--no-cache", "--diff"),
            "peer",
            finds=False,
            count=_count_hunks,
        ),
        Tool(
            "ruff-fix",
            f"ruff check --fix --no-cache --select {RUFF_RULES} (on a copy)",
            "ruff",
            lambda exe, c: _ruff(exe, "--no-cache", "--fix"),
            "peer",
            finds=False,
            writes=True,
        ),
        Tool(
            "parse-1",
            "libcst parse only, 1 process",
            "python",
            lambda exe, c: [exe, parse, ".", "--jobs", "1"],
            "parse",
            finds=False,
            count=_count_none,
        ),
        Tool(
            "parse-n",
            f"libcst parse only, {_cpu()} processes",
            "python",
            lambda exe, c: [exe, parse, ".", "--jobs", str(c.jobs or _cpu())],
            "parse",
            finds=False,
            count=_count_none,
        ),
    ]


GROUPS = {
    "asyncmend": ["asyncmend-cold", "asyncmend-warm", "asyncmend-diff", "asyncmend-fix"],
    "ruff": ["ruff-cold", "ruff-warm", "ruff-diff", "ruff-fix"],
    "fixit": ["fixit", "fixit-fix"],
    # The key "fixit" names the group above; this selects its lint run alone.
    "fixit-lint": ["fixit"],
    "parse": ["parse-1", "parse-n"],
}


def select(tools: list[Tool], names: str | None) -> list[Tool]:
    if not names:
        return tools
    wanted: list[str] = []
    for name in (n.strip() for n in names.split(",") if n.strip()):
        wanted.extend(GROUPS.get(name, [name]))
    known = {t.key for t in tools}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        print(
            f"run.py: unknown tool(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(known | set(GROUPS)))}",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return [t for t in tools if t.key in wanted]


def asyncmend_cache_env(ctx: RunCtx) -> dict[str, str]:
    env = dict(os.environ)
    env["ASYNCMEND_CACHE_DIR"] = str(_asyncmend_env_cache(ctx))
    # As installed for a user: Python keeps the compiled modules (an editable install
    # under PYTHONDONTWRITEBYTECODE would compile every module on every start).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


# ---------------------------------------------------------------- discovery


def _bin_dirs(group: str) -> list[Path]:
    here = Path(sys.executable).parent  # the venv run.py runs from (not resolved)
    venv = BENCH_VENV / "bin"
    if group == "asyncmend":
        return [here]
    return [venv, here]


def _which(exe: str, dirs: list[Path]) -> str | None:
    for d in dirs:
        candidate = d / exe
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(exe)


def _ok(cmd: list[str]) -> tuple[bool, str]:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return proc.returncode == 0, proc.stdout + proc.stderr


def _python_with_libcst() -> str | None:
    for python in (BENCH_VENV / "bin" / "python", Path(sys.executable)):
        if python.exists() and _ok([str(python), "-c", "import libcst"])[0]:
            return str(python)
    return None


def resolve(tool: Tool, asyncmend: str | None) -> Tool:
    """Fill tool.path, or tool.note with the reason it is skipped."""
    if tool.group == "parse":
        tool.path = _python_with_libcst()
        tool.note = "" if tool.path else "no python with libcst (run `run.py --setup`)"
        return tool
    path = asyncmend if (tool.group == "asyncmend" and asyncmend) else None
    path = path or _which(tool.exe, _bin_dirs(tool.group))
    if path is None:
        tool.note = f"`{tool.exe}` not found in {_bin_dirs(tool.group)[0]} or PATH"
        return tool
    if tool.key == "flake8-async":
        ok, out = _ok([path, "--version"])
        if not ok or "flake8-async" not in out:
            tool.note = f"flake8 at {path} has no flake8-async plugin"
            return tool
    tool.path = path
    return tool


def version(tool: Tool) -> str:
    """One-line version string for the header, best effort."""
    if tool.path is None:
        return "-"
    if tool.group == "parse":
        cmd = [
            tool.path,
            "-c",
            "import libcst, importlib.metadata as m; print('libcst', m.version('libcst'))",
        ]
    else:
        cmd = [tool.path, "--version"]
    ok, out = _ok(cmd)
    text = " ".join(out.split())
    return text[:120] if ok and text else "?"
