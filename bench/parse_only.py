"""Parse every .py file under a directory with libcst and nothing else.

    python bench/parse_only.py FILES_DIR [--jobs N]

The floor for any libcst-based tool: reading plus ``libcst.parse_module``. With
``--jobs 1`` everything runs in this process; with N > 1 a multiprocessing pool of N
workers (default: one per core) parses files in chunks. Prints one summary line:
files, lines, parse failures, seconds, lines/s. Exit 0 even when some files fail to
parse (real corpora hold syntax libcst may not accept); exit 2 on bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import libcst


def parse_file(path: str) -> tuple[int, bool]:
    """(lines, parsed ok) for one file."""
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        libcst.parse_module(data)
    except Exception:  # ParserSyntaxError, and libcst's rare internal errors
        return data.count(b"\n"), False
    return data.count(b"\n"), True


def find_files(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*.py") if p.is_file())


def parse_all(files: list[str], jobs: int) -> tuple[int, int]:
    """(total lines, failures)."""
    if jobs <= 1:
        results = [parse_file(f) for f in files]
    else:
        chunk = max(1, len(files) // (jobs * 8))
        with Pool(jobs) as pool:
            results = pool.map(parse_file, files, chunksize=chunk)
    return sum(n for n, _ in results), sum(1 for _, ok in results if not ok)


def main() -> int:
    parser = argparse.ArgumentParser(description="libcst parse-only floor")
    parser.add_argument("root", type=Path)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if not args.root.is_dir():
        print(f"parse_only: not a directory: {args.root}", file=sys.stderr)
        return 2
    files = find_files(args.root)
    start = time.perf_counter()
    lines, failures = parse_all(files, args.jobs)
    elapsed = time.perf_counter() - start
    rate = lines / elapsed if elapsed else 0.0
    print(
        f"files={len(files)} lines={lines} failures={failures} jobs={args.jobs} "
        f"seconds={elapsed:.2f} lines_per_s={rate:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
