"""Run one command and measure its wall time and the peak RSS of its process tree.

Peak RSS, and why it is measured this way:

* ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` (and ``/usr/bin/time -f %M``, which reads
  the same ``wait4`` rusage) is the peak of the *largest single process* among the
  waited-for descendants, not of the tree: for a tool with a process pool (flake8 -j,
  fixit, ``asyncmend --jobs``) the workers' memory is not added up. With
  RUSAGE_CHILDREN it is also a running maximum over every child this benchmark ever
  waited for, so deltas between runs are meaningless once an earlier run was larger.
* So a sampler thread polls ``/proc`` while the command runs (every 10 ms): it walks
  the tree from the child through ``/proc/PID/task/TID/children`` (or, without
  CONFIG_PROC_CHILDREN, the ppid field of every ``/proc/*/stat``) and adds up
  ``resident`` from ``/proc/PID/statm``. The highest sum is the tree's peak. Pages
  shared between forked workers count once per process, as ``ps``/``top`` show them,
  so for fork-based pools this is an upper bound.
* CPU time comes from the same ``wait4`` rusage (user + system of the child and every
  descendant it waited for, which includes multiprocessing pool workers): unlike wall
  time it barely moves when other work shares the machine.
* Sampling can miss a spike shorter than the interval, so the figure reported is the
  larger of the sampled tree peak and the exact ``wait4`` peak of this run's child
  (``os.wait4`` gives the rusage of that one child and its waited-for descendants,
  not the running maximum of RUSAGE_CHILDREN).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
SAMPLE_INTERVAL = 0.01


@dataclass(frozen=True)
class Result:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child and its waited-for descendants
    peak_rss_kb: int
    exit_code: int
    stdout: str
    stderr: str


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                kids.extend(int(k) for k in fh.read().split())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return kids


def _children_by_scan(root: int) -> set[int]:
    """Descendants of root via the ppid field of /proc/*/stat (slower fallback)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    # the comm field may hold spaces or parens: split after the last ')'
                    fields = fh.read().rsplit(")", 1)[1].split()
                parent[int(entry)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, ppid in parent.items():
            if ppid == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    return tree


HAVE_CHILDREN_FILE = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def tree_pids(root: int) -> set[int]:
    if not HAVE_CHILDREN_FILE:
        return _children_by_scan(root)
    tree, frontier = {root}, [root]
    while frontier:
        for child in _children(frontier.pop()):
            if child not in tree:
                tree.add(child)
                frontier.append(child)
    return tree


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


class TreeSampler(threading.Thread):
    """Polls the summed RSS of a process tree until stopped."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak_kb = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            total = sum(rss_kb(pid) for pid in tree_pids(self.root))
            self.peak_kb = max(self.peak_kb, total)
            self._stop_event.wait(SAMPLE_INTERVAL)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def run(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float | None = None
) -> Result:
    """Run cmd with stdout/stderr to temp files (no pipe back-pressure on timing)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL
        )
        sampler = TreeSampler(proc.pid)
        sampler.start()
        status, usage = _wait(proc, timeout)
        wall = time.perf_counter() - start
        sampler.stop()
        out.seek(0)
        err.seek(0)
        return Result(
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            peak_rss_kb=max(sampler.peak_kb, usage.ru_maxrss),
            exit_code=status,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


def _wait(proc: subprocess.Popen[bytes], timeout: float | None) -> tuple[int, os.struct_rusage]:
    """Blocking os.wait4 for this child's own rusage; a timer kills it on timeout (124)."""
    timer = threading.Timer(timeout, proc.kill) if timeout else None
    if timer:
        timer.start()
    _, status, usage = os.wait4(proc.pid, 0)
    fired = timer is not None and not timer.is_alive() and timer.finished.is_set()
    if timer:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
    return (124 if fired and proc.returncode < 0 else proc.returncode), usage
