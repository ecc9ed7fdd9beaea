"""The candidate gate without a second parse: pass 1 records, pass 2 replays.

Pass 1 parses most files with stdlib ``ast`` for the repo index; pass 2 used to parse
every gate input again to run the rules' candidate tests. Now, for a file pass 2 will
check, pass 1 runs the candidate tests on its own tree against an index holding only
that file's facts, through a facade that notes every question asked of the repo and
its answer (``codemods.facts.gate_index``). The record (content digest, the codes
tested and those that passed, the questions and answers: plain ``str``/``bool``
tuples) goes back with the file's facts and waits in the run's job until pass 2.

Pass 2 takes the record for the file (once). When the bytes are the same and the real
index gives every noted question the same answer, the gate's evaluation, which reads
nothing else, would take the same path to the same verdict: the recorded verdict is
used and the file is not parsed. Otherwise the gate runs as before. Records depend on
the config and the selected rules: they live in memory for one run, never in the cache.

``ASYNCMEND_GATE_VERIFY=1`` runs the full gate beside every replayed verdict and fails
on any difference; ``ASYNCMEND_GATE_STATS=<file>`` appends one line per gate input
saying how it was answered (replayed, asked again, no record).
"""

from __future__ import annotations

import ast
import marshal
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from asyncmend.codemods.base import TokenMemo
from asyncmend.codemods.facts.gate import GateFacts, gate_facts_of
from asyncmend.codemods.facts.gate_index import Asked, GateIndex, RecordingGateIndex, replays
from asyncmend.engine.cache import content_hash
from asyncmend.engine.index import RepoIndex

if TYPE_CHECKING:
    from asyncmend.codemods.base import Rule
    from asyncmend.codemods.facts.base import FileFacts
    from asyncmend.engine.job import Job

VERIFY = os.environ.get("ASYNCMEND_GATE_VERIFY", "") not in ("", "0")
STATS = os.environ.get("ASYNCMEND_GATE_STATS", "")


class ReplayMismatch(AssertionError):
    """A replayed gate verdict differs from the full gate's (``ASYNCMEND_GATE_VERIFY``)."""


@dataclass(frozen=True, slots=True)
class GateRecord:
    """Pass 1's run of the candidate gate on one file."""

    digest: str
    #: Codes of the rules whose candidate test ran, and of those that passed (each
    #: joined by spaces: one object, not a set and a string per code).
    tested: str
    passed: str
    #: Every question asked of the repo index, with its answer (``pack``ed: a file
    #: asks dozens, most naming its imports).
    asked: bytes


def pack(asked: tuple[Asked, ...]) -> bytes:
    """Questions and answers (plain ``str``/``bool``/``None`` tuples) as compact bytes,
    for the parent to hold until pass 2 (never written anywhere)."""
    return zlib.compress(marshal.dumps(asked), 1)


def unpack(packed: bytes) -> tuple[Asked, ...]:
    return marshal.loads(zlib.decompress(packed))  # type: ignore[no-any-return]


def prefiltered(rules: Sequence[type[Rule]], data: bytes, job: Job) -> list[type[Rule]]:
    """The rules whose prefilter (``Rule.prefilter``) passes on ``data``, each token
    searched for once (the rules share many: ``session``, ``await``, ``commit``)."""
    holds = TokenMemo(data)
    return [rule for rule in rules if rule.prefilter(data, job.config, holds)]


def prefiltered_before(path: str, data: bytes, job: Job) -> list[type[Rule]] | None:
    """Pass 2: ``prefiltered(job.rules, data, job)`` as pass 1 found it for these very
    bytes (the rules its record tested), or None without such a record (kept for
    ``replayed``)."""
    record = job.gate_records.get(path)
    if record is None or record.digest != content_hash(data):
        return None
    tested = record.tested.split()
    found = [rule for rule in job.rules if rule.code in tested]
    if VERIFY and found != prefiltered(job.rules, data, job):
        raise ReplayMismatch(f"{path}: pass 1 prefiltered {tested}")
    return found


def passing(gate: GateFacts, rules: Sequence[type[Rule]], job: Job) -> list[type[Rule]]:
    """The rules of ``rules`` whose candidate test passes on ``gate`` (the job's
    selection tells AM001 which codes a suppression may name)."""
    gate.selected_codes = tuple(rule.code for rule in job.rules)
    return [rule for rule in rules if rule.candidate(gate)]


def record_gate(
    path: str, data: bytes, tree: ast.Module, facts: FileFacts, digest: str, job: Job
) -> GateRecord | None:
    """Pass 1: run the candidate tests of the rules pass 2 may run on the file, on its
    ``ast`` tree (``ast.parse(data)``, already read for ``facts``) against an index of
    this file alone. None when the gate cannot run. When no rule passes the prefilter,
    a record that tested nothing: it still says CPython's parser read these bytes
    (``parsed_before``)."""
    job, _ = job.for_file(path, None)
    if job.codemod is not None:
        return None
    rules = prefiltered(job.rules, data, job)
    if not rules:
        return GateRecord(digest, "", "", b"")
    recorder = RecordingGateIndex(RepoIndex([facts]), path)
    try:
        gate = gate_facts_of(tree, path, data, facts.module, recorder, job.config)
        if gate is None:
            return None
        passed = " ".join(rule.code for rule in passing(gate, rules, job))
    except Exception:  # pass 2 runs the gate itself (and meets the same failure)
        return None
    tested = " ".join(rule.code for rule in rules)
    return GateRecord(digest, tested, passed, pack(recorder.record()))


def parsed_before(path: str, data: bytes, job: Job) -> bool:
    """Pass 2, for a file no rule reads: whether pass 1's ``ast.parse`` read these very
    bytes (it left a record), so that CPython's parser cannot refuse them
    (``syntax_finding`` compiles with the same flags) and no AM000 is possible. The
    record is dropped."""
    record = job.gate_records.pop(path, None)
    return record is not None and record.digest == content_hash(data)


def replayed(
    path: str, data: bytes, rules: Sequence[type[Rule]], job: Job
) -> list[type[Rule]] | None:
    """Pass 2: the candidates among ``rules`` by pass 1's record of the file, or None
    when there is none or it does not hold for these bytes and this index (the record
    is dropped either way)."""
    record = job.gate_records.pop(path, None)
    status = "replayed"
    verdict = None
    if record is None:
        status = "no-record"
    elif record.digest != content_hash(data) or not {r.code for r in rules}.issubset(
        record.tested.split()
    ):
        status = "stale"
    elif not replays(GateIndex(job.index, path), unpack(record.asked)):
        status = "asked-again"
    else:
        passed = set(record.passed.split())
        verdict = [rule for rule in rules if rule.code in passed]
    if STATS:
        with open(STATS, "a", encoding="utf-8") as out:
            out.write(f"{status}\t{path}\n")
    return verdict
