"""Fix cost against the number of findings in one file: a generated service module
with N anti-patterns (every kind of ``bench/synth.py``, in turn), inside a small
synthetic project so the repo index knows its models and session factory, timed with
``check --no-cache`` and ``diff --no-cache`` (CPU seconds of the process tree).

    python bench/fix_scaling.py [--findings 500,1000,2000] [--asyncmend PATH]

Fix time should grow linearly with the findings: the diff/check ratio should not grow
with N.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
from pathlib import Path

import measure
import synth
from tools import WORK


def write_project(root: Path, findings: int) -> Path:
    """A small synthetic project plus ``svc/services/many.py`` holding ``findings``
    anti-pattern units; returns that file."""
    shutil.rmtree(root, ignore_errors=True)
    synth.generate(root, 3_000)
    rng = random.Random(f"fix-scaling:{findings}")
    domain = synth.make_domain(0, rng)
    kinds = [kind for kind in synth.ANTIPATTERNS if "services" in synth.BAD[kind]]
    parts = [synth.HEADS["services"].format(**synth.Ctx(domain, 0, rng).values())]
    for n in range(1, findings + 1):
        kind = kinds[n % len(kinds)]
        parts.append(synth.BAD[kind]["services"].format(**synth.Ctx(domain, n, rng).values()))
    target = root / "svc" / "services" / "many.py"
    target.write_text("".join(parts))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--findings", default="500,1000,2000")
    parser.add_argument("--asyncmend", default=str(Path(sys.executable).parent / "asyncmend"))
    args = parser.parse_args(argv)
    print("| units | lines | findings | check CPU s | diff CPU s | diff / check | hunks |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for count in (int(n) for n in args.findings.split(",")):
        root = WORK / "fix-scaling" / str(count)
        target = write_project(root, count)
        rel = str(target.relative_to(root))
        check = measure.run(
            [args.asyncmend, "check", "--no-cache", "--jobs", "1", rel], cwd=root, timeout=3600
        )
        diff = measure.run(
            [args.asyncmend, "diff", "--no-cache", "--jobs", "1", rel], cwd=root, timeout=3600
        )
        found = sum(1 for line in check.stdout.splitlines() if line.startswith(rel + ":"))
        hunks = sum(1 for line in diff.stdout.splitlines() if line.startswith("@@"))
        lines = target.read_text().count("\n")
        print(
            f"| {count} | {lines} | {found} | {check.cpu:.2f} | {diff.cpu:.2f} "
            f"| {diff.cpu / check.cpu:.2f} | {hunks} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
