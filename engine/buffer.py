"""One editor buffer checked against a repo index its caller keeps (the language
server's per-keystroke path).

``run_source`` collects the source's pass-1 facts and adds them to the index before
every check: right for one ``--stdin-filename`` run, a fixed cost per keystroke for an
editor. Here the index is used as it is (holding this file's facts from disk or from
an earlier version of the buffer), and ``refresh_facts`` is a separate step the caller
takes after publishing: most edits leave the facts as they were, so the index, and
every other file's result, stays valid. Fixes can be left out too (``defer_fixes``):
an editor shows findings on every keystroke and fixes only when asked.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from asyncmend.codemods.base import fixes_deferred
from asyncmend.engine.api import Report, _prepare, check_one_source
from asyncmend.engine.incremental import BufferState, check_incrementally
from asyncmend.engine.index import RepoIndex, collect_facts

__all__ = ["BufferState", "check_buffer", "refresh_facts"]


def check_buffer(
    source: bytes,
    filename: str | os.PathLike[str],
    *,
    index: RepoIndex,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    fix: bool = False,
    unsafe_fixes: bool | None = None,
    config_path: str | os.PathLike[str] | None = None,
    defer_fixes: bool = False,
    state: BufferState | None = None,
    preview: bool | None = None,
) -> Report:
    """``run_source`` on ``source`` with ``index`` taken as it is: the facts this file
    contributes are whatever ``index`` holds for ``filename`` (see ``refresh_facts``).
    ``defer_fixes``: findings only; a fix a rule builds on demand is left out (see
    ``fixes_deferred``), so a finding may say it has no fix when it has one.

    ``state`` (diagnostics only: ``defer_fixes`` and no ``fix``): the buffer's last
    check, kept by the caller between keystrokes and updated here; an edit confined to
    function bodies re-checks only what it can affect (``engine.incremental``)."""
    path = Path(filename)
    config, job = _prepare(
        path, select, ignore, fix, unsafe_fixes, None, config_path, None, None, None,
        preview=preview,
    )  # fmt: skip
    job.index = index
    if state is not None and defer_fixes and not fix:
        with fixes_deferred():
            return check_incrementally(path, source, job, config, state)
    with fixes_deferred() if defer_fixes else contextlib.nullcontext():
        return check_one_source(path, source, job, config)


def refresh_facts(index: RepoIndex, filename: str | os.PathLike[str], source: bytes) -> bool:
    """Put ``source``'s pass-1 facts in ``index``; whether they differ from those it held
    (only then can another file's result, or this one's, have changed)."""
    return index.add(collect_facts(str(filename), source))
