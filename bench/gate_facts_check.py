"""The candidate gate's facts, dumped canonically: the proof that a change to the gate's
walk (``codemods/facts/gate.py``'s ``_Walker``) changed no fact.

``facts_check.py``'s twin for ``GateFacts``: walks every ``.py`` file under each folder
given (sorted paths, one process, no repo index: the walk reads none) and writes one JSON
line per file with everything the walk recorded: the calls and functions in the order it
met them (a function, class or handler by its position in the dump), sets sorted, dicts
in insertion order. Run it with the old code and the new, then compare:

    python bench/gate_facts_check.py --out /tmp/new.jsonl CORPUS [CORPUS ...]
    python bench/gate_facts_check.py --code /tmp/old-checkout --out /tmp/old.jsonl CORPUS
    python bench/gate_facts_check.py --compare /tmp/old.jsonl /tmp/new.jsonl

Prints the files dumped and the CPU seconds of the walks alone (``ast.parse`` excluded),
beside the CPU seconds of ``ast.parse`` over the same files (a load meter, as in
``facts_check.py``).
"""

from __future__ import annotations

import ast
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import facts_check
from facts_check import _canonical, _files


class _Ids:
    """Numbers objects (functions, classes, handlers) in the order they are first met."""

    def __init__(self) -> None:
        self.numbers: dict[int, int] = {}
        self.kept: list[object] = []  # alive while numbered: ids are not reused

    def __call__(self, item: object) -> int | None:
        if item is None:
            return None
        if id(item) not in self.numbers:
            self.numbers[id(item)] = len(self.numbers)
            self.kept.append(item)
        return self.numbers[id(item)]


def _items(mapping: dict[Any, Any]) -> list[Any]:
    return [[key, _canonical(value)] for key, value in mapping.items()]


def _record(gate: Any) -> dict[str, Any]:
    frames, classes, handlers, calls = _Ids(), _Ids(), _Ids(), _Ids()
    for frame in gate.frames:
        frames(frame)

    def handler(item: Any) -> list[Any]:
        node = item.node
        return [handlers(item), _canonical(item.caught), node.lineno, node.col_offset]

    def klass(info: Any) -> list[Any] | None:
        if info is None:
            return None
        return [
            classes(info),
            [[k, [[frames(w), _canonical(s)] for w, s in v]] for k, v in info.attributes.items()],
        ]

    def frame_record(frame: Any) -> list[Any]:
        return [
            frame.kind, frames(frame.parent), sorted(frame.bound), sorted(frame.params),
            frame.receiver, klass(frame.owner), _items(frame.sources), frame.typed_params,
            frame.assigned_calls, frame.store_bases, sorted(frame.assigned),
            sorted(frame.mentions), frame.declares, list(frame.decorators),
            frame.adjacent_awaits,
        ]  # fmt: skip

    def call_record(call: Any) -> list[Any]:
        calls(call)
        return [
            call.name, call.leaf, call.receiver, call.awaited, frames(call.frame),
            call.class_direct, call.nargs, call.attribute, call.handed, call.in_header,
            call.dropped, [handler(h) for h in call.guarded],
        ]  # fmt: skip

    def with_entry(entry: Any) -> list[Any]:
        return [frames(entry[0]), entry[1], entry[2]]

    return {
        "path": gate.path,
        "frames": [frame_record(frame) for frame in gate.frames],
        "calls": [call_record(call) for call in gate.calls],
        "identifiers": sorted(gate.identifiers),
        "imports": [[k, sorted(v)] for k, v in gate.imports.items()],
        "star_modules": sorted(gate.star_modules),
        "assigned_calls": _canonical(gate.assigned_calls),
        "has_global": gate.has_global,
        "module_names": sorted(gate.module_names),
        "async_withs": [with_entry(e) for e in gate.async_withs],
        "reused_withs": [with_entry(e) for e in gate.reused_withs],
        "module_async_defs": sorted(gate.module_async_defs),
        "shared_gathers": [[calls(c), sorted(n)] for c, n in gate.shared_gathers],
        "row_locks": [[frames(f), r] for f, r in gate.row_locks],
        "adjacent_awaits": [[frames(f), _canonical(a), _canonical(b)] for f, a, b in gate.adjacent_awaits],
    }  # fmt: skip


def dump(roots: list[str], out: str) -> None:
    from asyncmend.codemods.facts.gate import gate_facts_of
    from asyncmend.engine.config import Config
    from asyncmend.engine.index import module_name_for

    config = Config()
    walked = parsed = 0.0
    count = 0
    with open(out, "w", encoding="utf-8") as handle:
        for path in _files(roots):
            data = Path(path).read_bytes()
            gc.disable()
            start = time.process_time()
            try:
                tree = ast.parse(data)
            except (SyntaxError, ValueError, RecursionError):
                tree = None
            middle = time.process_time()
            gate = None
            if tree is not None:
                gate = gate_facts_of(tree, path, data, module_name_for(path), None, config)
            walked += time.process_time() - middle
            parsed += middle - start
            gc.enable()
            record = _record(gate) if gate is not None else {"path": path, "gate": None}
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            count += 1
    print(
        f"{count} files, gate walks {walked:.2f} CPU s; ast.parse of every file "
        f"{parsed:.2f} CPU s (walk / parse = {walked / parsed:.3f}, comparable across a "
        f"loaded machine's minutes) -> {out}"
    )


def main() -> int:
    return facts_check.main(dump, __doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())
