"""Running a job over many files: pass 1 (facts -> repo index), pass 2 (rules), in a
process pool that starts once when there are many files, and in this process when
there are few. Workers get paths, not sources, and results stream back in order."""

from __future__ import annotations

import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from asyncmend.engine.index import FileFacts, RepoIndex, collect_facts
from asyncmend.engine.process import Job, process_source
from asyncmend.engine.results import FileResult

#: Below this many files a pool costs more than it saves.
POOL_THRESHOLD = 24


class InputError(Exception):
    """A file that cannot be read as Python source (unreadable, binary)."""


def read_source(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if b"\x00" in data or not _decodable(data):
        raise InputError(f"{path}: binary file, not Python source")
    return data


def _decodable(data: bytes) -> bool:
    """UTF-8, or another encoding its coding cookie declares (PEP 263)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        head = data.split(b"\n", 2)[:2]
        return any(b"coding" in line and line.lstrip().startswith(b"#") for line in head)
    return True


# -- worker side --------------------------------------------------------------------

_LOADED: dict[str, Job] = {}


def _load_job(job_file: str) -> Job:
    job = _LOADED.get(job_file)
    if job is None:
        with open(job_file, "rb") as handle:
            job = pickle.load(handle)
        _LOADED.clear()
        _LOADED[job_file] = job
    return job


def _facts_task(path: str) -> FileFacts | str:
    try:
        return collect_facts(path, read_source(path))
    except InputError as exc:
        return str(exc)


def _check_task(task: tuple[str, str, str]) -> FileResult:
    path, relpath, job_file = task
    try:
        data = read_source(path)
    except InputError as exc:
        return FileResult(path=path, error=f"input: {exc}")
    return process_source(path, data, _load_job(job_file), relpath=relpath)


def _init_worker() -> None:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))


# -- orchestration --------------------------------------------------------------------


@dataclass
class Pool:
    """A process pool (or none) used for both passes of a run."""

    jobs: int
    executor: Executor | None = None

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)

    def map(self, fn: Callable, items: Sequence, total: int) -> Iterator:  # type: ignore[type-arg]
        if self.jobs <= 1 or total < POOL_THRESHOLD:
            return map(fn, items)
        if self.executor is None:
            import multiprocessing

            method = "fork" if sys.platform == "linux" else None
            self.executor = ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=multiprocessing.get_context(method),
                initializer=_init_worker,
            )
        chunk = max(1, min(16, total // (self.jobs * 8) or 1))
        return self.executor.map(fn, items, chunksize=chunk)


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def build_index(pool: Pool, paths: Sequence[str]) -> tuple[RepoIndex, list[str]]:
    """Pass 1: facts of every file, merged. Returns the index and input errors."""
    index = RepoIndex()
    errors: list[str] = []
    for item in pool.map(_facts_task, paths, len(paths)):
        if isinstance(item, str):
            errors.append(item)
        else:
            index.add(item)
    return index, errors


def index_scope(files: Iterable[Path]) -> list[Path]:
    """The folders of the top-level packages the files lie in, so that checking one
    file still knows the rest of its package."""
    roots: dict[Path, None] = {}
    for file in files:
        folder = file.resolve().parent
        top = None
        while (folder / "__init__.py").is_file():
            top = folder
            folder = folder.parent
        if top is not None:
            roots[top] = None
    return list(roots)


def check_files(
    pool: Pool,
    files: Sequence[str],
    relpaths: Sequence[str],
    job: Job,
) -> Iterator[FileResult]:
    """Pass 2, streamed in input order."""
    if pool.jobs <= 1 or len(files) < POOL_THRESHOLD:
        for path, rel in zip(files, relpaths, strict=True):
            try:
                data = read_source(path)
            except InputError as exc:
                yield FileResult(path=path, error=f"input: {exc}")
                continue
            yield process_source(path, data, job, relpath=rel)
        return
    with tempfile.NamedTemporaryFile("wb", suffix=".asyncmend-job", delete=False) as handle:
        pickle.dump(job, handle, protocol=pickle.HIGHEST_PROTOCOL)
        job_file = handle.name
    try:
        tasks = [(path, rel, job_file) for path, rel in zip(files, relpaths, strict=True)]
        yield from pool.map(_check_task, tasks, len(tasks))
    finally:
        os.unlink(job_file)
