"""asyncmend benchmark: every tool on every corpus, side by side, in one run.

    python bench/run.py [--corpus services|real|synthetic|all] [--synthetic-lines 200000,2000000]
                        [--services-scale 1,2,4] [--scale-tools asyncmend-cold]
                        [--package NAME] [--repeat 3] [--tools asyncmend,ruff,...]
                        [--smoke] [--setup]

Prints a markdown table (median wall time of the repeats with min-max, lines/s, peak
RSS of the process tree, findings, ratio to ``asyncmend check --no-cache``) and saves
it with the raw numbers under bench/.work/results/. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import venv
from dataclasses import asdict, dataclass, field
from pathlib import Path

import corpus as corpora
import measure
import tools as toolmod
from corpus import Corpus
from tools import WORK, RunCtx, Tool

SMOKE_LINES = 3_000
LOAD_AT_START = " ".join(f"{x:.2f}" for x in os.getloadavg())


def busy() -> bool:
    return os.getloadavg()[0] > (os.cpu_count() or 1) or float(LOAD_AT_START.split()[0]) > (
        os.cpu_count() or 1
    )


BASELINE = "asyncmend-cold"


@dataclass
class Row:
    tool: str
    key: str
    corpus: str
    files: int
    lines: int
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    found: int | None = None
    status: str = "ok"  # ok | failed | skipped
    note: str = ""
    stderr_tail: str = ""  # last stderr line of the last run (fixit's file count, ...)

    @property
    def median(self) -> float | None:
        return statistics.median(self.walls) if self.walls else None


# ---------------------------------------------------------------- options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Benchmark asyncmend against its peers.")
    p.add_argument(
        "--setup",
        action="store_true",
        help=f"create {toolmod.BENCH_VENV} with the peer tools, then exit",
    )
    p.add_argument(
        "--corpus",
        choices=["services", "real", "synthetic", "all"],
        default="all",
        help="services: the ecosystem check's real async services (the headline); "
        "real: pinned library wheels; synthetic: the generated service",
    )
    p.add_argument(
        "--synthetic-lines",
        default="200000",
        help="comma-separated sizes in lines, e.g. 200000,1000000,2000000",
    )
    p.add_argument(
        "--services-scale",
        default="1",
        help="comma-separated copies of the services corpus, e.g. 1,2,4 for a scaling row "
        "(peak RSS and time as the corpus grows)",
    )
    p.add_argument(
        "--package",
        action="append",
        default=[],
        metavar="NAME",
        help="only this package of the services corpus (repeatable): the whole benchmark "
        "on a small subset, e.g. --package fastapi-users-db-sqlalchemy",
    )
    p.add_argument(
        "--scale-tools",
        default="asyncmend-cold",
        help="tools (keys or groups) timed on the scaled copies of --services-scale "
        "(default asyncmend-cold: the scaling row; the peers take minutes per copy)",
    )
    p.add_argument("--repeat", type=int, default=None, help="timed runs per tool (default 3)")
    p.add_argument(
        "--tools",
        default=None,
        help="comma-separated keys or groups: "
        + ", ".join([t.key for t in toolmod.all_tools()] + list(toolmod.GROUPS)),
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help=f"~{SMOKE_LINES} synthetic lines, no download, 1 run (CI, < 60 s)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="pass --jobs/-j N to asyncmend, flake8 and parse-only",
    )
    p.add_argument("--asyncmend", default=None, help="asyncmend executable to use")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per tool run")
    args = p.parse_args(argv)
    if args.smoke:
        args.corpus = "synthetic"
        args.synthetic_lines = str(SMOKE_LINES)
        args.repeat = args.repeat or 1
    args.repeat = args.repeat or 3
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    args.sizes = [int(s.replace("_", "")) for s in args.synthetic_lines.split(",") if s.strip()]
    args.scales = [int(s) for s in args.services_scale.split(",") if s.strip()]
    if not args.scales or min(args.scales) < 1:
        p.error("--services-scale takes positive integers")
    return args


# ---------------------------------------------------------------- setup


def setup_venv() -> int:
    """(Re)create bench/.work/venv and install the peers into it."""
    vdir = toolmod.BENCH_VENV
    if not (vdir / "bin" / "python").exists():
        print(f"creating {vdir}", file=sys.stderr)
        venv.create(vdir, with_pip=True)
    cmd = [str(vdir / "bin" / "python"), "-m", "pip", "install", *toolmod.PEER_PINS]
    print("$ " + " ".join(cmd), file=sys.stderr)
    return subprocess.run(cmd).returncode


# ---------------------------------------------------------------- running


def prepare_corpora(args: argparse.Namespace) -> list[Corpus]:
    found: list[Corpus] = []
    if args.corpus in ("services", "all"):
        services = corpora.prepare_services(WORK, args.package)
        found.extend(services if k == 1 else corpora.scaled(WORK, services, k) for k in args.scales)
    if args.corpus in ("real", "all"):
        found.append(corpora.prepare_real(WORK))
    if args.corpus in ("synthetic", "all"):
        found.extend(corpora.prepare_synthetic(WORK, n) for n in args.sizes)
    return found


def judge(tool: Tool, res: measure.Result, synthetic: bool) -> str:
    """Empty string when the run is fine, else why it counts as failed.

    Linters exit 1 when they find something; that is success. A crash is an exit code
    other than 0/1 (including death by signal and our timeout, 124), or a finder
    that printed nothing on the synthetic corpus, where every finder has something to
    find.
    """
    if res.exit_code not in (0, 1):
        tail = res.stderr.strip().splitlines()[-1:] or ["(no stderr)"]
        return f"exit {res.exit_code}: {tail[0][:160]}"
    if tool.finds and synthetic and not res.stdout.strip():
        return f"exit {res.exit_code} with no output on a corpus with known findings"
    if tool.group == "parse" and res.exit_code != 0:
        return f"exit {res.exit_code}"
    return ""


def run_tool_once(tool: Tool, c: Corpus, ctx: RunCtx, timeout: float) -> measure.Result:
    assert tool.path is not None
    env = toolmod.asyncmend_cache_env(ctx)
    cwd = c.root
    if tool.writes:  # `fix` pipelines rewrite files: each run gets a fresh copy (untimed)
        cwd = WORK / "scratch" / c.name
        shutil.rmtree(cwd, ignore_errors=True)
        shutil.copytree(c.root, cwd, symlinks=True)
    try:
        return measure.run(tool.argv(tool.path, ctx), cwd=cwd, env=env, timeout=timeout)
    finally:
        if tool.writes:
            shutil.rmtree(cwd, ignore_errors=True)


def reset_caches(ctx: RunCtx) -> None:
    shutil.rmtree(ctx.cache_root, ignore_errors=True)
    ctx.cache_root.mkdir(parents=True)


def bench_corpus(c: Corpus, selected: list[Tool], args: argparse.Namespace) -> list[Row]:
    ctx = RunCtx(corpus=c.name, jobs=args.jobs)
    reset_caches(ctx)
    synthetic = c.name.startswith("synthetic")
    rows = {t.key: Row(t.label, t.key, c.name, c.files, c.lines) for t in selected}
    live = []
    for t in selected:
        if t.path is None:
            rows[t.key].status, rows[t.key].note = "skipped", t.note
        else:
            live.append(t)
    for t in [t for t in live if t.warm]:  # fill the cache, untimed
        log(f"{c.name}: warm-up {t.key}")
        res = run_tool_once(t, c, ctx, args.timeout)
        _record_failure(rows[t.key], judge(t, res, synthetic), res)
    # Round-robin over the tools in each repeat, so drift on the machine is shared.
    for i in range(args.repeat):
        for t in live:
            row = rows[t.key]
            if row.status == "failed":
                continue
            log(f"{c.name}: {t.key} run {i + 1}/{args.repeat}")
            res = run_tool_once(t, c, ctx, args.timeout)
            if _record_failure(row, judge(t, res, synthetic), res):
                continue
            row.walls.append(res.wall)
            row.cpus.append(res.cpu)
            row.rss_kb.append(res.peak_rss_kb)
            row.found = t.count(res.stdout)
            row.stderr_tail = (res.stderr.strip().splitlines() or [""])[-1][:300]
    return list(rows.values())


def _record_failure(row: Row, why: str, res: measure.Result) -> bool:
    if not why:
        return False
    row.status, row.note = "failed", why
    row.walls, row.cpus, row.rss_kb = [], [], []
    stderr = res.stderr.strip()
    if stderr:
        log(f"  {row.key} failed; stderr tail:\n    " + "\n    ".join(stderr.splitlines()[-8:]))
    return True


def log(msg: str) -> None:
    print(f"# {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- report


def secs(x: float) -> str:
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def ratio_text(r: float) -> str:
    return f"{r:.2f}" if r >= 0.1 else f"{r:.2g}"


def fmt_row(row: Row, baseline: float | None) -> str:
    head = f"| {row.tool} | {row.corpus} | {row.files} | {row.lines}"
    med = row.median
    if row.status != "ok" or med is None:
        return f"{head} | {row.status.upper()}: {row.note} | - | - | - | - | - |"
    spread = f"{secs(med)} ({secs(min(row.walls))}-{secs(max(row.walls))})"
    rate = f"{row.lines / med:,.0f}" if med else "-"
    cpu = secs(statistics.median(row.cpus))
    rss = f"{max(row.rss_kb) / 1024:,.0f}"
    found = "-" if row.found is None else str(row.found)
    ratio = f"{ratio_text(med / baseline)}x" if baseline else "n/a"
    return f"{head} | {spread} | {rate} | {cpu} | {rss} | {found} | {ratio} |"


def table(rows: list[Row]) -> str:
    out = [
        "| tool | corpus | files | lines | wall s median (min-max) | lines/s | CPU s "
        "| peak RSS MB | found | time vs asyncmend check cold |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for corpus_name in dict.fromkeys(r.corpus for r in rows):
        group = [r for r in rows if r.corpus == corpus_name]
        base = next((r.median for r in group if r.key == BASELINE and r.status == "ok"), None)
        out.extend(fmt_row(r, base) for r in group)
    return "\n".join(out)


def header(selected: list[Tool], args: argparse.Namespace) -> str:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"asyncmend benchmark, {now}; {platform.node()} {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; "
        f"median of {args.repeat} run(s); found = findings (diff: hunks) printed",
        f"load average at start {LOAD_AT_START}"
        + (
            " (higher than the core count: other work shares the machine, wall times are "
            "inflated; CPU s is the steadier figure)"
            if busy()
            else ""
        ),
    ]
    for t in selected:
        where = t.path or "not installed"
        lines.append(f"- `{t.key}`: {where} ({toolmod.version(t)})")
    return "\n".join(lines)


def ground_truth(cs: list[Corpus]) -> str:
    """What the generator injected into each synthetic corpus, to read 'found' against."""
    lines = []
    for c in cs:
        manifest = c.root / "ANTIPATTERNS.json"
        if manifest.exists():
            counts: dict[str, int] = {}
            for item in json.loads(manifest.read_text()):
                counts[item["kind"]] = counts.get(item["kind"], 0) + 1
            detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
            lines.append(f"- {c.name}: {sum(counts.values())} injected anti-patterns ({detail})")
    return "\n".join(lines)


def save(report: str, rows: list[Row]) -> Path:
    out = WORK / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    (out / f"{stamp}.md").write_text(report + "\n")
    (out / f"{stamp}.json").write_text(json.dumps([asdict(r) for r in rows], indent=1))
    return out / f"{stamp}.md"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.setup:
        return setup_venv()
    selected = toolmod.select(toolmod.all_tools(), args.tools)
    for t in selected:
        toolmod.resolve(t, args.asyncmend)
    scale_keys = {t.key for t in toolmod.select(toolmod.all_tools(), args.scale_tools)}
    rows: list[Row] = []
    cs = prepare_corpora(args)
    for c in cs:
        log(f"corpus {c.name}: {c.files} files, {c.lines} lines at {c.root}")
        # The copies of --services-scale time the scaling row's tools only.
        tools = [t for t in selected if t.key in scale_keys] if c.copies > 1 else selected
        rows.extend(bench_corpus(c, tools, args))
    report = header(selected, args) + "\n\n" + table(rows)
    truth = ground_truth(cs)
    if truth:
        report += "\n\n" + truth
    print(report)
    log(f"saved {save(report, rows)}")
    # Peers that break (or are missing) do not fail the run; asyncmend crashing does.
    return 1 if any(r.status == "failed" and r.key.startswith("asyncmend") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
