"""Python's own line model: a line ends at ``\\r\\n``, ``\\r`` or ``\\n``, nothing else.

``str.splitlines`` also breaks at form feed, vertical tab, U+0085, U+2028, U+2029 and
the file/group/record separators; Python (and libcst's positions) do not, so line
numbers counted with it drift after any of those characters.
"""

from __future__ import annotations

import re

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def python_lines(text: str) -> list[str]:
    """The lines of ``text`` with their endings, as the Python tokenizer counts them."""
    return _LINE.findall(text)


def line_ending(line: str) -> str:
    """The ending of one line of ``python_lines`` (empty for a last line without one)."""
    if line.endswith("\r\n"):
        return "\r\n"
    if line.endswith(("\r", "\n")):
        return line[-1]
    return ""
