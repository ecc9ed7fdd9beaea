"""Suppression comments: ``# asyncmend: ignore[AM101]``, ``# asyncmend: ignore``,
``# noqa: AM101`` and a bare ``# noqa`` (as ruff honours it)."""

from __future__ import annotations

import re

_DIRECTIVE = re.compile(
    r"#\s*(?:asyncmend\s*:\s*ignore(?:\[(?P<codes>[^\]]*)\])?|noqa(?::\s*(?P<noqa>[A-Z0-9,\s]+))?)",
    re.IGNORECASE,
)
_ALL = frozenset({"*"})


def line_suppressions(line: str) -> frozenset[str]:
    """Codes suppressed on ``line``: empty when none, ``{"*"}`` for all."""
    if "#" not in line:
        return frozenset()
    codes: set[str] = set()
    for match in _DIRECTIVE.finditer(line):
        listed = match.group("codes") if match.group("codes") is not None else match.group("noqa")
        if listed is None:
            return _ALL
        codes.update(c.strip().upper() for c in re.split(r"[,\s]+", listed) if c.strip())
    return frozenset(codes)


def is_suppressed(code: str, lines: list[str], first_line: int, last_line: int) -> bool:
    """Whether a finding spanning ``first_line``..``last_line`` (1-based) is suppressed
    by a directive on its first or its last line."""
    for number in {first_line, last_line}:
        if 1 <= number <= len(lines):
            codes = line_suppressions(lines[number - 1])
            if codes is _ALL or any(code.startswith(c) for c in codes):
                return True
    return False
