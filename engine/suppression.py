"""Suppressions applied to a file's findings, and AM001 unused-suppression: the
directives (``engine.noqa``) that suppressed nothing, reported and removed by its fix.

AM001 needs the file's final findings, so pass 2 computes it after the rules ran:
``suppress`` filters the rules' findings and records which directive codes were used,
``unused_findings`` reports the others, ``remove_unused_codes`` is the fix.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from asyncmend.engine.noqa import IGNORE, Directive, Suppressions, remove_unused
from asyncmend.engine.results import Finding

UNUSED_CODE = "AM001"
UNUSED_NAME = "unused-suppression"


@dataclass(frozen=True)
class Unused:
    """The unused part of one directive: its codes (``()`` for a bare directive)."""

    directive: Directive
    codes: tuple[str, ...]

    @property
    def message(self) -> str:
        what = "`noqa`" if self.directive.kind != IGNORE else "`asyncmend: ignore`"
        if not self.codes:
            return f"Unused blanket {what} directive"
        listed = ", ".join(f"`{code}`" for code in self.codes)
        return f"Unused {what} directive (unused: {listed})"

    @property
    def fix_message(self) -> str:
        whole = not self.codes or set(self.codes) == set(self.directive.codes or ())
        return "Remove the unused suppression" if whole else "Remove the unused codes"


def unused(suppressions: Suppressions, enabled: Collection[str]) -> list[Unused]:
    """Directive codes that suppressed nothing, among the codes of ``enabled`` rules.
    AM001 itself is never unused: a directive naming AM001 keeps its line's report
    away (a bare one does not: it would hide its own report, as ruff's RUF100 knows)."""
    found = []
    for directive, codes in suppressions.unused(set(enabled) - {UNUSED_CODE}):
        if not any(
            UNUSED_CODE in (other.codes or ())
            for other in suppressions.by_line.get(directive.line, ())
        ):
            found.append(Unused(directive, codes))
    return found


def unused_findings(path: str, items: list[Unused]) -> list[Finding]:
    return [
        Finding(
            code=UNUSED_CODE,
            name=UNUSED_NAME,
            message=item.message,
            path=path,
            line=item.directive.line,
            column=item.directive.start + 1,
            end_line=item.directive.line,
            end_column=item.directive.end + 1,
            fix_applicability="safe",
            fix_message=item.fix_message,
        )
        for item in items
    ]


def remove_unused_codes(text: str, items: list[Unused]) -> str:
    """The AM001 fix on ``text`` (the code the directives were read from)."""
    return remove_unused(text, [(item.directive, item.codes) for item in items])
