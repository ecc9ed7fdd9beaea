"""Rendering findings: ruff-like text, JSON in ruff's shape, SARIF 2.1.0 and GitHub
workflow annotations. Machine formats register in ``FORMATTERS``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from asyncmend.engine.results import FileResult, Finding, printable

#: ``formatter(findings, changed)``: ``changed`` holds the results whose fixes are known
#: (a fix-mode run), for formats that carry fixes (SARIF); others ignore it.
Formatter = Callable[[Sequence[Finding], Sequence[FileResult]], str]


#: ANSI SGR codes of the styles we use (the bytes ``click.style`` writes for them); kept
#: here so that rendering findings imports neither typer nor click (the warm path).
_SGR = {"red": "\033[31m", "bold": "\033[1m"}
_RESET = "\033[0m"


def style(text: str, *, fg: str | None = None, bold: bool = False) -> str:
    """``text`` in colour, as ``click.style(text, fg=fg, bold=bold)`` renders it."""
    prefix = (_SGR[fg] if fg else "") + (_SGR["bold"] if bold else "")
    return f"{prefix}{text}{_RESET}"


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
    """The ``concise`` format: one line per finding."""
    lines = []
    for f in findings:
        location = style(printable(display_path(f.path)), bold=True) + f":{f.line}:{f.column}:"
        code = style(f.code, fg="red", bold=True)
        lines.append(f"{location} {code} {f.message}{_marker(f, unsafe_fixes)}")
    return lines


#: Lines of source shown above and below a finding in the ``full`` format (ruff's 2).
FRAME_CONTEXT = 2


def format_full_lines(
    findings: Sequence[Finding],
    *,
    unsafe_fixes: bool = False,
    read_lines: Callable[[str], list[str]] | None = None,
) -> list[str]:
    """The ``full`` format, ruff's: the finding's line, then a code frame of the source
    with the span underlined, then the fix as a help line."""
    sources: dict[str, list[str]] = {}
    lines: list[str] = []
    for f in findings:
        location = style(display_path(f.path), bold=True) + f":{f.line}:{f.column}:"
        code = style(f.code, fg="red", bold=True)
        marker = "[*] " if _marker(f, unsafe_fixes) else ""
        lines.append(f"{location} {code} {marker}{f.message}")
        if f.path not in sources:
            sources[f.path] = (read_lines or read_source_lines)(f.path)
        lines.extend(_frame(sources[f.path], f))
        if f.fix_message and marker:
            lines.append(f"  = help: {f.fix_message}")
        lines.append("")
    return lines


def read_source_lines(path: str) -> list[str]:
    try:
        return Path(path).read_bytes().decode("utf-8", "replace").splitlines()
    except OSError:
        return []


def _frame(source: list[str], f: Finding) -> list[str]:
    if not 1 <= f.line <= len(source):
        return []
    last = min(max(f.end_line, f.line), len(source))
    first_shown = max(1, f.line - FRAME_CONTEXT)
    last_shown = min(len(source), last + FRAME_CONTEXT)
    width = len(str(last_shown))
    gutter = " " * width + " |"
    out = [gutter]
    for number in range(first_shown, last_shown + 1):
        text = source[number - 1].expandtabs(4).rstrip()
        out.append(f"{number:>{width}} | {text}".rstrip())
        if f.line <= number <= last:
            start = f.column - 1 if number == f.line else len(text) - len(text.lstrip())
            end = f.end_column - 1 if number == f.end_line else len(text)
            end = max(end, start + 1)
            carets = style("^" * (end - start), fg="red", bold=True)
            label = f" {style(f.code, fg='red', bold=True)}" if number == last else ""
            out.append(f"{gutter} {' ' * start}{carets}{label}")
    out.append(gutter)
    return out


def statistics_lines(findings: Sequence[Finding], *, unsafe_fixes: bool = False) -> list[str]:
    """ruff's ``--statistics``: count, code, fixable mark and name per rule, most first."""
    rows = _statistics(findings, unsafe_fixes=unsafe_fixes)
    if not rows:
        return []
    count_width = max(len(str(row["count"])) for row in rows)
    code_width = max(len(str(row["code"])) for row in rows)
    return [
        f"{row['count']:>{count_width}}\t{row['code']:<{code_width}}\t"
        f"{'[*]' if row['fixable'] else '[ ]'} {row['name']}"
        for row in rows
    ]


def statistics_json(findings: Sequence[Finding], *, unsafe_fixes: bool = False) -> str:
    return json.dumps(_statistics(findings, unsafe_fixes=unsafe_fixes), indent=2)


def _statistics(findings: Sequence[Finding], *, unsafe_fixes: bool) -> list[dict[str, object]]:
    by_code: dict[str, dict[str, object]] = {}
    for f in findings:
        row = by_code.setdefault(
            f.code, {"code": f.code, "name": f.name, "count": 0, "fixable": False}
        )
        row["count"] = int(row["count"]) + 1  # type: ignore[call-overload]
        if _marker(f, unsafe_fixes):
            row["fixable"] = True
    return sorted(by_code.values(), key=lambda r: (-int(r["count"]), str(r["code"])))  # type: ignore[call-overload]


def show_fixes_lines(applied: Sequence[FileResult], rule_name: Callable[[str], str]) -> list[str]:
    """ruff's ``--show-fixes``: what was fixed, per file and rule."""
    if not applied:
        return []
    total = sum(n for result in applied for n in result.applied.values())
    lines = [f"Fixed {total} error{'s' if total != 1 else ''}:"]
    for result in sorted(applied, key=lambda r: r.path):
        lines.append(f"- {display_path(result.path)}:")
        for code, n in sorted(result.applied.items()):
            name = rule_name(code)
            label = f"{code} ({name})" if name != code else code
            lines.append(f"    {n} x {label}")
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
    from asyncmend.cli.rule_docs import rule_url

    urls: dict[str, str | None] = {}
    for f in findings:
        item = f.to_json()
        item["filename"] = display_path(f.path)
        if f.code not in urls:
            urls[f.code] = rule_url(f.code)
        item["url"] = urls[f.code]
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
