"""Running a job over many files: pass 1 (facts -> repo index), pass 2 (rules), in a
process pool that starts once, and only when there are enough files to compute (not
when the cache answers). Workers get paths, not sources; results stream back in order.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from asyncmend.engine.cache import ResultCache, content_hash
from asyncmend.engine.discovery import WalkMemo, real_folder
from asyncmend.engine.gcpolicy import after_file
from asyncmend.engine.results import ErrorKind, FileResult, printable

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from asyncmend.engine.index import FileFacts, RepoIndex
    from asyncmend.engine.job import Job
    from asyncmend.engine.replay import GateRecord

#: Below this many files to compute, a pool costs more than it saves.
POOL_THRESHOLD = 24


#: Recursion limit while checking files (libcst's visitors recurse once per level).
RECURSION_LIMIT = 10_000

#: Files larger than this are skipped with a message (``max-file-size`` in the config):
#: checking costs memory in proportion to the source.
DEFAULT_MAX_FILE_BYTES = 5 * 1024 * 1024


class InputError(Exception):
    """A file that cannot be read as Python source (unreadable, binary): exit 2."""


class SkippedFile(Exception):
    """A file left out on purpose (special file, over the size limit): a warning. The
    message does not name the file."""


def max_file_bytes(config: object) -> int:
    """The per-file size limit: ``max-file-size`` (bytes, or a string such as "8MB")
    when the config has it, else ``DEFAULT_MAX_FILE_BYTES``."""
    value = getattr(config, "max_file_size", None)
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        text = value.strip().upper().removesuffix("B")
        scale = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:], 1)
        number = text[:-1] if scale != 1 else text
        try:
            return max(1, int(float(number) * scale))
        except ValueError:
            pass
    return DEFAULT_MAX_FILE_BYTES


_KINDS = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


def read_source(path: str, limit: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """The file's bytes. Never blocks on a FIFO or reads a device: the file is opened
    without blocking and must be a regular file of at most ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise InputError(f"{printable(path)}: cannot read: {_reason(exc)}") from exc
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise SkippedFile(f"{kind}, not a source file; skipped")
        if info.st_size > limit:
            raise SkippedFile(_too_big(info.st_size, limit))
        try:
            # Sized by the file, not by the limit: a buffer of `limit` bytes per file
            # leaves the heap fragmented (and resident in every forked worker).
            data = handle.read(info.st_size + 1)
            if len(data) > info.st_size:  # it grew since fstat
                data += handle.read(limit + 1 - len(data))
        except OSError as exc:
            raise InputError(f"{printable(path)}: cannot read: {_reason(exc)}") from exc
    if len(data) > limit:
        raise SkippedFile(_too_big(len(data), limit))
    check_text(path, data)
    return data


def check_text(path: str, data: bytes) -> None:
    """Raise ``InputError`` when ``data`` cannot be Python source (a file's or stdin's)."""
    if b"\x00" in data:
        raise InputError(
            f"{printable(path)}: binary file (it contains NUL bytes), not Python source"
        )
    if not _decodable(data):
        raise InputError(
            f"{printable(path)}: not valid UTF-8 and no encoding declaration (PEP 263): "
            "not readable as Python source"
        )


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def _too_big(size: int, limit: int) -> str:
    mb = 1024 * 1024
    return f"{size / mb:.1f} MB, over the size limit of {limit / mb:.1f} MB; skipped"


def _decodable(data: bytes) -> bool:
    """UTF-8, or another encoding its coding cookie declares (PEP 263)."""
    if data.isascii():  # most source: no decoded copy (it would outlive the read in the heap)
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        head = data.split(b"\n", 2)[:2]
        return any(b"coding" in line and line.lstrip().startswith(b"#") for line in head)
    return True


# -- worker side --------------------------------------------------------------------

#: The job of the pool this worker belongs to: inherited through fork, or sent once in
#: memory as the initializer's argument (spawn). Never a file on disk.
_JOB: Job | None = None


