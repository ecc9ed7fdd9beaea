"""The entry point: a plain ``asyncmend check`` that the cache answers entirely is
served here without importing typer, rich, pydantic, libcst or any rule; everything
else (and any run with a file to check) goes to the full CLI in ``cli.app``.

Only the simplest form is taken: ``check [PATHS] [--output-format concise|text|full|json]
[--quiet] [--jobs N]``. The output is the full CLI's, byte for byte (``tests/test_cache_warm.py``
runs both on one tree); when in doubt this module declines and nothing has been printed.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

#: Formats rendered here; the others (sarif computes fixes) take the full path.
_FORMATS = ("concise", "text", "full", "json")
_ANSI = re.compile(r"\033\[[;?0-9]*[a-zA-Z]")


def main() -> None:
    for stream in (sys.stdout, sys.stderr):  # as cli.app.main: escaped, never a crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parsed = _parse(sys.argv[1:])
    if parsed is not None:
        code = _answer_from_cache(*parsed)
        if code is not None:
            sys.exit(code)
    from asyncmend.cli.app import main as full_main

    full_main()


def _parse(args: Sequence[str]) -> tuple[list[str], str, bool] | None:
    """``(paths, format, quiet)`` of a plain ``check``, else None."""
    if not args or args[0] != "check":
        return None
    paths: list[str] = []
    fmt, quiet = "concise", False
    rest = iter(args[1:])
    for arg in rest:
        if arg in ("--output-format", "--format"):
            fmt = next(rest, "")
        elif arg.startswith(("--output-format=", "--format=")):
            fmt = arg.partition("=")[2]
        elif arg in ("-q", "--quiet"):
            quiet = True
        elif arg in ("-j", "--jobs") or arg.startswith("--jobs="):
            # Workers are for files to compute; a run the cache answers has none. Only
            # a value the full CLI accepts is taken (else it says what is wrong).
            value = arg.partition("=")[2] if "=" in arg else next(rest, "")
            if not (value.isascii() and value.isdigit() and int(value) >= 1):
                return None
        elif arg.startswith("-"):  # any other option, `-` (stdin), `--`
            return None
        else:
            paths.append(arg)
    return (paths, fmt, quiet) if fmt in _FORMATS else None


def _answer_from_cache(paths: list[str], fmt: str, quiet: bool) -> int | None:
    """Print the run's output and return its exit code, or None (nothing printed) when
    the cache cannot answer it all."""
    from asyncmend.engine.api import run
    from asyncmend.engine.config import load_config

    targets = paths or ["."]
    try:
        project = load_config(None, start=Path(os.path.abspath(targets[0])))
        if getattr(project, "baseline", None):
            return None
        report = run(targets, use_cache=True, cache_only=True)
    except Exception:  # bad input: the full CLI says what is wrong
        return None
    if report is None:
        return None
    return _render(report, fmt, quiet, unsafe=bool(getattr(project, "unsafe_fixes", False)))


def _render(report: Any, fmt: str, quiet: bool, *, unsafe: bool) -> int:
    """What ``cli.app._check`` prints for this report (its ``_run`` notices, then the
    findings and the summary) and its exit code."""
    from asyncmend.cli import output
    from asyncmend.engine.results import printable

    color = False if os.environ.get("NO_COLOR") else None
    for result in report.results:
        for warning in result.warnings:
            _echo(f"asyncmend: warning: {printable(result.path)}: {warning}", sys.stderr)
    for message in report.warnings:
        _echo(f"asyncmend: warning: {message}", sys.stderr)
    for message in report.input_errors:
        _echo(f"asyncmend: error: {message}", sys.stderr)
    for message in report.internal_errors:
        _echo(f"asyncmend: {message.rstrip()}", sys.stderr)
    findings = report.findings
    if fmt == "json":
        text = output.format_json(findings, report.changed)
        lines = [text] if text else []
    elif fmt == "full":
        lines = output.format_full_lines(
            findings, unsafe_fixes=unsafe, read_lines=output.read_source_lines
        )
    else:
        lines = output.format_text_lines(findings, unsafe_fixes=unsafe)
    if fmt != "json" and not quiet:
        lines = [*lines, *output.summary_lines(findings, unsafe_fixes=unsafe)]
    for line in lines:
        _echo(line, sys.stdout, color)
    if report.input_errors or report.internal_errors:
        return 2
    return 1 if findings else 0


def _echo(line: str, stream: TextIO, color: bool | None = None) -> None:
    """``click.echo(line, file=stream, color=color)``: colour codes only for a terminal
    (or when asked), one line, flushed."""
    if color is False or (color is None and not stream.isatty()):
        line = _ANSI.sub("", line)
    stream.write(f"{line}\n")
    stream.flush()
