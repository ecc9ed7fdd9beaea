"""Running a job over many files: pass 1 (facts -> repo index), pass 2 (rules), in a
process pool that starts once, and only when there are enough files to compute (not
when the cache answers). Workers get paths, not sources; results stream back in order.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from asyncmend.engine.cache import ResultCache, content_hash
from asyncmend.engine.results import FileResult

if TYPE_CHECKING:
    from asyncmend.engine.index import FileFacts, RepoIndex
    from asyncmend.engine.job import Job

#: Below this many files to compute, a pool costs more than it saves.
POOL_THRESHOLD = 24


class InputError(Exception):
    """A file that cannot be read as Python source (unreadable, binary)."""


def read_source(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {(exc.strerror or str(exc)).lower()}") from exc
    check_text(path, data)
    return data


def check_text(path: str, data: bytes) -> None:
    """Raise ``InputError`` when ``data`` cannot be Python source (a file's or stdin's)."""
    if b"\x00" in data or not _decodable(data):
        raise InputError(f"{path}: binary file, not Python source")


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


def _facts_task(path: str) -> tuple[str, FileFacts] | str:
    from asyncmend.engine.index import collect_facts

    try:
        data = read_source(path)
    except InputError as exc:
        return str(exc)
    return content_hash(data), collect_facts(path, data)


def check_source(path: str, relpath: str, job: Job) -> FileResult:
    from asyncmend.engine.process import process_source

    try:
        data = read_source(path)
    except InputError as exc:
        return FileResult(path=path, error=f"input: {exc}")
    result = process_source(path, data, job, relpath=relpath)
    result.digest = content_hash(data)
    return result


def _check_task(task: tuple[str, str, str]) -> FileResult:
    path, relpath, job_file = task
    return check_source(path, relpath, _load_job(job_file))


def _init_worker() -> None:
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))


# -- orchestration --------------------------------------------------------------------


@dataclass
class Pool:
    """A process pool (or none) shared by both passes of a run, started on first need."""

    jobs: int
    executor: Executor | None = None

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.executor is not None:
            self.executor.shutdown(cancel_futures=True)

    def parallel(self, count: int) -> bool:
        return self.jobs > 1 and count >= POOL_THRESHOLD

    def map(self, fn: Callable, items: Sequence) -> Iterator:  # type: ignore[type-arg]
        if not self.parallel(len(items)):
            return map(fn, items)
        if self.executor is None:
            import multiprocessing

            # fork shares the already imported rules and libcst with the workers.
            method = "fork" if sys.platform == "linux" else None
            self.executor = ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=multiprocessing.get_context(method),
                initializer=_init_worker,
            )
        chunk = max(1, min(16, len(items) // (self.jobs * 8) or 1))
        return self.executor.map(fn, items, chunksize=chunk)


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def hash_files(paths: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Content hash of every readable file, and the input errors of the others."""
    digests: dict[str, str] = {}
    errors: list[str] = []
    for path in paths:
        try:
            digests[path] = content_hash(read_source(path))
        except InputError as exc:
            errors.append(str(exc))
    return digests, errors


def index_digest(digests: dict[str, str], paths: Iterable[str]) -> str:
    """Identifies the repo index: the files it was built from and their contents."""
    h = hashlib.blake2b(digest_size=16)
    for path in sorted(paths):
        h.update(f"{path}\0{digests.get(path, '')}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def build_index(
    pool: Pool, paths: Sequence[str], digests: dict[str, str], cache: ResultCache | None
) -> RepoIndex:
    """Pass 1: facts of every file (from the cache where its content is unchanged)."""
    from asyncmend.engine.index import RepoIndex

    index = RepoIndex()
    missing = []
    for path in paths:
        facts = cache.get_facts(path, digests[path]) if cache and path in digests else None
        if facts is not None:
            index.add(facts)
        elif path in digests:
            missing.append(path)
    for item in pool.map(_facts_task, missing):
        if isinstance(item, str):
            continue  # unreadable now: reported by pass 2 for checked files
        digest, facts = item
        index.add(facts)
        if cache is not None:
            cache.put_facts(facts.path, digest, facts)
    return index


def check_files(
    pool: Pool,
    files: Sequence[str],
    relpaths: Sequence[str],
    job_factory: Callable[[], Job],
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
    job = job_factory()

    def computed() -> Iterator[FileResult]:
        if not pool.parallel(len(todo)):
            for path, rel in todo:
                yield check_source(path, rel, job)
            return
        with tempfile.NamedTemporaryFile("wb", suffix=".asyncmend-job", delete=False) as handle:
            pickle.dump(job, handle, protocol=pickle.HIGHEST_PROTOCOL)
            job_file = handle.name
        try:
            yield from pool.map(_check_task, [(p, r, job_file) for p, r in todo])
        finally:
            os.unlink(job_file)

    for result in computed():
        if cache is not None and result.digest:
            cache.put_result(result.path, result.digest, index_key, result)
        yield result


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
            roots[_as_given(top)] = None
    return list(roots)


def _as_given(folder: Path) -> Path:
    """``folder`` relative to the working directory when it lies inside it, so that
    paths found from it compare equal to the paths the user named."""
    try:
        return folder.relative_to(Path.cwd())
    except ValueError:
        return folder
