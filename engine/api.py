"""The Python API for scripted use.

>>> from asyncmend.engine import run
>>> report = run(["src/"], select=["AM101"], fix=True)
>>> for finding in report.findings: print(finding.path, finding.line, finding.code)
>>> print(report.diff())
>>> report.apply()   # writes the fixed files atomically
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from asyncmend.engine.cache import ResultCache
from asyncmend.engine.config import CONFIG_NAMES, Config, ConfigResolver, load_config
from asyncmend.engine.discovery import WalkMemo, discover, discover_names
from asyncmend.engine.gcpolicy import freeze_long_lived, quiet_collector
from asyncmend.engine.index import RepoIndex
from asyncmend.engine.job import Job
from asyncmend.engine.results import ErrorKind, FileResult, Finding, printable
from asyncmend.engine.runner import (
    InputError,
    Pool,
    build_index,
    check_files,
    check_text,
    default_jobs,
    hash_files,
    index_digest,
    index_scope,
    max_file_bytes,
)

if TYPE_CHECKING:
    from asyncmend.codemods.base import Rule


@dataclass
class ApplyResult:
    written: list[str] = field(default_factory=list)
    #: Files left alone because they changed on disk since they were read.
    skipped: list[str] = field(default_factory=list)
    #: Files left alone on purpose (read-only, hard links, owner that cannot be kept),
    #: as ``(path, one-line message)``.
    refused: list[tuple[str, str]] = field(default_factory=list)
    #: Files whose write failed (read-only folder, disk full, name too long), as
    #: ``(path, one-line message)``: an error (exit 2); the other writes still happen.
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: A SIGINT/SIGTERM arrived: the file being written was finished, no later file was
    #: touched (``written`` lists what was).
    interrupted: bool = False

    @property
    def not_written(self) -> set[str]:
        return {*self.skipped, *(p for p, _ in self.refused), *(p for p, _ in self.failed)}


@dataclass
class Report:
    """What a run found and would change. Only files with something to say are kept."""

    results: list[FileResult] = field(default_factory=list)
    files_checked: int = 0
    #: Files that could not be read (unreadable, binary); a usage error (exit 2).
    input_errors: list[str] = field(default_factory=list)
    #: Rules that crashed or fixes that failed verification (exit 2).
    internal_errors: list[str] = field(default_factory=list)
    #: Generated files and stubs left out (``run(..., skip_generated=True)``).
    skipped_generated: int = 0
    #: Things skipped on purpose that the user should know (a README.md named).
    warnings: list[str] = field(default_factory=list)
    #: The project root (its write lock serialises ``apply`` across runs).
    root: Path | None = None
    #: Every file the run checked.
    sources: list[str] = field(default_factory=list)
    #: What pass 2 ran (for ``findings_on_disk``).
    job: Job | None = field(default=None, repr=False)

    def findings_on_disk(self, paths: Sequence[str]) -> list[Finding]:
        """The findings of these files as they are on disk now (after a partial review,
        a skipped write): checked again with the run's rules, config and repo index."""
        if self.job is None or not paths:
            return []
        from asyncmend.engine.runner import check_source

        job = dataclasses.replace(self.job, fix=False)
        root = self.root or Path.cwd()
        found: list[Finding] = []
        for path in paths:
            result = check_source(path, _relative_to(Path(path), root), job)
            found.extend(result.findings)
        return found

    def is_source(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` is (or links to) one of the checked files."""
        try:
            here = os.stat(path)
        except OSError:
            return False
        for source in self.sources:
            try:
                there = os.stat(source)
            except OSError:
                continue
            if (there.st_dev, there.st_ino) == (here.st_dev, here.st_ino):
                return True
        return False

    @property
    def findings(self) -> list[Finding]:
        """Findings on the files as they were read."""
        return [f for result in self.results for f in result.findings]

    @property
    def remaining(self) -> list[Finding]:
        """Findings that fixing would leave (equals ``findings`` for a check run)."""
        return [f for result in self.results for f in result.remaining]

    @property
    def changed(self) -> list[FileResult]:
        return [result for result in self.results if result.changed]

    def applied_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in self.changed:
            for code, count in result.applied.items():
                counts[code] = counts.get(code, 0) + count
        return counts

    def diffs(self) -> Iterator[tuple[str, str]]:
        """``(path, unified diff)`` for every file fixing would change."""
        from asyncmend.engine.diff import text_codec, unified_diff  # not for a check

        for result in self.changed:
            assert result.original is not None and result.fixed is not None
            codec = text_codec(result.encoding)
            before = result.original.decode(codec)
            after = result.fixed.decode(codec)
            yield result.path, unified_diff(_display_path(result.path), before, after)

    def diff(self) -> str:
        return "".join(text for _, text in self.diffs())

    def patch(self) -> bytes:
        """The diff as bytes, each file's part in that file's own encoding, so that
        ``git apply`` matches the bytes on disk (latin-1 files, BOMs)."""
        from asyncmend.engine.diff import text_codec

        by_path = {result.path: result for result in self.changed}
        return b"".join(
            text.encode(text_codec(by_path[path].encoding), "surrogateescape")
            for path, text in self.diffs()
        )

    def apply(self, *, on_wait: Callable[[], None] | None = None) -> ApplyResult:
        """Write every changed file atomically, keeping its identity (see
        ``engine.writer``), under the project's write lock (``on_wait`` is called if
        another run holds it). A file that changed on disk meanwhile is skipped; one
        write failing does not stop the others."""
        from asyncmend.engine.writer import (  # only a run that writes needs them
            ChangedOnDiskError,
            WriteSkipped,
            project_lock,
            write_atomic,
            write_target,
        )

        outcome = ApplyResult()
        targets: set[str] = set()
        with project_lock(self.root or Path.cwd(), on_wait), _deferred_signals() as stop:
            for result in self.changed:
                if stop:
                    outcome.interrupted = True
                    break
                assert result.original is not None and result.fixed is not None
                try:
                    target = str(write_target(result.path))
                    if target in targets:
                        continue  # a symlink and its target both checked: written once
                    write_atomic(result.path, result.fixed, expected=result.original)
                except (ChangedOnDiskError, FileNotFoundError):
                    outcome.skipped.append(result.path)
                except WriteSkipped as exc:
                    outcome.refused.append((result.path, str(exc)))
                except OSError as exc:
                    reason = (exc.strerror or str(exc)).lower()
                    outcome.failed.append(
                        (result.path, f"{printable(result.path)}: cannot write: {reason}")
                    )
                else:
                    targets.add(target)
                    outcome.written.append(result.path)
        return outcome

    def remaining_after(self, outcome: ApplyResult) -> list[Finding]:
        """Findings left in the files as they are on disk after ``apply``: a file not
        written keeps all of its findings."""
        skipped = outcome.not_written
        return [
            f
            for result in self.results
            for f in (result.findings if result.path in skipped else result.remaining)
        ]


@contextlib.contextmanager
def _deferred_signals() -> Iterator[list[int]]:
    """SIGINT and SIGTERM wait for the file being written (the list they yield becomes
    non-empty); in the main thread only, where Python runs signal handlers."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, lambda number, _frame: received.append(number))
    try:
        yield received
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _display_path(path: str) -> str:
    """Paths relative to the working directory where possible (what ``git apply`` wants)."""
    try:
        return Path(os.path.relpath(path)).as_posix()
    except ValueError:  # another drive on Windows
        return Path(path).as_posix()


def run(
    paths: Sequence[str | os.PathLike[str]],
    *,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    fix: bool = False,
    unsafe_fixes: bool | None = None,
    exclude: Sequence[str] = (),
    config: Config | None = None,
    config_path: str | os.PathLike[str] | None = None,
    rules: Sequence[type[Rule]] | None = None,
    jobs: int | None = None,
    use_cache: bool = False,
    codemod: str | None = None,
    codemod_args: Mapping[str, str] | None = None,
    changed_since: str | None = None,
    force_exclude: bool | None = None,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[FileResult], None] | None = None,
    skip_generated: bool = False,
    preview: bool | None = None,
    cache_only: bool = False,
) -> Report | None:
    """Check (``fix=False``) or compute fixes for (``fix=True``) the files under ``paths``.

    Nothing is written until ``Report.apply()``. ``rules`` runs the given rule classes
    instead of the registry's selection; ``codemod`` (``"pkg.mod:Class"`` or
    ``"path/file.py:Class"``) runs a user's asyncmend rule or libcst codemod instead,
    with ``codemod_args`` as keyword arguments of a libcst codemod. ``changed_since``
    keeps only the files git reports changed since that ref (plus untracked ones).
    ``use_cache`` reads and writes the content-hash cache (the CLI's default).
    ``on_start(total)`` is called once the files are known, ``on_result`` per file.
    ``preview`` runs preview rules too (None: as the config says).
    ``skip_generated`` leaves out ``@generated`` files and ``.pyi`` stubs (as LibCST's
    codemod CLI does; ``asyncmend run`` sets it) and counts them in the report.
    ``cache_only``: answer from the cache alone (no rule, no worker, no parse) or
    return None, having changed nothing, when any file needs work.
    Raises ``ConfigError``, ``DiscoveryError`` (``GitError``), ``UnknownRuleError`` or
    ``CodemodError`` for bad input.
    """
    start = Path(paths[0]) if paths else Path.cwd()
    one_config = config is not None or config_path is not None
    config, job = _prepare(
        start, select, ignore, fix, unsafe_fixes, config, config_path, rules, codemod, codemod_args,
        preview=preview,
    )  # fmt: skip
    report = Report(
        warnings=_preview_warnings(config), root=Path(os.path.abspath(config.root)), job=job
    )
    overrides = None if one_config else _overrides(select, ignore, unsafe_fixes, preview)
    # The index's scope walk reads the folders this one listed; the config and the
    # scope ask the listings which folders hold a config file or an __init__.py.
    walks = WalkMemo(recorded=("__init__.py", *CONFIG_NAMES))
    files = _discover(
        paths, config, job, report, exclude, force_exclude, overrides, changed_since,
        skip_generated, walks,
    )  # fmt: skip
    if on_start is not None:
        on_start(len(files))
    cache = _open_cache(config, job, fix) if use_cache else None
    if cache_only and (cache is None or "uses_index" not in cache.meta):
        return None
    inputs = _hash_inputs(files, config, job, cache, report, walks)
    if cache_only:
        return _from_cache(report, cache, inputs)
    # More workers than CPUs only cost memory and switches.
    with quiet_collector(), Pool(min(jobs or default_jobs(), default_jobs())) as pool:
        if inputs.uses_index:  # pass 1: the repo's facts
            job.index = build_index(
                pool, inputs.index_files, inputs.digests, cache, inputs.limit,
                job=job, checked=frozenset(inputs.files) if job.codemod is None else (),
            )  # fmt: skip
            freeze_long_lived()
        _check(pool, job, cache, inputs, report, on_result)  # pass 2: rules, fixes, verify
    return _finish(report, cache)


@dataclass
class _Inputs:
    """The files of a run as pass 1 and pass 2 take them."""

    files: list[str]
    #: The project root.
    root: Path
    #: Content hashes of every readable file, the index scope's included.
    digests: dict[str, str]
    #: Files that could not be read while hashing (already in the report).
    unreadable: list[str]
    uses_index: bool
    #: The files pass 1 reads: the checked ones and their packages.
    index_files: list[str]
    #: The digest of the repo index, part of each cached result's key.
    index_key: str
    limit: int | None

    def relpaths(self) -> list[str]:
        """The files relative to the project root (for per-file-ignores); not needed
        by a run the cache answers."""
        return [_relative_to(p, self.root) for p in self.files]


def _discover(
    paths: Sequence[str | os.PathLike[str]],
    config: Config,
    job: Job,
    report: Report,
    exclude: Sequence[str],
    force_exclude: bool | None,
    overrides: Callable[[Config], None] | None,
    changed_since: str | None,
    skip_generated: bool,
    walks: WalkMemo | None = None,
) -> list[str]:
    """The files to check: found under ``paths``, minus what each file's own config
    excludes (with ``overrides``, each file takes its nearest config, as in ruff), files
    git reports unchanged since ``changed_since``, and generated files when asked."""
    force = config.force_exclude if force_exclude is None else force_exclude
    files = discover_names(
        paths,
        root=config.root,
        exclude=[*config.exclude, *exclude],
        respect_gitignore=config.respect_gitignore,
        force_exclude=force,
        errors=report.input_errors,
        warnings=report.warnings,
        memo=walks,
    )
    if overrides is not None:
        job.add_file_configs(files, ConfigResolver(overrides, walks=walks))
        if job.per_file:  # else every file has the run's config, applied while walking
            named = set() if force else {str(Path(p)) for p in paths}
            files = [f for f in files if f in named or not job.excluded_by_own_config(f)]
    if changed_since is not None:
        from asyncmend.engine.git import changed_files

        changed = changed_files(changed_since, Path(paths[0]) if paths else Path.cwd())
        files = [f for f in files if Path(f).resolve() in changed]
    if skip_generated:
        from asyncmend.engine.generated import split_generated

        kept, skipped = split_generated(Path(f) for f in files)
        files = [str(f) for f in kept]
        report.skipped_generated = len(skipped)
    report.files_checked = len(files)
    report.sources = list(files)
    return files


def _open_cache(config: Config, job: Job, fix: bool) -> ResultCache | None:
    """The result cache of this run's key; None for a user's rules or codemod."""
    if job.extra_rules or job.codemod is not None:
        return None
    return ResultCache.open(
        config.root,
        config.digest(),
        job.rule_codes,
        fix,
        config.unsafe_fixes,
        job.variants_key(),
        in_project=config.source is not None,
    )


def _hash_inputs(
    file_names: list[str],
    config: Config,
    job: Job,
    cache: ResultCache | None,
    report: Report,
    walks: WalkMemo | None = None,
) -> _Inputs:
    """Hash the files (reporting unreadable ones) and, when a rule reads the repo index,
    the rest of their packages, which pass 1 reads too."""
    uses_index = _uses_index(job, cache)
    limit = max_file_bytes(config)
    digests, errors = hash_files(file_names, limit, cache)
    report.input_errors.extend(errors)
    index_files: list[str] = []
    if uses_index and file_names:
        found = discover_names(
            index_scope([f for f in file_names if f in digests or os.path.exists(f)], walks),
            root=config.root,
            errors=[],
            memo=walks,
        )
        scope = _as_named(found, file_names)
        scope_digests, _ = hash_files([p for p in scope if p not in digests], limit, cache)
        digests.update(scope_digests)
        index_files = list(dict.fromkeys([*file_names, *scope]))
    return _Inputs(
        files=file_names,
        root=Path(os.path.abspath(config.root)),
        digests=digests,
        unreadable=errors,
        uses_index=uses_index,
        index_files=index_files,
        index_key=index_digest(digests, index_files) if uses_index else "",
        limit=limit,
    )


def _as_named(found: list[str], file_names: list[str]) -> list[str]:
    """``found`` with each file the user named spelled as the user named it (the scope
    search may name it differently, e.g. absolute)."""
    named = set(file_names)
    if all(path in named for path in found):
        return found
    given = {os.path.abspath(name): name for name in file_names}
    return [path if path in named else given.get(os.path.abspath(path), path) for path in found]


def _check(
    pool: Pool,
    job: Job,
    cache: ResultCache | None,
    inputs: _Inputs,
    report: Report,
    on_result: Callable[[FileResult], None] | None,
) -> None:
    """Pass 2 over every file (cached results first), collected into the report."""
    results = check_files(
        pool,
        inputs.files,
        inputs.relpaths(),
        job,
        cache=cache,
        digests=inputs.digests,
        index_key=inputs.index_key,
    )
    for result in results:
        if on_result is not None:
            on_result(result)
        if _is_input_error(result) and result.path not in inputs.digests:
            continue  # already reported when hashing
        _collect(report, result)


def _finish(report: Report, cache: ResultCache | None) -> Report:
    if cache is not None:
        cache.save()
    report.results.sort(key=lambda r: r.path)
    return report


def _from_cache(report: Report, cache: ResultCache | None, inputs: _Inputs) -> Report | None:
    """The report of a run every file of which the cache answers, else None. Unreadable
    files are left to the full run (it reports them per file)."""
    files, digests = inputs.files, inputs.digests
    if cache is None or inputs.unreadable or any(path not in digests for path in files):
        return None
    hits = [cache.get_result(path, digests[path], inputs.index_key) for path in files]
    if not all(hit for hit, _ in hits):
        return None
    for _, result in hits:
        if result is not None:  # None: the file had nothing to say, nothing to collect
            _collect(report, result)
    return _finish(report, cache)  # saves the new stats of touched but unchanged files


def run_source(
    source: bytes,
    filename: str | os.PathLike[str],
    *,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    fix: bool = False,
    unsafe_fixes: bool | None = None,
    config: Config | None = None,
    config_path: str | os.PathLike[str] | None = None,
    rules: Sequence[type[Rule]] | None = None,
    codemod: str | None = None,
    codemod_args: Mapping[str, str] | None = None,
    index: RepoIndex | None = None,
    preview: bool | None = None,
) -> Report:
    """Like ``run`` for one file's source held in memory (``--stdin-filename``).

    ``filename`` (which need not exist) chooses the config, ``per-file-ignores`` and the
    module name, and is the path in findings and diffs. ``Report.apply()`` writes nothing
    useful here: take ``report.results[0].fixed``. ``index`` is a repo index built
    beforehand (the language server keeps one per workspace) instead of one built now;
    this source's facts replace the file's in it.
    """
    from asyncmend.engine.index import collect_facts

    path = Path(filename)
    config, job = _prepare(
        path, select, ignore, fix, unsafe_fixes, config, config_path, rules, codemod, codemod_args,
        preview=preview,
    )  # fmt: skip
    if _uses_index(job, None):
        if index is None:
            scope = [str(p) for p in discover(index_scope([path]), root=config.root)]
            scope = [p for p in scope if os.path.abspath(p) != os.path.abspath(path)]
            digests, _ = hash_files(scope)
            with Pool(1) as pool:
                index = build_index(pool, scope, digests, None)
        job.index = index
        job.index.add(collect_facts(str(path), source))
    return check_one_source(path, source, job, config)


def check_one_source(path: Path, source: bytes, job: Job, config: Config) -> Report:
    """The report of one source given as bytes (stdin, an editor buffer): refused as the
    same bytes in a file would be, else checked with ``job``."""
    from asyncmend.engine.process import process_source  # libcst: not for warm runs

    report = Report(files_checked=1)
    if refused(path, source, report):
        return report
    relpath = _relative_to(path, Path(os.path.abspath(config.root)))
    _collect(report, process_source(str(path), source, job, relpath=relpath))
    return report


def refused(path: Path, source: bytes, report: Report) -> bool:
    """Whether ``source`` is refused as the same bytes in a file would be (binary, too
    big...); the reason goes in ``report``'s input errors."""
    try:
        check_text(str(path), source)
    except InputError as exc:
        report.input_errors.append(str(exc))
        return True
    return False


def _prepare(
    start: Path,
    select: Sequence[str] | None,
    ignore: Sequence[str] | None,
    fix: bool,
    unsafe_fixes: bool | None,
    config: Config | None,
    config_path: str | os.PathLike[str] | None,
    rules: Sequence[type[Rule]] | None,
    codemod: str | None,
    codemod_args: Mapping[str, str] | None,
    *,
    preview: bool | None = None,
) -> tuple[Config, Job]:
    """The run's config (file, then overrides) and the job pass 2 runs on every file.
    Selecting rules by code imports none of them (see the registry)."""
    from asyncmend.codemods.registry import select_codes

    user_rule, user_codemod = None, None
    if codemod is not None:
        from asyncmend.engine.user_codemods import resolve_codemod

        user_rule, user_codemod = resolve_codemod(codemod, codemod_args)
    if config is None:
        known = None
        if user_rule is not None:

            def known() -> dict[str, Mapping[str, object]]:
                from asyncmend.engine.config import _registry_settings

                return {**_registry_settings(), user_rule.code: user_rule.settings_defaults}

        config = load_config(
            Path(config_path) if config_path else None, start=start, known_rule_settings=known
        )
    _overrides(select, ignore, unsafe_fixes, preview)(config)
    codes: tuple[str, ...] = ()
    extra: tuple[type[Rule], ...] = ()
    if user_rule is not None:
        extra = (user_rule,)
    elif rules is not None:
        extra = tuple(rules)
    elif user_codemod is None:
        codes = tuple(select_codes(config.select, config.ignore))
    job = Job(
        rule_codes=codes, config=config, index=RepoIndex(), fix=fix, extra_rules=extra,
        codemod=user_codemod,
    )  # fmt: skip
    return config, job


def _preview_warnings(config: Config) -> list[str]:
    """A preview rule selected by its exact code does not run without preview (as in
    ruff): say so instead of silently checking nothing."""
    if config.preview:
        return []
    from asyncmend.codemods.registry import all_codes, rule_by_code

    exact = [s.upper() for s in config.select if s.upper() in all_codes()]
    return [
        f"{code} is a preview rule: it runs only with --preview (or `preview = true`)"
        for code in exact
        if rule_by_code(code).preview
    ]


def _overrides(
    select: Sequence[str] | None,
    ignore: Sequence[str] | None,
    unsafe_fixes: bool | None,
    preview: bool | None = None,
) -> Callable[[Config], None]:
    """The command line's settings, applied over a config file's."""

    def apply(config: Config) -> None:
        if select is not None:
            config.select = list(select)
        if ignore is not None:
            config.ignore = [*config.ignore, *ignore]
        if unsafe_fixes is not None:
            config.unsafe_fixes = unsafe_fixes
        if preview is not None:
            config.preview = preview

    return apply


def _uses_index(job: Job, cache: ResultCache | None) -> bool:
    """Whether a selected rule reads the repo index (remembered by the cache, so a warm
    run need not import the rules to know)."""
    if job.codemod is not None:
        return False
    if cache is not None and "uses_index" in cache.meta:
        return bool(cache.meta["uses_index"])
    value = any(rule.uses_index for variant in job.variants() for rule in variant.rules)
    if cache is not None:
        cache.meta["uses_index"] = value
        cache.dirty = True
    return value


def _is_input_error(result: FileResult) -> bool:
    return result.error is not None and result.error_kind is ErrorKind.INPUT


def _collect(report: Report, result: FileResult) -> None:
    if _is_input_error(result):
        report.input_errors.append(result.error)  # type: ignore[arg-type]
        return
    if result.error:
        report.internal_errors.append(result.error)
    if result.findings or result.remaining or result.changed or result.error or result.warnings:
        report.results.append(result)


def _relative_to(path: str | Path, root: Path) -> str:
    """``path`` relative to the project root, for per-file-ignores (string operations
    only: resolving every path costs a stat per component)."""
    rel = os.path.relpath(os.path.abspath(path), root)
    return Path(path).as_posix() if rel.startswith("..") else Path(rel).as_posix()
