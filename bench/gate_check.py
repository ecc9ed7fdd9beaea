"""The candidate gate drops no finding on real code: run ``asyncmend check`` (every
rule, preview included) over each package of the ecosystem corpus with the gate and
without it (``ASYNCMEND_NO_GATE=1``), and compare the findings exactly.

    python bench/gate_check.py                       # every package in bench/.work/ecosystem/src
    python bench/gate_check.py --package sqladmin    # a subset (name prefix)

Prints per package the findings and seconds of both runs, then every difference.
Exit 0 when the findings are identical everywhere, 1 when they differ or a run fails,
2 for bad usage (no corpus: run ``python bench/ecosystem.py`` once to download it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / ".work" / "ecosystem" / "src"


def _check(exe: str, root: Path, jobs: int, gate: bool) -> tuple[list[tuple], float, str]:
    env = dict(os.environ)
    if gate:
        env.pop("ASYNCMEND_NO_GATE", None)
    else:
        env["ASYNCMEND_NO_GATE"] = "1"
    cmd = [exe, "check", "--select", "ALL", "--preview", "--no-cache", "--exit-zero"]
    cmd += ["--output-format", "json", "--jobs", str(jobs), "."]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        return [], seconds, f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}"
    findings = sorted(
        (
            item["filename"],
            item["location"]["row"],
            item["location"]["column"],
            item["end_location"]["row"],
            item["end_location"]["column"],
            item["code"],
            item["message"],
        )
        for item in json.loads(proc.stdout or "[]")
    )
    return findings, seconds, ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", action="append", default=[], help="name prefix")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--asyncmend", default=shutil.which("asyncmend") or "asyncmend")
    args = parser.parse_args()
    if os.sep in args.asyncmend:
        args.asyncmend = str(Path(args.asyncmend).resolve())
    if not CORPUS.is_dir():
        print(f"gate_check: no corpus at {CORPUS}", file=sys.stderr)
        return 2
    roots = sorted(
        p for p in CORPUS.iterdir() if p.is_dir() and (not args.package or any(
            p.name.startswith(name) for name in args.package))
    )  # fmt: skip
    if not roots:
        print("gate_check: no package matches", file=sys.stderr)
        return 2
    failed = False
    totals = [0.0, 0.0]
    print(f"{'package':40} {'findings':>8} {'gate s':>8} {'no-gate s':>9}")
    for root in roots:
        gated, gated_s, gated_err = _check(args.asyncmend, root, args.jobs, gate=True)
        plain, plain_s, plain_err = _check(args.asyncmend, root, args.jobs, gate=False)
        totals[0] += gated_s
        totals[1] += plain_s
        same = gated == plain and not gated_err and not plain_err
        mark = "" if same else "  DIFFERENT"
        print(f"{root.name:40} {len(plain):>8} {gated_s:>8.1f} {plain_s:>9.1f}{mark}")
        for error in (gated_err, plain_err):
            if error:
                print(f"  run failed: {error}")
        for item in sorted(set(plain) - set(gated)):
            print(f"  dropped by the gate: {item}")
        for item in sorted(set(gated) - set(plain)):
            print(f"  only with the gate: {item}")
        failed |= not same
    print(f"{'total':40} {'':>8} {totals[0]:>8.1f} {totals[1]:>9.1f}")
    print("identical findings" if not failed else "FINDINGS DIFFER")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
