"""The Python API for scripted use.

>>> from asyncmend.engine import run
>>> report = run(["src/"], select=["AM101"], fix=True)
>>> for finding in report.findings: print(finding.path, finding.line, finding.code)
>>> print(report.diff())
>>> report.apply()   # writes the fixed files atomically
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from asyncmend.codemods.base import Rule
from asyncmend.engine.config import Config, load_config
from asyncmend.engine.diff import text_codec, unified_diff
from asyncmend.engine.discovery import discover
from asyncmend.engine.index import RepoIndex, collect_facts
from asyncmend.engine.process import Job, process_source
from asyncmend.engine.results import FileResult, Finding
from asyncmend.engine.runner import Pool, build_index, check_files, default_jobs, index_scope
from asyncmend.engine.writer import ChangedOnDiskError, write_atomic


@dataclass
class ApplyResult:
    written: list[str] = field(default_factory=list)
    #: Files left alone because they changed on disk since they were read.
    skipped: list[str] = field(default_factory=list)


@dataclass
class Report:
    """What a run found and would change. Only files with something to say are kept."""

    results: list[FileResult] = field(default_factory=list)
    files_checked: int = 0
    #: Files that could not be read (unreadable, binary); a usage error (exit 2).
    input_errors: list[str] = field(default_factory=list)
    #: Rules that crashed or fixes that failed verification (exit 2).
    internal_errors: list[str] = field(default_factory=list)

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
        by_path = {result.path: result for result in self.changed}
        return b"".join(
            text.encode(text_codec(by_path[path].encoding), "surrogateescape")
            for path, text in self.diffs()
        )

    def apply(self) -> ApplyResult:
        """Write every changed file atomically; skip those changed on disk meanwhile."""
        outcome = ApplyResult()
        for result in self.changed:
            assert result.original is not None and result.fixed is not None
            try:
                write_atomic(result.path, result.fixed, expected=result.original)
            except (ChangedOnDiskError, FileNotFoundError):
                outcome.skipped.append(result.path)
            else:
                outcome.written.append(result.path)
        return outcome


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
    codemod: str | None = None,
    codemod_args: Mapping[str, str] | None = None,
    changed_since: str | None = None,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[FileResult], None] | None = None,
) -> Report:
    """Check (``fix=False``) or compute fixes for (``fix=True``) the files under ``paths``.

    Nothing is written until ``Report.apply()``. ``rules`` runs the given rule classes
    instead of the registry's selection; ``codemod`` (``"pkg.mod:Class"`` or
    ``"path/file.py:Class"``) runs a user's asyncmend rule or libcst codemod instead,
    with ``codemod_args`` as keyword arguments of a libcst codemod. ``changed_since``
    keeps only the files git reports changed since that ref (plus untracked ones).
    ``on_start(total)`` is called once the files are known, ``on_result`` per file.
    Raises ``ConfigError``, ``DiscoveryError`` (``GitError``), ``UnknownRuleError`` or
    ``CodemodError`` for bad input.
    """
    start = Path(paths[0]) if paths else Path.cwd()
    config, job = _prepare(
        start, select, ignore, fix, unsafe_fixes, config, config_path, rules, codemod, codemod_args
    )
    files = discover(
        paths,
        root=config.root,
        exclude=[*config.exclude, *exclude],
        respect_gitignore=config.respect_gitignore,
    )
    if changed_since is not None:
        from asyncmend.engine.git import changed_files

        changed = changed_files(changed_since, start)
        files = [f for f in files if f.resolve() in changed]
    if on_start is not None:
        on_start(len(files))
    report = Report(files_checked=len(files))
    file_names = [str(p) for p in files]
    relpaths = [_relative_to(p, config.root) for p in files]
    with Pool(jobs or default_jobs()) as pool:
        if any(rule.uses_index for rule in job.rules):
            scope = discover(index_scope(files), root=config.root) if files else []
            index_files = list(dict.fromkeys([*file_names, *(str(p) for p in scope)]))
            job.index, _ = build_index(pool, index_files)
        for result in check_files(pool, file_names, relpaths, job):
            if on_result is not None:
                on_result(result)
            _collect(report, result)
    return report


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
) -> Report:
    """Like ``run`` for one file's source held in memory (``--stdin-filename``).

    ``filename`` (which need not exist) chooses the config, ``per-file-ignores`` and the
    module name, and is the path in findings and diffs. ``Report.apply()`` writes nothing
    useful here: take ``report.results[0].fixed``.
    """
    path = Path(filename)
    config, job = _prepare(
        path, select, ignore, fix, unsafe_fixes, config, config_path, rules, codemod, codemod_args
    )
    if any(rule.uses_index for rule in job.rules):
        scope = discover(index_scope([path]), root=config.root)
        with Pool(1) as pool:
            job.index, _ = build_index(
                pool, [str(p) for p in scope if p.resolve() != path.resolve()]
            )
            job.index.add(collect_facts(str(path), source))
    report = Report(files_checked=1)
    _collect(
        report, process_source(str(path), source, job, relpath=_relative_to(path, config.root))
    )
    return report


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
) -> tuple[Config, Job]:
    """The run's config (file, then overrides) and the job pass 2 runs on every file."""
    from asyncmend.codemods.registry import all_rules, select_rules

    user_rule, user_codemod = None, None
    if codemod is not None:
        from asyncmend.engine.user_codemods import resolve_codemod

        user_rule, user_codemod = resolve_codemod(codemod, codemod_args)
    if config is None:
        known = {rule.code: rule.settings_defaults for rule in all_rules()}
        if user_rule is not None:
            known.setdefault(user_rule.code, user_rule.settings_defaults)
        config = load_config(
            Path(config_path) if config_path else None, start=start, known_rule_settings=known
        )
    if select is not None:
        config.select = list(select)
    if ignore is not None:
        config.ignore = [*config.ignore, *ignore]
    if unsafe_fixes is not None:
        config.unsafe_fixes = unsafe_fixes
    if user_rule is not None:
        chosen: list[type[Rule]] = [user_rule]
    elif user_codemod is not None:
        chosen = []
    elif rules is not None:
        chosen = list(rules)
    else:
        chosen = select_rules(config.select, config.ignore)
    job = Job(rules=chosen, config=config, index=RepoIndex(), fix=fix, codemod=user_codemod)
    return config, job


def _collect(report: Report, result: FileResult) -> None:
    if result.error and result.error.startswith("input: "):
        report.input_errors.append(result.error.removeprefix("input: "))
        return
    if result.error:
        report.internal_errors.append(result.error)
    if result.findings or result.remaining or result.changed or result.error or result.warnings:
        report.results.append(result)


def _relative_to(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
