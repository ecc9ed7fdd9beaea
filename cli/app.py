"""``asyncmend``: check / diff / fix / rules / explain.

Exit codes follow ruff: ``check`` 1 when there are findings, ``diff`` 1 when there is a
diff, ``fix`` 1 when findings remain (``--exit-non-zero-on-fix``: also when it changed
something), 0 otherwise, 2 for usage or internal errors.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn

import typer

app = typer.Typer(
    name="asyncmend",
    help="Find and rewrite async anti-patterns in FastAPI + SQLAlchemy (asyncio) code.",
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


class OutputFormat(str, Enum):
    text = "text"
    json = "json"


def fail(message: str) -> NoReturn:
    """One line on stderr, exit 2: the contract for every usage error."""
    typer.echo(f"asyncmend: error: {message}", err=True)
    raise typer.Exit(2)


# -- the common options (one definition, used by check / diff / fix) ---------------------

Paths = Annotated[
    list[str] | None, typer.Argument(help="Files or folders (default: .).", show_default=False)
]
Select = Annotated[
    list[str] | None,
    typer.Option(
        "--select", help="Rule codes or prefixes to run (AM1, AM203); comma-separated or repeated."
    ),
]
Ignore = Annotated[
    list[str] | None, typer.Option("--ignore", help="Rule codes or prefixes to skip.")
]
UnsafeFixes = Annotated[
    bool, typer.Option("--unsafe-fixes", help="Also apply fixes that change behaviour on purpose.")
]
Exclude = Annotated[
    list[str] | None, typer.Option("--exclude", help="Gitignore-style patterns of paths to skip.")
]
Jobs = Annotated[
    int | None, typer.Option("--jobs", "-j", min=1, help="Worker processes (default: CPUs).")
]
NoCache = Annotated[bool, typer.Option("--no-cache", help="Do not read or write the result cache.")]
ConfigPath = Annotated[
    Path | None,
    typer.Option("--config", help="A pyproject.toml (or TOML file) to read settings from."),
]
Format = Annotated[OutputFormat, typer.Option("--format", help="Output format.")]


@dataclass
class Options:
    paths: list[Path]
    select: list[str] | None = None
    ignore: list[str] | None = None
    unsafe_fixes: bool = False
    exclude: list[str] = field(default_factory=list)
    jobs: int | None = None
    no_cache: bool = False
    config: Path | None = None
    output_format: OutputFormat = OutputFormat.text


def _split(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _options(
    paths, select, ignore, unsafe_fixes, exclude, jobs, no_cache, config, output_format
) -> Options:  # type: ignore[no-untyped-def]
    return Options(
        paths=[Path(p) for p in paths or ["."]],
        select=_split(select),
        ignore=_split(ignore),
        unsafe_fixes=unsafe_fixes,
        exclude=_split(exclude) or [],
        jobs=jobs,
        no_cache=no_cache,
        config=config,
        output_format=output_format,
    )


def _run(options: Options, *, fix: bool):  # type: ignore[no-untyped-def]
    """Run the engine, turning bad input into the one-line exit-2 contract."""
    from asyncmend.codemods.registry import UnknownRuleError
    from asyncmend.engine.api import run
    from asyncmend.engine.config import ConfigError
    from asyncmend.engine.discovery import DiscoveryError

    if options.config is not None and not options.config.is_file():
        fail(f"{options.config}: config file not found")
    try:
        report = run(
            [str(p) for p in options.paths],
            select=options.select,
            ignore=options.ignore,
            fix=fix,
            unsafe_fixes=True if options.unsafe_fixes else None,
            exclude=options.exclude,
            config_path=options.config,
            jobs=options.jobs,
            use_cache=not options.no_cache,
        )
    except (ConfigError, DiscoveryError, UnknownRuleError) as exc:
        fail(str(exc))
    for message in report.input_errors:
        typer.echo(f"asyncmend: error: {message}", err=True)
    for message in report.internal_errors:
        typer.echo(f"asyncmend: {message.rstrip()}", err=True)
    return report


def _print_findings(findings, options: Options, *, verb: str = "fix") -> None:  # type: ignore[no-untyped-def]
    from asyncmend.cli.output import FORMATTERS, format_text_lines, summary_lines

    if options.output_format is OutputFormat.text:
        unsafe = bool(options.unsafe_fixes)
        for line in format_text_lines(findings, unsafe_fixes=unsafe):
            typer.echo(line)
        for line in summary_lines(findings, unsafe_fixes=unsafe, verb=verb):
            typer.echo(line)
    else:
        typer.echo(FORMATTERS[options.output_format.value](findings))


def _error_exit(report) -> None:  # type: ignore[no-untyped-def]
    if report.input_errors or report.internal_errors:
        raise typer.Exit(2)


@app.command()
def check(
    paths: Paths = None,
    select: Select = None,
    ignore: Ignore = None,
    unsafe_fixes: UnsafeFixes = False,
    exclude: Exclude = None,
    jobs: Jobs = None,
    no_cache: NoCache = False,
    config: ConfigPath = None,
    output_format: Format = OutputFormat.text,
    exit_zero: Annotated[
        bool, typer.Option("--exit-zero", help="Exit 0 even when there are findings.")
    ] = False,
) -> None:
    """List findings. Exit 1 when there are any."""
    options = _options(
        paths, select, ignore, unsafe_fixes, exclude, jobs, no_cache, config, output_format
    )
    report = _run(options, fix=False)
    _print_findings(report.findings, options)
    _error_exit(report)
    if report.findings and not exit_zero:
        raise typer.Exit(1)


@app.command()
def diff(
    paths: Paths = None,
    select: Select = None,
    ignore: Ignore = None,
    unsafe_fixes: UnsafeFixes = False,
    exclude: Exclude = None,
    jobs: Jobs = None,
    no_cache: NoCache = False,
    config: ConfigPath = None,
) -> None:
    """Print the unified diff `fix` would apply (nothing is written). Exit 1 when there is one."""
    options = _options(
        paths, select, ignore, unsafe_fixes, exclude, jobs, no_cache, config, OutputFormat.text
    )
    report = _run(options, fix=True)
    color = sys.stdout.isatty()
    text = report.diff()
    for line in text.splitlines(keepends=True):
        typer.echo(_colour_diff_line(line) if color else line, nl=False, color=color)
    if text:
        counts = report.applied_counts()
        summary = ", ".join(f"{code} x{n}" for code, n in sorted(counts.items()))
        typer.echo(
            f"Would fix {sum(counts.values())} finding(s) in {len(report.changed)} file(s): {summary}",
            err=True,
        )
    _error_exit(report)
    if text:
        raise typer.Exit(1)


def _colour_diff_line(line: str) -> str:
    if line.startswith(("+++", "---")):
        return typer.style(line, bold=True)
    if line.startswith("+"):
        return typer.style(line, fg="green")
    if line.startswith("-"):
        return typer.style(line, fg="red")
    if line.startswith("@@"):
        return typer.style(line, fg="cyan")
    return line


@app.command()
def fix(
    paths: Paths = None,
    select: Select = None,
    ignore: Ignore = None,
    unsafe_fixes: UnsafeFixes = False,
    exclude: Exclude = None,
    jobs: Jobs = None,
    no_cache: NoCache = False,
    config: ConfigPath = None,
    output_format: Format = OutputFormat.text,
    exit_non_zero_on_fix: Annotated[
        bool, typer.Option("--exit-non-zero-on-fix", help="Exit 1 when something was fixed, too.")
    ] = False,
) -> None:
    """Apply fixes in place (atomically), then list what remains."""
    options = _options(
        paths, select, ignore, unsafe_fixes, exclude, jobs, no_cache, config, output_format
    )
    report = _run(options, fix=True)
    if report.input_errors:
        raise typer.Exit(2)  # bad input: write nothing
    outcome = report.apply()
    for path in outcome.skipped:
        typer.echo(
            f"asyncmend: warning: {path}: changed on disk since it was read; not written", err=True
        )
    counts = {}
    written = set(outcome.written)
    for result in report.changed:
        if result.path in written:
            for code, n in result.applied.items():
                counts[code] = counts.get(code, 0) + n
    remaining = report.remaining
    _print_findings(remaining, options)
    if counts and options.output_format is OutputFormat.text:
        from asyncmend.codemods.registry import rule_by_code

        total = sum(counts.values())
        typer.echo(f"Fixed {total} finding(s) in {len(written)} file(s):", err=True)
        for code, n in sorted(counts.items()):
            typer.echo(f"  {code} {rule_by_code(code).name}: {n}", err=True)
    _error_exit(report)
    if remaining or (exit_non_zero_on_fix and counts):
        raise typer.Exit(1)


@app.command()
def rules(
    output_format: Format = OutputFormat.text,
) -> None:
    """List every rule: code, name, fix, summary."""
    from asyncmend.codemods.registry import all_rules

    known = all_rules()
    if output_format is OutputFormat.json:
        import json

        data = [
            {
                "code": r.code,
                "name": r.name,
                "fix": r.fix_applicability.value,
                "summary": r.summary(),
            }
            for r in known
        ]
        typer.echo(json.dumps(data, indent=2))
        return
    for rule in known:
        fixmark = {"safe": "[*]", "unsafe": "[~]"}.get(rule.fix_applicability.value, "   ")
        typer.echo(f"{rule.code}  {fixmark} {rule.name:<34} {rule.summary()}")
    typer.echo("\n[*] safe fix   [~] unsafe fix (needs --unsafe-fixes)")


@app.command()
def explain(code: Annotated[str, typer.Argument(help="A rule code, e.g. AM101.")]) -> None:
    """Print a rule's documentation: what it does, why it is bad, example, fix."""
    from asyncmend.codemods.registry import UnknownRuleError, rule_by_code

    try:
        rule = rule_by_code(code)
    except UnknownRuleError as exc:
        fail(str(exc))
    fixes = {"safe": "a safe fix", "unsafe": "an unsafe fix (--unsafe-fixes)", "none": "no fix"}
    typer.echo(f"# {rule.name} ({rule.code})\n")
    typer.echo(f"Fix: {fixes[rule.fix_applicability.value]}.\n")
    typer.echo(rule.doc())


from asyncmend.cli.locks import locks_command  # noqa: E402

app.command("locks")(locks_command)


def main() -> None:
    """Entry point. Click's own usage errors (unknown option, bad value) get the same
    one-line ``asyncmend: error: ...`` form and exit 2 as ours."""
    try:
        code = app(standalone_mode=False)
    except Exception as exc:
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            message = exc.format_message()
            if message:  # empty when the help was shown for a bare `asyncmend`
                typer.echo(f"asyncmend: error: {message}", err=True)
            sys.exit(exc.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
