"""The cyclic garbage collector during a batch run.

Checking a file allocates a few hundred thousand tree nodes that die by reference
counting once the file is done; nothing in them needs the cyclic collector. Left on,
the collector (triggered by allocation counts) scans the trees under construction
again and again, and its older generations the repo index and every imported module:
about 15% of a cold check's CPU on the services corpus. So while a batch runs the
collector is off, what is alive before the passes (imports, config, then the index) is
frozen out of its reach (which also keeps forked workers from touching, and so copying,
those pages), and each file's few possible cycles are collected right after the file,
when the young generations hold only what the file left behind.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

#: Whether a batch run owns the collector in this process (forked workers inherit it).
_QUIET = False


@contextlib.contextmanager
def quiet_collector() -> Iterator[None]:
    """Collector off and long-lived objects frozen for the block; restored after it
    (the API may run inside a caller's process, e.g. the language server)."""
    global _QUIET
    if _QUIET:  # nested run (a run from a callback): the outer one owns it
        yield
        return
    was_enabled = gc.isenabled()
    gc.disable()
    gc.freeze()
    _QUIET = True
    try:
        yield
    finally:
        _QUIET = False
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def freeze_long_lived() -> None:
    """Move everything alive now (the repo index after pass 1) out of the collector's
    reach: called before pass 2 forks its workers."""
    if _QUIET:
        gc.freeze()


def after_file() -> None:
    """Collect the cycles one file may have left (an exception's traceback, a rule's
    back reference): cheap, the young generations hold only that file's survivors."""
    if _QUIET:
        gc.collect(1)
