"""Plain result records: picklable, so worker processes can send them back."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

#: Code of the pseudo-rule for files that do not parse.
PARSE_ERROR_CODE = "AM000"
PARSE_ERROR_NAME = "syntax-error"


def printable(text: str) -> str:
    """``text`` safe to print on one line: control characters (a newline in a file
    name) escaped as Python does, bytes that are not UTF-8 (``surrogateescape``) as
    ``\\xNN``."""
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char.isprintable():
            out.append(char)
        elif 0xDC80 <= ord(char) <= 0xDCFF:
            out.append(f"\\x{ord(char) - 0xDC00:02x}")
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    return "".join(out)


@dataclass
class Finding:
    code: str
    name: str
    message: str
    path: str
    #: 1-based rows and columns, as ruff reports them.
    line: int
    column: int
    end_line: int
    end_column: int
    #: "safe" / "unsafe" when the finding has a fix, else None.
    fix_applicability: str | None = None
    fix_message: str | None = None
    #: The original lines (1-based, inclusive) the applied fix edits, when known (a
    #: fix may edit lines other than its finding's: review and SARIF need them).
    fix_line: int | None = None
    fix_end_line: int | None = None

    @property
    def fixable(self) -> bool:
        return self.fix_applicability is not None

    def to_json(self) -> dict[str, Any]:
        """ruff's JSON shape (DESIGN.md, CLI contract)."""
        fix = None
        if self.fix_applicability:
            fix = {"applicability": self.fix_applicability, "message": self.fix_message}
        return {
            "code": self.code,
            "name": self.name,
            "message": self.message,
            "filename": self.path,
            "location": {"row": self.line, "column": self.column},
            "end_location": {"row": self.end_line, "column": self.end_column},
            "fix": fix,
        }


class ErrorKind(enum.Enum):
    """What a file's ``error`` is: the run reports the two apart (both exit 2)."""

    #: The file could not be read (unreadable, binary, too large): a usage error.
    INPUT = "input"
    #: A rule crashed, or a fix failed verification: a bug of ours.
    INTERNAL = "internal"


@dataclass
class FileResult:
    """What the run found and changed in one file."""

    path: str
    #: Findings on the file as it was read.
    findings: list[Finding] = field(default_factory=list)
    #: Findings left after fixing (only in fix/diff mode).
    remaining: list[Finding] = field(default_factory=list)
    #: The fixed bytes, when fixing changed the file; None otherwise.
    fixed: bytes | None = None
    #: The bytes as read (kept only when ``fixed`` is set, for diffs and the
    #: changed-on-disk check).
    original: bytes | None = None
    encoding: str = "utf-8"
    #: Number of applied fixes per rule code.
    applied: dict[str, int] = field(default_factory=dict)
    #: An error processing the file (one line, or a traceback), of kind ``error_kind``.
    error: str | None = None
    error_kind: ErrorKind = ErrorKind.INTERNAL
    #: True when the result came from the cache.
    cached: bool = False
    #: Content hash of the bytes the result was computed from (cache key).
    digest: str = ""
    #: Warnings a user's libcst codemod raised with ``self.warn(...)``.
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.fixed is not None
