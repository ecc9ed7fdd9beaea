"""Discovery of the before/after cases under ``fixtures/rules/<CODE>/``.

A case is either a file ``<kind>_<name>.py`` or a folder ``<kind>_<name>/`` of files
(cross-file cases). ``<kind>`` is:

- ``positive``: findings, and every ``x.py`` with a sibling ``x.expected.py`` becomes
  exactly that after ``fix`` (files without one stay unchanged);
- ``negative``: no finding of the rule, no change;
- ``unfixable``: findings, no change.

The lines where findings are expected carry a trailing ``# expect: <CODE>`` comment
(several codes comma-separated). A ``<case>.toml`` beside a file case, or ``config.toml``
inside a folder case, holds ``[tool.asyncmend]`` keys for that case (top level).
Fixes run with ``--unsafe-fixes``, so unsafe rules' positive cases show their fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULE_FIXTURES = ROOT / "fixtures" / "rules"
KINDS = ("positive", "negative", "unfixable")
_EXPECT = re.compile(rb"#\s*expect:\s*([A-Z0-9, ]+)")


@dataclass(frozen=True)
class Case:
    code: str
    kind: str
    path: Path  # a file or a folder

    @property
    def id(self) -> str:
        return f"{self.code}/{self.path.name}"

    @property
    def inputs(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        return sorted(p for p in self.path.rglob("*.py") if not p.name.endswith(".expected.py"))

    @property
    def config(self) -> Path | None:
        candidate = (
            self.path.with_suffix(".toml") if self.path.is_file() else self.path / "config.toml"
        )
        return candidate if candidate.is_file() else None

    def expected_output(self, source: Path) -> Path | None:
        candidate = source.with_name(source.stem + ".expected.py")
        return candidate if candidate.is_file() else None

    def expected_findings(self) -> set[tuple[str, int]]:
        """``(file name, line)`` of every ``# expect: CODE`` marker for this rule."""
        found = set()
        for source in self.inputs:
            for number, line in enumerate(source.read_bytes().splitlines(), start=1):
                match = _EXPECT.search(line)
                if match and self.code in match.group(1).decode().replace(" ", "").split(","):
                    found.add((source.name, number))
        return found


def all_cases() -> list[Case]:
    cases = []
    if not RULE_FIXTURES.is_dir():
        return cases
    for rule_dir in sorted(RULE_FIXTURES.iterdir()):
        if not rule_dir.is_dir():
            continue
        for entry in sorted(rule_dir.iterdir()):
            kind = entry.name.split("_", 1)[0]
            if kind not in KINDS or entry.name.endswith(".expected.py"):
                continue
            if entry.is_file() and entry.suffix != ".py":
                continue
            cases.append(Case(rule_dir.name, kind, entry))
    return cases
