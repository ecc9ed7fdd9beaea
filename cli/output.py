"""Rendering findings: ruff-like text, JSON in ruff's shape, SARIF 2.1.0 and GitHub
workflow annotations. Machine formats register in ``FORMATTERS``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import typer

from asyncmend.engine.results import FileResult, Finding, printable

#: ``formatter(findings, changed)``: ``changed`` holds the results whose fixes are known
#: (a fix-mode run), for formats that carry fixes (SARIF); others ignore it.
Formatter = Callable[[Sequence[Finding], Sequence[FileResult]], str]


def display_path(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return Path(path).as_posix() if rel.startswith("..") else Path(rel).as_posix()


def _marker(finding: Finding, unsafe_fixes: bool) -> str:
    if finding.fix_applicability == "safe" or (
        finding.fix_applicability == "unsafe" and unsafe_fixes
    ):
        return " [*]"
    return ""


def format_text_lines(findings: Sequence[Finding], *, unsafe_fixes: bool = False) -> list[str]:
    lines = []
    for f in findings:
        location = (
            typer.style(printable(display_path(f.path)), bold=True) + f":{f.line}:{f.column}:"
        )
        code = typer.style(f.code, fg="red", bold=True)
        lines.append(f"{location} {code} {f.message}{_marker(f, unsafe_fixes)}")
    return lines


def summary_lines(
    findings: Sequence[Finding], *, unsafe_fixes: bool, verb: str = "fix"
) -> list[str]:
    """ruff's closing lines: how many, how many fixable, hidden unsafe fixes."""
    if not findings:
        return ["All checks passed!"]
    count = len(findings)
    lines = [f"Found {count} error{'s' if count != 1 else ''}."]
    safe = sum(1 for f in findings if f.fix_applicability == "safe")
    unsafe = sum(1 for f in findings if f.fix_applicability == "unsafe")
    fixable = safe + (unsafe if unsafe_fixes else 0)
    if fixable:
        lines.append(f"[*] {fixable} fixable with `asyncmend {verb}`.")
    if unsafe and not unsafe_fixes:
        plural = "es" if unsafe != 1 else ""
        lines.append(
            f"({unsafe} hidden fix{plural} can be enabled with the `--unsafe-fixes` option.)"
        )
    return lines


def format_json(findings: Sequence[Finding], changed: Sequence[FileResult] = ()) -> str:
    items = []
    for f in findings:
        item = f.to_json()
        item["filename"] = display_path(f.path)
        items.append(item)
    return json.dumps(items, indent=2)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_github(findings: Sequence[Finding], changed: Sequence[FileResult] = ()) -> str:
    """GitHub Actions workflow commands: one ``::error`` annotation per finding."""
    lines = []
    for f in findings:
        props = {
            "file": display_path(f.path),
            "line": f.line,
            "col": f.column,
            "endLine": f.end_line,
            "endColumn": f.end_column,
            "title": f"{f.code} {f.name}",
        }
        rendered = ",".join(f"{key}={_escape_property(str(value))}" for key, value in props.items())
        lines.append(f"::error {rendered}::{_escape_data(f.message)}")
    return "\n".join(lines)


def format_sarif(findings: Sequence[Finding], changed: Sequence[FileResult] = ()) -> str:
    from asyncmend.cli.sarif import sarif_log

    return json.dumps(sarif_log(findings, changed), indent=2)


FORMATTERS: dict[str, Formatter] = {
    "json": format_json,
    "sarif": format_sarif,
    "github": format_github,
}
