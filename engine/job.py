"""What pass 2 does to every file of a run. Light to import and to pickle: rule classes
are imported on first use, in the process that needs them."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from asyncmend.engine.config import Config, ConfigResolver
from asyncmend.engine.index import RepoIndex

if TYPE_CHECKING:
    from asyncmend.codemods.base import Rule
    from asyncmend.engine.replay import GateRecord
    from asyncmend.engine.user_codemods import UserCodemod


@dataclass
class Job:
    #: Registry codes of the selected rules.
    rule_codes: tuple[str, ...]
    config: Config
    index: RepoIndex
    #: Compute and apply fixes (``diff``/``fix``); otherwise only report (``check``).
    fix: bool = False
    #: Rule classes given directly (user codemods, tests), run besides ``rule_codes``.
    extra_rules: tuple[type[Rule], ...] = ()
    #: A user's libcst codemod (``asyncmend run``), run instead of the rules.
    codemod: UserCodemod | None = None
    #: Files whose nearest config is not the run's, with the job made from theirs.
    per_file: dict[str, Job] = field(default_factory=dict, repr=False, compare=False)
    #: Pass 1's candidate-gate records of the files to check, each taken once by pass 2
    #: (``engine/replay.py``); in memory for one run only.
    gate_records: dict[str, GateRecord] = field(default_factory=dict, repr=False, compare=False)
    _rules: list[type[Rule]] | None = field(default=None, repr=False, compare=False)

    @property
    def rules(self) -> list[type[Rule]]:
        if self._rules is None:
            from asyncmend.codemods.registry import rule_by_code

            # Selection reads module names only (warm runs import no rule), so a preview
            # rule is left out here, where the classes are imported anyway.
            selected = [rule_by_code(code) for code in self.rule_codes]
            stable = [r for r in selected if self.config.preview or not r.preview]
            self._rules = stable + list(self.extra_rules)
        return self._rules

    def for_file(self, path: str, relpath: str | None) -> tuple[Job, str | None]:
        """The job for one file, and its path relative to that job's project root (for
        ``per-file-ignores``)."""
        job = self.per_file.get(path)
        if job is None:
            return self, relpath
        job.index = self.index
        job.gate_records = self.gate_records
        rel = os.path.relpath(os.path.abspath(path), job.config.root)
        return job, rel.replace(os.sep, "/")

    def variants(self) -> list[Job]:
        """This job and every per-file one."""
        return [self, *{id(job): job for job in self.per_file.values()}.values()]

    def variants_key(self) -> str:
        """What the per-file jobs change in results (part of the cache key)."""
        h = hashlib.sha256()
        for path, job in sorted(self.per_file.items()):
            h.update(f"{path}\0{job.config.digest()}\0{job.rule_codes}\n".encode())
        return h.hexdigest()[:16] if self.per_file else ""

    def add_file_configs(self, files: Iterable[str], resolver: ConfigResolver) -> None:
        """Give each file whose nearest config is not this job's a job of its own (one
        per config file), so that `check sub a.py` applies a.py's config to a.py."""
        from asyncmend.codemods.registry import select_codes

        by_source: dict[Any, Job] = {}
        folder, own = None, True  # files of one folder share its config (sorted: in a row)
        for path in files:
            if os.path.dirname(path) != folder:
                folder = os.path.dirname(path)
                config = resolver.for_file(path)
                own = config.source == self.config.source
            if own:
                continue
            job = by_source.get(config.source)
            if job is None:
                codes: tuple[str, ...] = ()
                if not self.extra_rules and self.codemod is None:
                    codes = tuple(select_codes(config.select, config.ignore))
                job = by_source[config.source] = replace(
                    self, rule_codes=codes, config=config, per_file={}, _rules=None
                )
            self.per_file[path] = job

    def excluded_by_own_config(self, path: str) -> bool:
        """Whether a file's own (nested) config excludes it; the run's excludes were
        applied while walking."""
        from asyncmend.engine.discovery import exclude_spec

        job = self.per_file.get(path)
        if job is None or not job.config.exclude:
            return False
        rel = os.path.relpath(os.path.abspath(path), job.config.root).replace(os.sep, "/")
        spec = exclude_spec(job.config.exclude)
        return spec is not None and not rel.startswith("..") and spec.match_file(rel)

    def allows(self, applicability: Any) -> bool:
        """Whether a fix of this applicability is applied in this run."""
        value = getattr(applicability, "value", applicability)
        return value == "safe" or (value == "unsafe" and self.config.unsafe_fixes)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_rules"] = None  # workers import the rules themselves
        return state
