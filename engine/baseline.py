"""A baseline of known findings, so a legacy repo fails CI only on new ones.

A baselined finding is keyed by rule code, file (relative to the baseline file's folder)
and a fingerprint of the code it points at: the text of the lines it spans, with
whitespace collapsed, hashed, plus an occurrence counter among findings with the same
code, file and text. Line numbers are never part of the key, so inserting lines above a
finding, moving its function or renaming an unrelated one does not bring it back.

The file is JSON, sorted and indented, so that shrinking it gives a small diff.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from asyncmend.engine.results import Finding

FORMAT_VERSION = 1
#: How much of the normalized text the file keeps for a human reader (not matched on).
SNIPPET_LENGTH = 80


class BaselineError(ValueError):
    """A baseline file that cannot be read or is not one."""


@dataclass(frozen=True, order=True)
class Key:
    file: str
    code: str
    fingerprint: str
    occurrence: int


@dataclass
class Entry:
    key: Key
    snippet: str

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.key.file,
            "code": self.key.code,
            "fingerprint": self.key.fingerprint,
            "occurrence": self.key.occurrence,
            "snippet": self.snippet,
        }


@dataclass
class Outcome:
    """Findings the baseline does not cover, and baselined entries that no longer occur."""

    new: list[Finding] = field(default_factory=list)
    baselined: int = 0
    stale: list[Entry] = field(default_factory=list)


def normalized_text(lines: Sequence[str], finding: Finding) -> str:
    """The lines the finding spans, whitespace collapsed."""
    span = lines[finding.line - 1 : max(finding.end_line, finding.line)]
    return " ".join(" ".join(span).split())


def _fingerprint(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _source_lines(path: str) -> list[str]:
    try:
        data = Path(path).read_bytes()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()


def entries(
    findings: Iterable[Finding],
    folder: Path,
    read_lines: Callable[[str], list[str]] = _source_lines,
) -> list[tuple[Finding, Entry]]:
    """Each finding with its baseline entry (``folder``: where the baseline file lives)."""
    cache: dict[str, list[str]] = {}
    seen: dict[tuple[str, str, str], int] = {}
    out = []
    ordered = sorted(findings, key=lambda f: (f.path, f.line, f.column, f.code))
    for finding in ordered:
        if finding.path not in cache:
            cache[finding.path] = read_lines(finding.path)
        text = normalized_text(cache[finding.path], finding)
        file = _relative(finding.path, folder)
        fingerprint = _fingerprint(text)
        counter = (file, finding.code, fingerprint)
        seen[counter] = seen.get(counter, 0) + 1
        key = Key(file, finding.code, fingerprint, seen[counter])
        out.append((finding, Entry(key, text[:SNIPPET_LENGTH])))
    return out


def _relative(path: str, folder: Path) -> str:
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(folder))
    return Path(rel).as_posix()


def dumps(pairs: Iterable[tuple[Finding, Entry]]) -> str:
    items = sorted((entry for _, entry in pairs), key=lambda e: e.key)
    data = {"version": FORMAT_VERSION, "findings": [e.to_json() for e in items]}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write(path: Path, findings: Iterable[Finding], **kwargs: Callable[[str], list[str]]) -> int:
    """Write the baseline of ``findings`` to ``path``; return how many it holds."""
    pairs = entries(findings, path.parent, **kwargs)
    try:
        path.write_text(dumps(pairs), encoding="utf-8")
    except OSError as exc:
        raise BaselineError(f"{path}: cannot write baseline: {exc.strerror or exc}") from exc
    return len(pairs)


def load(path: Path) -> list[Entry]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BaselineError(f"{path}: baseline file not found") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BaselineError(f"{path}: cannot read baseline: {exc}") from exc
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise BaselineError(f"{path}: not an asyncmend baseline (version {FORMAT_VERSION})")
    out = []
    try:
        for item in data["findings"]:
            key = Key(
                str(item["file"]),
                str(item["code"]),
                str(item["fingerprint"]),
                int(item["occurrence"]),
            )
            out.append(Entry(key, str(item.get("snippet", ""))))
    except (KeyError, TypeError, ValueError) as exc:
        raise BaselineError(f"{path}: malformed baseline entry: {exc}") from exc
    return out


def apply(
    path: Path,
    findings: Sequence[Finding],
    *,
    checked: Callable[[str], bool] | None = None,
    read_lines: Callable[[str], list[str]] = _source_lines,
) -> Outcome:
    """Split ``findings`` into new ones and baselined ones.

    ``checked(file)`` tells whether the run looked at a baseline entry's file (relative
    to the baseline's folder): entries of files the run did not check are not stale.
    """
    known = {entry.key: entry for entry in load(path)}
    outcome = Outcome()
    matched: set[Key] = set()
    for finding, entry in entries(findings, path.parent, read_lines):
        if entry.key in known:
            matched.add(entry.key)
            outcome.baselined += 1
        else:
            outcome.new.append(finding)
    outcome.new.sort(key=lambda f: (f.path, f.line, f.column, f.code))
    outcome.stale = [
        entry
        for key, entry in sorted(known.items())
        if key not in matched and (checked is None or checked(key.file))
    ]
    return outcome