def _facts_task(
    path: str, limit: int = DEFAULT_MAX_FILE_BYTES, job: Job | None = None
) -> tuple[str, FileFacts, GateRecord | None] | str:
    """Pass 1 for one file; with the run's ``job`` (a file pass 2 checks), also the
    candidate gate's record, made on the same tree (``engine/replay.py``)."""
    from asyncmend.engine.index import FileFacts, module_name_for, read_facts

    deep_recursion()
    try:
        data = read_source(path, limit)
    except (InputError, SkippedFile) as exc:
        return str(exc)
    digest = content_hash(data)
    record = None
    try:
        facts, tree = read_facts(path, data)
        if tree is not None and job is not None:
            from asyncmend.engine.replay import record_gate

            record = record_gate(path, data, tree, facts, digest, job)
        del tree
    except Exception:  # (RecursionError on deep nesting, a codec's error): no facts
        facts = FileFacts(path=path, module=module_name_for(path))
    after_file()
    return digest, facts, record


def _pass1_task(
    item: tuple[str, bool], limit: int, job: Job | None = None
) -> tuple[str, FileFacts, GateRecord | None] | str:
    """``_facts_task`` for ``(path, checked)``: a file pass 2 checks gets the gate's
    record (the job comes from the pool, or as ``job`` when there is none)."""
    path, checked = item
    return _facts_task(path, limit, (job or _JOB) if checked else None)


def check_source(path: str, relpath: str, job: Job) -> FileResult:
    from asyncmend.engine.process import process_source  # libcst: not for warm runs

    deep_recursion()
    try:
        data = read_source(path, max_file_bytes(job.config))
    except InputError as exc:
        return FileResult(path=path, error=str(exc), error_kind=ErrorKind.INPUT)
    except SkippedFile as exc:
        return FileResult(path=path, warnings=[str(exc)])
    result = process_source(path, data, job, relpath=relpath)
    result.digest = content_hash(data)
    after_file()
    return result


#: After checking a file this large, a worker hands its freed heap back (a few ms): a
#: libcst tree takes ~10x the source, and the space would stay resident.
TRIM_AFTER_BYTES = 48 * 1024


def _check_task(task: tuple[str, str]) -> FileResult:
    path, relpath = task
    assert _JOB is not None, "a pass-2 pool is always started with its job"
    result = check_source(path, relpath, _JOB)
    with contextlib.suppress(OSError):
        if os.stat(path).st_size > TRIM_AFTER_BYTES:
            release_free_memory()
    return result


def deep_recursion() -> None:
    """Room for deeply nested (but valid) code, the same in workers and in the main
    process (``-j 1``, few files); deeper nesting becomes an AM000 finding."""
    if sys.getrecursionlimit() < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)


def _init_worker(parent: int, job: Job | None) -> None:
    global _JOB
    _JOB = job
    deep_recursion()
    # The main process handles Ctrl-C and shuts the pool down; workers must not print
    # a traceback each.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)


def _die_with_parent(parent: int) -> None:
    """Workers never outlive the main process, however it ends (SIGKILL included):
    the kernel's parent-death signal on Linux, and a watchdog thread everywhere."""
    if sys.platform == "linux":
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the line above ran
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="asyncmend-parent-watchdog", daemon=True).start()


# -- orchestration --------------------------------------------------------------------


