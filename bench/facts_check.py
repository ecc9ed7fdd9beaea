"""Pass 1's facts, dumped canonically: the proof that a change to pass 1 (the collectors
of ``codemods/facts``, ``engine.index.collect_facts``) changed no fact.

Computes the ``FileFacts`` of every ``.py`` file under each folder given (sorted paths,
one process) and writes them as JSON: one line per file, the dataclass's compared fields (the
transient ones, ``source``, left out), keys sorted, lists in the order the collectors made them
(an order change is a change). Run it once with the old code and once with the new one,
then compare the two files:

    python bench/facts_check.py --out /tmp/new.jsonl CORPUS [CORPUS ...]
    PYTHONPATH=/tmp/old-checkout/.. python bench/facts_check.py --out /tmp/old.jsonl CORPUS
    python bench/facts_check.py --compare /tmp/old.jsonl /tmp/new.jsonl

To run another checkout's code, point ``--code`` at it (a worktree of ``main``, say):
the folder is imported as the ``asyncmend`` package in place of the installed one.

Prints the files dumped and the pass-1 CPU seconds (``time.process_time``, the dump
excluded), beside the CPU seconds of ``ast.parse`` over the same files in the same
process (a load meter: their ratio compares two runs made minutes apart on a busy
machine); ``--compare`` prints the first differing files and exits 1 when any differ.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import gc
import json
import os
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path


def _use_code(folder: Path) -> None:
    """Import ``folder`` (a checkout's root, laid out as pyproject maps it: ``engine/``,
    ``codemods/``, ``cli/``) as the ``asyncmend`` package in place of the installed one."""
    if not (folder / "engine" / "index.py").is_file():
        raise SystemExit(f"not a checkout of asyncmend: {folder}")
    package = types.ModuleType("asyncmend")
    package.__path__ = [str(folder)]
    sys.modules["asyncmend"] = package


def _files(roots: list[str]) -> list[str]:
    found = []
    for root in roots:
        for folder, dirs, names in os.walk(root):
            dirs.sort()
            found += [os.path.join(folder, name) for name in names if name.endswith(".py")]
    return sorted(found)


def _canonical(value: object) -> object:
    """JSON-able, deterministic: tuples as lists, sets sorted, dict keys sorted by JSON."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_canonical(v) for v in value)  # type: ignore[type-var]
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value


def dump(roots: list[str], out: str) -> None:
    from asyncmend.engine.index import collect_facts

    paths = _files(roots)
    datas = [(path, Path(path).read_bytes()) for path in paths]
    gc.disable()
    start = time.process_time()
    results = [collect_facts(path, data) for path, data in datas]
    seconds = time.process_time() - start
    meter = _parse_seconds(datas)
    gc.enable()
    with open(out, "w", encoding="utf-8") as handle:
        for facts in results:
            record = {
                f.name: _canonical(getattr(facts, f.name))
                for f in dataclasses.fields(facts)
                if f.compare  # the transient fields (``source``) compare as equal too
            }
            handle.write(json.dumps(record, sort_keys=True) + "\n")
    print(
        f"{len(results)} files, pass 1 {seconds:.2f} CPU s; ast.parse of every file "
        f"{meter:.2f} CPU s (the same code in any checkout: pass 1 / parse = "
        f"{seconds / meter:.3f}, comparable across a loaded machine's minutes) -> {out}"
    )


def _parse_seconds(datas: list[tuple[str, bytes]]) -> float:
    """CPU seconds of ``ast.parse`` over every file (trees dropped as they come): a load
    meter, since on shared cores the same work costs more CPU seconds when busy."""
    start = time.process_time()
    for _, data in datas:
        try:
            ast.parse(data)
        except (SyntaxError, ValueError, RecursionError):
            pass
    return time.process_time() - start


def compare(old: str, new: str) -> int:
    with open(old, encoding="utf-8") as a, open(new, encoding="utf-8") as b:
        left, right = a.read().splitlines(), b.read().splitlines()
    if len(left) != len(right):
        print(f"different file counts: {len(left)} vs {len(right)}")
        return 1
    differ = [(x, y) for x, y in zip(left, right, strict=True) if x != y]
    for x, y in differ[:5]:
        print("old:", x[:2000])
        print("new:", y[:2000])
    print(f"{len(left)} files, {len(differ)} differ")
    return 1 if differ else 0


def main(
    dump_files: Callable[[list[str], str], None] | None = None, description: str | None = None
) -> int:
    """The command line; ``bench/gate_facts_check.py`` passes its own dump."""
    parser = argparse.ArgumentParser(description=description or __doc__.split("\n\n")[0])
    parser.add_argument("roots", nargs="*", help="folders whose .py files are read")
    parser.add_argument("--out", help="where the dump goes")
    parser.add_argument("--code", type=Path, help="a checkout whose code to run")
    parser.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"))
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)
    if not args.roots or not args.out:
        parser.error("give folders and --out (or --compare OLD NEW)")
    if args.code:
        _use_code(args.code.resolve())
    (dump_files or dump)(args.roots, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
