"""Suppression directives: ``# noqa``, ``# noqa: AM101, AM205``, ``# asyncmend: ignore``
and ``# asyncmend: ignore[AM101]``, read as flake8 and ruff read ``noqa``.

- Only real comments count (the tokenizer says what is a comment): ``"# noqa"`` inside a
  string literal suppresses nothing.
- Codes are exact (``AM2`` is not a prefix of ``AM205``), separated by commas and/or
  whitespace; the first word that is not a code ends the list, so
  ``# noqa: E501 because a line is long`` lists ``E501`` alone.
- A bare ``# noqa`` / ``# asyncmend: ignore`` suppresses every code on its line;
  ``# noqa:`` followed by no code is not a directive (ruff warns and ignores it too).
- A finding is suppressed by a directive on its first or its last line.

Lines are Python's (``engine.lines``), the same lines libcst's positions count.
"""

from __future__ import annotations

import re
import tokenize
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from asyncmend.engine.lines import line_ending, python_lines

#: A rule code as ruff reads one: letters then digits.
_CODE = re.compile(r"[A-Z]+[0-9]+")
_NOQA = re.compile(r"#\s*noqa", re.IGNORECASE)
_IGNORE = re.compile(r"#\s*asyncmend\s*:\s*ignore", re.IGNORECASE)
_SEPARATORS = re.compile(r"[,\s]*")
#: Cheap gate: text without either word has no directive, so is never tokenized.
_MAYBE = re.compile(r"noqa|asyncmend", re.IGNORECASE)

NOQA = "noqa"
IGNORE = "asyncmend: ignore"


@dataclass(frozen=True)
class Directive:
    """One directive in one comment. Columns are 0-based character offsets in the line."""

    line: int
    #: Where the directive's ``#`` is, and where it ends (after its last code or ``]``).
    start: int
    end: int
    #: NOQA or IGNORE.
    kind: str
    #: The codes it lists; None for a bare directive (every code).
    codes: tuple[str, ...] | None
    #: Where the code list starts (for rewriting it without some codes).
    codes_start: int = 0

    def covers(self, code: str) -> bool:
        return self.codes is None or code in self.codes

    @property
    def text_prefix(self) -> str:
        return "# noqa: " if self.kind == NOQA else "# asyncmend: ignore["


def _bare_end(comment: str, position: int) -> bool:
    """Whether a keyword ending at ``position`` stands alone (``# noqa`` and not ``# noqaxyz``)."""
    return position == len(comment) or comment[position].isspace() or comment[position] == "#"


def _codes(text: str, position: int, stop: str = "") -> tuple[list[str], int, int]:
    """Codes from ``position``: ``(codes, end of the last code, position after them)``."""
    codes: list[str] = []
    end = position
    while True:
        position = _SEPARATORS.match(text, position).end()  # type: ignore[union-attr]
        match = _CODE.match(text, position)
        if match is None or not (match.end() == len(text) or text[match.end()] in f", \t#{stop}"):
            return codes, end, position
        codes.append(match.group())
        end = position = match.end()


def parse_comment(comment: str, line: int = 1, column: int = 0) -> list[Directive]:
    """The directives in one comment token (which starts at ``column`` of ``line``)."""
    found: list[Directive] = []
    for match in _NOQA.finditer(comment):
        after = match.end()
        if after < len(comment) and comment[after] == ":":
            codes, end, _ = _codes(comment, after + 1)
            if not codes:
                continue  # a colon without a code after it: not a directive
            codes_start = _SEPARATORS.match(comment, after + 1).end()  # type: ignore[union-attr]
            found.append(
                Directive(
                    line, column + match.start(), column + end, NOQA, tuple(codes),
                    column + codes_start,
                )
            )  # fmt: skip
        elif _bare_end(comment, after):
            found.append(Directive(line, column + match.start(), column + after, NOQA, None))
    for match in _IGNORE.finditer(comment):
        after = match.end()
        if after < len(comment) and comment[after] == "[":
            codes, _, position = _codes(comment, after + 1, stop="]")
            close = comment.find("]", position)
            if close < 0 or comment[position:close].strip(" ,\t"):
                continue  # an unclosed list, or one with a word that is not a code
            found.append(
                Directive(
                    line, column + match.start(), column + close + 1, IGNORE, tuple(codes),
                    column + after + 1,
                )
            )  # fmt: skip
        elif _bare_end(comment, after):
            found.append(Directive(line, column + match.start(), column + after, IGNORE, None))
    return sorted(found, key=lambda d: d.start)