@dataclass
class Pool:
    """Worker processes (or none) for the passes of a run, started on first need. A
    pass that needs a job (pass 2) gets a pool started with it, in memory.

    The main process works too: ``jobs`` processes compute, ``jobs - 1`` of them forked
    workers. Each forked worker holds (and counts) a copy of the main process's pages,
    the repo index among them; a main process that only waited would be one more."""

    jobs: int
    executor: Executor | None = None
    job: Job | None = None

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _stop(self) -> None:
        global _JOB
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)
            self.executor = None
            _JOB = None

    def parallel(self, count: int) -> bool:
        return self.jobs > 1 and count >= POOL_THRESHOLD

    def map(self, fn: Callable, items: Sequence, job: Job | None = None) -> Iterator:  # type: ignore[type-arg]
        if not self.parallel(len(items)):
            return map(fn, items)
        if self.executor is not None and job is not None and job is not self.job:
            self._stop()  # pass 1's workers do not know pass 2's job
        if self.executor is None:
            self._start(job)
        chunk = max(1, min(16, len(items) // (self.jobs * 8) or 1))
        return _shared_map(self.executor, fn, items, chunk, ahead=2 * (self.jobs - 1))

    def _start(self, job: Job | None) -> None:
        global _JOB
        import multiprocessing  # not imported by a run the cache answers
        from concurrent.futures import ProcessPoolExecutor

        release_free_memory()  # each forked worker starts with (and counts) our pages
        # fork shares the already imported rules, libcst and the job with the workers.
        method = "fork" if sys.platform == "linux" else None
        self.job = job
        _JOB = job  # the main process runs pass-2 tasks too
        deep_recursion()
        self.executor = ProcessPoolExecutor(
            max_workers=self.jobs - 1,
            mp_context=multiprocessing.get_context(method),
            initializer=_init_worker,
            initargs=(os.getpid(), job),
        )


def _shared_map(
    executor: Executor,
    fn: Callable,
    items: Sequence,
    chunk: int,
    ahead: int,  # type: ignore[type-arg]
) -> Iterator:  # type: ignore[type-arg]
    """``fn`` over ``items`` in order, shared between the workers and this process:
    workers get chunks (``ahead`` of them queued); while the oldest is not done, this
    process computes the next item itself."""
    from concurrent.futures import Future

    slots: collections.deque[Future | list] = collections.deque()  # type: ignore[type-arg]
    queued = 0  # futures among the slots
    start = 0

    def feed() -> None:
        nonlocal queued, start
        while queued < ahead and start < len(items):
            part = items[start : start + chunk]
            start += len(part)
            slots.append(executor.submit(_run_chunk, fn, part))
            queued += 1

    feed()
    while slots:
        front = slots[0]
        if isinstance(front, list):
            slots.popleft()
            yield from front
            continue
        if not front.done() and start < len(items):
            slots.append([fn(items[start])])
            start += 1
            continue
        slots.popleft()
        queued -= 1
        yield from front.result()
        feed()


def _run_chunk(fn: Callable, part: Sequence) -> list:  # type: ignore[type-arg]
    return [fn(item) for item in part]


def release_free_memory() -> None:
    """Hand the heap's free pages back to the system (glibc keeps the space of freed
    file buffers and trees resident; elsewhere a no-op)."""
    if sys.platform != "linux":
        return
    import ctypes

    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        pass


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def hash_files(
    paths: Iterable[str], limit: int = DEFAULT_MAX_FILE_BYTES, cache: ResultCache | None = None
) -> tuple[dict[str, str], list[str]]:
    """Content hash of every readable file, and the input errors of the others (files
    skipped on purpose get neither: pass 2 reports them). A regular file whose size and
    mtime the cache knows is not even read."""
    digests: dict[str, str] = {}
    errors: list[str] = []
    for path in paths:
        info = None
        if cache is not None:
            try:
                info = os.stat(path)
            except OSError:  # reading it says what is wrong
                pass
            if info is not None and stat.S_ISREG(info.st_mode) and info.st_size <= limit:
                known = cache.known_digest(path, info)
                if known is not None:
                    digests[path] = known
                    continue
        try:
            data = read_source(path, limit)
        except InputError as exc:
            errors.append(str(exc))
            continue
        except SkippedFile:
            continue
        digests[path] = content_hash(data)
        if info is not None and len(data) == info.st_size:
            cache.remember_digest(path, info, digests[path])  # type: ignore[union-attr]
    return digests, errors


def index_digest(digests: dict[str, str], paths: Iterable[str]) -> str:
    """Identifies the repo index: the files it was built from and their contents."""
    # One update of the whole text: the same bytes (and digest) as one update per path.
    text = "".join(f"{path}\0{digests.get(path, '')}\n" for path in sorted(paths))
    data = text.encode(sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def build_index(
    pool: Pool,
    paths: Sequence[str],
    digests: dict[str, str],
    cache: ResultCache | None,
    limit: int = DEFAULT_MAX_FILE_BYTES,
    *,
    job: Job | None = None,
    checked: Collection[str] = (),
) -> RepoIndex:
    """Pass 1: facts of every file (from the cache where its content is unchanged).
    With the run's ``job``, the files of ``checked`` that pass 1 parses also get their
    candidate gate's record, into ``job.gate_records`` (``engine/replay.py``)."""
    from asyncmend.engine.index import RepoIndex

    index = RepoIndex()
    missing = []
    for path in paths:
        facts = cache.get_facts(path, digests[path]) if cache and path in digests else None
        if facts is not None:
            index.add(facts)
        elif path in digests:
            missing.append(path)
    if job is None or not checked or not _gate_on(missing, checked):
        results = pool.map(functools.partial(_facts_task, limit=limit), missing)
    else:
        # Workers get a copy without the index (pass 2 starts its own, with the index).
        gate_job = replace(job, index=RepoIndex(), gate_records={}, _rules=None)
        gate_job.rules  # noqa: B018 (imported before the workers fork)
        tasks = [(path, path in checked) for path in missing]
        if pool.parallel(len(tasks)):
            results = pool.map(functools.partial(_pass1_task, limit=limit), tasks, job=gate_job)
        else:
            results = map(functools.partial(_pass1_task, limit=limit, job=gate_job), tasks)
    for item in results:
        if isinstance(item, str):
            continue  # unreadable now: reported by pass 2 for checked files
        digest, facts, record = item
        index.add(facts)
        if record is not None:
            job.gate_records[facts.path] = record  # type: ignore[union-attr]
        if cache is not None:
            cache.put_facts(facts.path, digest, facts)
    return index


def _gate_on(missing: Sequence[str], checked: Collection[str]) -> bool:
    """Whether pass 1 should make gate records: some file it parses is checked, and
    the gate is on (a warm run, whose facts are all cached, imports no rule)."""
    if not any(path in checked for path in missing):
        return False
    from asyncmend.engine.process import GATE  # libcst: pass 2 follows

    return GATE


def check_files(
    pool: Pool,
    files: Sequence[str],
    relpaths: Sequence[str],
    job: Job,
    *,
    cache: ResultCache | None,
    digests: dict[str, str],
    index_key: str,
) -> Iterator[FileResult]:
    """Pass 2: cached results first, then the computed ones, streamed as they come."""
    todo: list[tuple[str, str]] = []
    for path, rel in zip(files, relpaths, strict=True):
        if cache is not None and path in digests:
            hit, result = cache.get_result(path, digests[path], index_key)
            if hit:
                yield result if result is not None else FileResult(path=path, cached=True)
                continue
        todo.append((path, rel))
    if not todo:
        return

    def computed() -> Iterator[FileResult]:
        if not pool.parallel(len(todo)):
            for path, rel in todo:
                yield check_source(path, rel, job)
            return
        yield from pool.map(_check_task, todo, job=job)

    for result in computed():
        if cache is not None and result.digest:
            cache.put_result(result.path, result.digest, index_key, result)
        yield result


def index_scope(files: Iterable[str | Path], walks: WalkMemo | None = None) -> list[Path]:
    """The folders of the top-level packages the files lie in, so that checking one
    file still knows the rest of its package. ``walks``: the run's listings, which
    answer for the files and folders they saw without a system call."""
    roots: dict[str, Path] = {}  # package top -> as given
    real: dict[str, str] = {}  # per folder as named: resolved once, not per file
    resolved: dict[str, str] = {}
    tops: dict[str, str | None] = {}  # per folder: files share their package's answer
    packages: dict[str, bool] = {}
    for file in files:
        name = os.fspath(file)
        try:
            walked = walks.real_folder_of(name) if walks is not None else None
            if walked is not None:
                start = walked
            elif os.path.islink(name) or os.pardir in name:
                start = str(Path(name).resolve().parent)
            else:
                folder = os.path.dirname(name)
                if folder not in real:
                    real[folder] = real_folder(os.path.abspath(folder or os.curdir), resolved)
                start = real[folder]
        except (OSError, RuntimeError):  # a symlink loop: read errors report it
            continue
        if start not in tops:
            tops[start] = _package_top(start, packages, walks)
        top = tops[start]
        if top is not None and top not in roots:
            roots[top] = _as_given(Path(top))
    return list(dict.fromkeys(roots.values()))


def _package_top(
    folder: str, packages: dict[str, bool], walks: WalkMemo | None = None
) -> str | None:
    """The outermost folder of the package chain ``folder`` is in (each folder up to
    it holds an ``__init__.py``), or None when ``folder`` is no package."""
    top = None
    while True:
        if folder not in packages:
            known = walks.holds_file(folder, "__init__.py") if walks is not None else None
            if known is None:
                known = os.path.isfile(os.path.join(folder, "__init__.py"))
            packages[folder] = known
        if not packages[folder]:
            return top
        top = folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return top
        folder = parent


def _as_given(folder: Path) -> Path:
    """``folder`` relative to the working directory when it lies inside it, so that
    paths found from it compare equal to the paths the user named."""
    try:
        return folder.relative_to(Path.cwd())
    except ValueError:
        return folder
