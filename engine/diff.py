"""Unified diffs with ``a/`` and ``b/`` prefixes, as ``git apply`` expects them."""

from __future__ import annotations

import difflib

NO_NEWLINE = "\\ No newline at end of file\n"


def text_codec(encoding: str) -> str:
    """The codec that turns a file's bytes into diff text and back byte for byte: a BOM
    stays a character of line 1 (``utf-8-sig`` would drop it on decoding and put it in
    front of the patch on encoding)."""
    return "utf-8" if encoding.lower().replace("_", "-") == "utf-8-sig" else encoding


def split_lines(text: str) -> list[str]:
    # splitlines(keepends=True) would also split on form feeds and other separators
    # that git does not treat as line ends; split on "\n" only, keeping "\r".
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def unified_diff(path: str, before: str, after: str, context: int = 3) -> str:
    """The diff of one file; empty when nothing changed."""
    if before == after:
        return ""
    name = path.replace("\\", "/")
    if name.startswith("./"):
        name = name[2:]
    out: list[str] = []
    for line in difflib.unified_diff(
        split_lines(before), split_lines(after), fromfile=f"a/{name}", tofile=f"b/{name}", n=context
    ):
        if line.endswith("\n"):
            out.append(line)
        else:  # the last line of a file without a final newline
            out.append(line + "\n" + NO_NEWLINE)
    return "".join(out)
