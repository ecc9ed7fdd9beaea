"""What pass 2 does to every file of a run. Light to import and to pickle: rule classes
are imported on first use, in the process that needs them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from asyncmend.engine.config import Config
from asyncmend.engine.index import RepoIndex

if TYPE_CHECKING:
    from asyncmend.codemods.base import Rule
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
    _rules: list[type[Rule]] | None = field(default=None, repr=False, compare=False)

    @property
    def rules(self) -> list[type[Rule]]:
        if self._rules is None:
            from asyncmend.codemods.registry import rule_by_code

            self._rules = [rule_by_code(code) for code in self.rule_codes] + list(self.extra_rules)
        return self._rules

    def allows(self, applicability: Any) -> bool:
        """Whether a fix of this applicability is applied in this run."""
        value = getattr(applicability, "value", applicability)
        return value == "safe" or (value == "unsafe" and self.config.unsafe_fixes)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_rules"] = None  # workers import the rules themselves
        return state
