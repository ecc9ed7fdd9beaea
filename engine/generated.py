"""Files a codemod leaves alone unless asked: generated code and type stubs.

A generated file carries ``@generated`` near its top (the convention of LibCST's codemod
CLI and of Meta's tools); rewriting it is pointless, since the generator would undo it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

#: Spelled in two parts so that this file is not itself "generated".
GENERATED_MARKER = b"@" + b"generated"
#: How much of the top of a file is searched for the marker.
HEAD_BYTES = 2048


def is_generated(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError:
        return False  # reported when the run reads it
    return GENERATED_MARKER in head


def split_generated(files: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """``(kept, skipped)``: stubs (``.pyi``) and generated files are skipped."""
    kept, skipped = [], []
    for path in files:
        (skipped if path.suffix == ".pyi" or is_generated(path) else kept).append(path)
    return kept, skipped