def comments(text: str) -> list[tuple[int, int, str]] | None:
    """``(line, column, text)`` of every comment, from the tokenizer; None when the
    tokenizer rejects the text (the caller may ask libcst's tree instead)."""
    # The tokenizer is fed Python's lines with "\n" endings: same lines, same columns,
    # and a lone "\r" cannot confuse it.
    lines = iter([line[: len(line) - len(line_ending(line))] + "\n" for line in python_lines(text)])
    found = []
    try:
        for token in tokenize.generate_tokens(lambda: next(lines, "")):
            if token.type == tokenize.COMMENT:
                found.append((token.start[0], token.start[1], token.string))
    except (tokenize.TokenError, SyntaxError):
        return None
    return found


def comments_from_tree(module: object) -> list[tuple[int, int, str]]:
    """Every comment of a libcst module with its position (slow: the fallback for text
    the running Python's tokenizer rejects but libcst parses)."""
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)  # type: ignore[arg-type]
    positions = wrapper.resolve(PositionProvider)
    return [
        (positions[node].start.line, positions[node].start.column, node.value)
        for node in positions
        if isinstance(node, cst.Comment)
    ]


def directives(text: str, module: object | None = None) -> list[Directive]:
    """Every directive in the comments of ``text`` (a libcst ``module`` of the same
    text is the fallback when the tokenizer fails)."""
    if not _MAYBE.search(text):
        return []
    found = comments(text)
    if found is None:
        if module is None:
            return []
        found = comments_from_tree(module)
    return [d for line, column, comment in found for d in parse_comment(comment, line, column)]


@dataclass
class Suppressions:
    """The directives of one file, and which of their codes suppressed a finding."""

    by_line: dict[int, list[Directive]] = field(default_factory=dict)
    #: (directive, code) pairs that suppressed something; code "*" for a bare directive.
    used: set[tuple[Directive, str]] = field(default_factory=set)

    @classmethod
    def of(cls, text: str, module: object | None = None) -> Suppressions:
        suppressions = cls()
        for directive in directives(text, module):
            suppressions.by_line.setdefault(directive.line, []).append(directive)
        return suppressions

    def suppresses(self, code: str, first_line: int, last_line: int) -> bool:
        """Whether a finding of ``code`` on lines ``first_line``..``last_line`` is
        suppressed (by its first line's directives, else its last line's)."""
        if not self.by_line:
            return False
        for number in dict.fromkeys((first_line, last_line)):
            for directive in self.by_line.get(number, ()):
                if directive.covers(code):
                    self.used.add((directive, code if directive.codes is not None else "*"))
                    return True
        return False

    def unused(self, selected: Collection[str]) -> list[tuple[Directive, tuple[str, ...]]]:
        """Directives with codes that suppressed nothing, and those codes: only codes of
        ``selected`` rules count (others belong to other tools or are switched off).
        A bare ``# noqa`` is never reported (it may serve another tool); a bare
        ``# asyncmend: ignore`` that suppressed nothing is (codes ``()``)."""
        found = []
        for line in sorted(self.by_line):
            for directive in self.by_line[line]:
                if directive.codes is None:
                    if directive.kind == IGNORE and (directive, "*") not in self.used:
                        found.append((directive, ()))
                    continue
                codes = tuple(
                    code
                    for code in directive.codes
                    if code in selected and (directive, code) not in self.used
                )
                if codes:
                    found.append((directive, codes))
        return found


def remove_unused(text: str, unused: Iterable[tuple[Directive, tuple[str, ...]]]) -> str:
    """``text`` without the unused codes (the AM001 fix): a directive left with no code
    goes entirely, the rest of its comment stays, and a line left empty is removed."""
    by_line: dict[int, list[tuple[Directive, tuple[str, ...]]]] = {}
    for directive, codes in unused:
        by_line.setdefault(directive.line, []).append((directive, codes))
    lines = python_lines(text)
    for number, edits in by_line.items():
        line = lines[number - 1]
        ending = line_ending(line)
        body = line[: len(line) - len(ending)]
        original_blank = not body.strip()
        for directive, codes in sorted(edits, key=lambda e: e[0].start, reverse=True):
            kept = [c for c in directive.codes or () if c not in codes] if codes else []
            if kept:
                suffix = "]" if directive.kind == IGNORE else ""
                new = body[: directive.codes_start] + ", ".join(kept) + suffix
                body = new + body[directive.end :]
                continue
            before, rest = body[: directive.start], body[directive.end :].strip()
            if rest and not rest.startswith("#"):
                rest = "# " + rest  # the reason given after the codes stays a comment
            body = before + rest if rest else before.rstrip(" \t")
        lines[number - 1] = "" if body.strip() == "" and not original_blank else body + ending
    return "".join(lines)
