"""``asyncmend``: check / diff / fix / run / rules / explain.

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

from asyncmend.engine.results import printable

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
    sarif = "sarif"
    github = "github"


#: How ``engine.process.verify_output`` starts the error of a fix it refuses.
FIX_VERIFICATION_ERROR = "internal error: fix output for "


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
StdinFilename = Annotated[
    Path | None,
    typer.Option(
        "--stdin-filename",
        help="Read the source from stdin, as if it were this file (for config and messages); "
        "write the result to stdout.",
    ),
]
ChangedSince = Annotated[
    str | None,
    typer.Option(
        "--changed-since",
        metavar="REF",
        help="Only files changed since this git ref (committed, staged, unstaged, untracked).",
    ),
]


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
    stdin_filename: Path | None = None
    changed_since: str | None = None
    #: ``asyncmend run``: the user codemod and its ``--arg key=value`` pairs.
    codemod: str | None = None
    codemod_args: dict[str, str] = field(default_factory=dict)
    #: Whether paths were given on the command line (``--stdin-filename`` takes none).
    explicit_paths: bool = False
    #: The source read from stdin (``--stdin-filename``).
    stdin_data: bytes = b""


def _split(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _options(
    paths,
    select,
    ignore,
    unsafe_fixes,
    exclude,
    jobs,
    no_cache,
    config,
    output_format,
    stdin_filename=None,
    changed_since=None,
) -> Options:  # type: ignore[no-untyped-def]
    return Options(
        paths=[Path(p) for p in paths or ["."]],
        explicit_paths=bool(paths),
        stdin_filename=stdin_filename,
        changed_since=changed_since,
        select=_split(select),
        ignore=_split(ignore),
        unsafe_fixes=unsafe_fixes,
        exclude=_split(exclude) or [],
        jobs=jobs,
        no_cache=no_cache,
        config=config,
        output_format=output_format,
    )


def _run(  # type: ignore[no-untyped-def]
    options: Options, *, fix: bool, verb: str = "Checking", fixes_optional: bool = False
):
    """Run the engine, turning bad input into the one-line exit-2 contract.

    ``fixes_optional``: fixes are computed only to describe them (``check --format
    sarif``), so a fix that fails verification drops that fix, not the run.
    """
    from asyncmend.cli.progress import progress_callbacks
    from asyncmend.codemods.registry import UnknownRuleError
    from asyncmend.engine.api import run, run_source
    from asyncmend.engine.config import ConfigError
    from asyncmend.engine.discovery import DiscoveryError
    from asyncmend.engine.errors import CodemodError

    if options.config is not None and not options.config.is_file():
        fail(f"{options.config}: config file not found")
    common = dict(
        select=options.select,
        ignore=options.ignore,
        fix=fix,
        unsafe_fixes=True if options.unsafe_fixes else None,
        config_path=options.config,
        codemod=options.codemod,
        codemod_args=options.codemod_args,
    )
    try:
        if options.stdin_filename is not None:
            if options.explicit_paths:
                fail("--stdin-filename reads stdin: give no paths")
            if options.changed_since is not None:
                fail("--stdin-filename and --changed-since cannot be combined")
            options.stdin_data = sys.stdin.buffer.read()
            report = run_source(options.stdin_data, options.stdin_filename, **common)
        else:
            with progress_callbacks(verb) as (on_start, on_result):
                report = run(
                    [str(p) for p in options.paths],
                    exclude=options.exclude,
                    jobs=options.jobs,
                    changed_since=options.changed_since,
                    use_cache=not options.no_cache,
                    on_start=on_start,
                    on_result=on_result,
                    **common,
                )
    except (ConfigError, DiscoveryError, UnknownRuleError, CodemodError) as exc:
        fail(str(exc))
    if fixes_optional:
        report.internal_errors = [
            m for m in report.internal_errors if not m.startswith(FIX_VERIFICATION_ERROR)
        ]
    for result in report.results:
        for warning in result.warnings:
            typer.echo(f"asyncmend: warning: {printable(result.path)}: {warning}", err=True)
    for message in report.input_errors:
        typer.echo(f"asyncmend: error: {message}", err=True)
    for message in report.internal_errors:
        typer.echo(f"asyncmend: {message.rstrip()}", err=True)
    return report


def _print_findings(  # type: ignore[no-untyped-def]
    findings, options: Options, *, verb: str = "fix", changed=(), err: bool = False
) -> None:
    from asyncmend.cli.output import FORMATTERS, format_text_lines, summary_lines

    if options.output_format is OutputFormat.text:
        unsafe = bool(options.unsafe_fixes)
        for line in format_text_lines(findings, unsafe_fixes=unsafe):
            typer.echo(line, err=err)
        for line in summary_lines(findings, unsafe_fixes=unsafe, verb=verb):
            typer.echo(line, err=err)
    else:
        text = FORMATTERS[options.output_format.value](findings, changed)
        if text:
            typer.echo(text, err=err)


def rule_name(code: str) -> str:
    """A rule's name, or the code itself for a user codemod (no registered rule)."""
    from asyncmend.codemods.registry import UnknownRuleError, rule_by_code

    try:
        return rule_by_code(code).name
    except UnknownRuleError:
        return code


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
    stdin_filename: StdinFilename = None,
    changed_since: ChangedSince = None,
    exit_zero: Annotated[
        bool, typer.Option("--exit-zero", help="Exit 0 even when there are findings.")
    ] = False,
) -> None:
    """List findings. Exit 1 when there are any."""
    options = _options(
        paths,
        select,
        ignore,
        unsafe_fixes,
        exclude,
        jobs,
        no_cache,
        config,
        output_format,
        stdin_filename,
        changed_since,
    )
    # SARIF carries the fixes, so compute them (nothing is written).
    with_fixes = options.output_format is OutputFormat.sarif
    report = _run(options, fix=with_fixes, fixes_optional=True)
    _print_findings(report.findings, options, changed=report.changed)
    _error_exit(report)
    if report.findings and not exit_zero:
        raise typer.Exit(1)


Output = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="Write the patch to this file (for `git apply`) instead of stdout."
    ),
]


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
    stdin_filename: StdinFilename = None,
    changed_since: ChangedSince = None,
    output: Output = None,
) -> None:
    """Print the unified diff `fix` would apply (nothing is written). Exit 1 when there is one."""
    options = _options(
        paths,
        select,
        ignore,
        unsafe_fixes,
        exclude,
        jobs,
        no_cache,
        config,
        OutputFormat.text,
        stdin_filename,
        changed_since,
    )
    _diff(options, output)


def _diff(options: Options, output: Path | None) -> None:
    report = _run(options, fix=True)
    patch = report.patch()
    if output is not None:
        if report.is_source(output):
            fail(f"{output}: is one of the checked source files; not overwritten with the patch")
        try:
            output.write_bytes(patch)
        except OSError as exc:
            fail(f"{output}: cannot write: {exc.strerror or exc}")
    elif sys.stdout.isatty():
        text = report.diff()
        for line in text.splitlines(keepends=True):
            typer.echo(_colour_diff_line(line), nl=False, color=True)
    else:
        # The bytes of each file's own encoding, so that `git apply` matches them.
        sys.stdout.flush()
        sys.stdout.buffer.write(patch)
        sys.stdout.buffer.flush()
    if patch:
        counts = report.applied_counts()
        summary = ", ".join(f"{code} x{n}" for code, n in sorted(counts.items()))
        where = f"; patch written to {output}" if output is not None else ""
        if _is_codemod_run(report):
            names = ", ".join(sorted(counts))
            message = f"Would change {len(report.changed)} file(s) with {names}{where}"
        else:
            message = (
                f"Would fix {sum(counts.values())} finding(s) in {len(report.changed)} file(s): "
                f"{summary}{where}"
            )
        typer.echo(message, err=True)
    _error_exit(report)
    if patch:
        raise typer.Exit(1)


def _is_codemod_run(report) -> bool:  # type: ignore[no-untyped-def]
    """A libcst codemod's run: changes counted per file under the codemod's name, no
    findings."""
    return bool(report.changed) and not any(r.findings for r in report.changed)


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


ExitNonZeroOnFix = Annotated[
    bool, typer.Option("--exit-non-zero-on-fix", help="Exit 1 when something was fixed, too.")
]


Interactive = Annotated[
    bool,
    typer.Option("--interactive", "-i", help="Ask hunk by hunk (y/n/a/d/q), as `git add -p` does."),
]


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
    stdin_filename: StdinFilename = None,
    changed_since: ChangedSince = None,
    exit_non_zero_on_fix: ExitNonZeroOnFix = False,
    interactive: Interactive = False,
) -> None:
    """Apply fixes in place (atomically), then list what remains."""
    options = _options(
        paths,
        select,
        ignore,
        unsafe_fixes,
        exclude,
        jobs,
        no_cache,
        config,
        output_format,
        stdin_filename,
        changed_since,
    )
    _fix(options, exit_non_zero_on_fix=exit_non_zero_on_fix, interactive=interactive)


def _fix(options: Options, *, exit_non_zero_on_fix: bool, interactive: bool) -> None:
    answers = None
    if interactive:
        if options.stdin_filename is not None:
            fail("--interactive and --stdin-filename cannot be combined")
        from asyncmend.cli.review import answers_from_stdin

        answers = answers_from_stdin()
        if answers is None:
            fail("fix -i needs a terminal, or answers (y/n/a/d/q, one per line) piped to stdin")
    report = _run(options, fix=True, verb="Fixing")
    if report.input_errors:
        raise typer.Exit(2)  # bad input: write nothing
    if options.stdin_filename is not None:
        _fix_stdin(report, options, exit_non_zero_on_fix)
        return
    if answers is not None:
        _fix_interactive(report, options, answers)
        return
    outcome = report.apply(on_wait=_say_waiting)
    for path in outcome.skipped:
        typer.echo(
            f"asyncmend: warning: {printable(path)}: changed on disk since it was read; not written",
            err=True,
        )
    for _path, message in outcome.refused:
        typer.echo(f"asyncmend: warning: {message}", err=True)
    for _path, message in outcome.failed:
        typer.echo(f"asyncmend: error: {message}", err=True)
    if outcome.interrupted:
        names = ", ".join(printable(p) for p in outcome.written) or "none"
        typer.echo(f"asyncmend: interrupted; files written before it: {names}", err=True)
        raise typer.Exit(130)
    counts: dict[str, int] = {}
    written = set(outcome.written)
    for result in report.changed:
        if result.path in written:
            for code, n in result.applied.items():
                counts[code] = counts.get(code, 0) + n
    remaining = report.remaining_after(outcome)
    if not (options.codemod and not report.findings):  # a libcst codemod reports no findings
        _print_findings(remaining, options)
    if counts and options.output_format is OutputFormat.text and _is_codemod_run(report):
        names = ", ".join(sorted(counts))
        typer.echo(f"Changed {len(written)} file(s) with {names}.", err=True)
    elif counts and options.output_format is OutputFormat.text:
        total = sum(counts.values())
        typer.echo(f"Fixed {total} finding(s) in {len(written)} file(s):", err=True)
        for code, n in sorted(counts.items()):
            label = f"{code} {rule_name(code)}" if rule_name(code) != code else code
            typer.echo(f"  {label}: {n}", err=True)
    _error_exit(report)
    if outcome.failed:
        raise typer.Exit(2)
    if remaining or (exit_non_zero_on_fix and counts):
        raise typer.Exit(1)


def _say_waiting() -> None:
    typer.echo("asyncmend: waiting for another `asyncmend fix` on this project to finish", err=True)


def _fix_stdin(report, options: Options, exit_non_zero_on_fix: bool) -> None:  # type: ignore[no-untyped-def]
    """Fixed source on stdout (the input unchanged when there is nothing to fix or the
    run failed), remaining findings on stderr."""
    result = report.results[0] if report.results else None
    if result is not None and result.fixed is not None:
        out = result.fixed
    else:
        out = options.stdin_data
    sys.stdout.flush()
    sys.stdout.buffer.write(out)
    sys.stdout.buffer.flush()
    _print_findings(report.remaining, options, err=True)
    _error_exit(report)
    if report.remaining or (exit_non_zero_on_fix and report.changed):
        raise typer.Exit(1)


def _fix_interactive(report, options: Options, answers) -> None:  # type: ignore[no-untyped-def]
    from asyncmend.cli.review import remaining_findings, review_changes

    outcome = review_changes(report.changed, answers, rule_name)
    typer.echo(
        f"Accepted {outcome.accepted} hunk(s), rejected {outcome.rejected}; "
        f"wrote {len(outcome.written)} file(s)."
    )
    left = remaining_findings(report, outcome)
    if left:
        _print_findings(left, options)
    _error_exit(report)
    if outcome.failed:
        raise typer.Exit(2)
    if left or outcome.rejected or outcome.broken or outcome.skipped:
        raise typer.Exit(1)


CodemodArgs = Annotated[
    list[str] | None,
    typer.Option(
        "--arg",
        metavar="KEY=VALUE",
        help="A keyword argument for the codemod's __init__ (repeatable).",
    ),
]


@app.command("run")
def run_codemod(
    codemod: Annotated[
        str,
        typer.Argument(
            help="package.module:Class or path/to/file.py:Class: an asyncmend rule or a libcst "
            "codemod (CodemodCommand, ContextAwareTransformer).",
            show_default=False,
        ),
    ],
    paths: Paths = None,
    show_diff: Annotated[
        bool, typer.Option("--diff", help="Print the diff; write nothing (the default).")
    ] = False,
    apply: Annotated[bool, typer.Option("--fix", help="Apply the changes in place.")] = False,
    args: CodemodArgs = None,
    unsafe_fixes: UnsafeFixes = False,
    exclude: Exclude = None,
    jobs: Jobs = None,
    no_cache: NoCache = False,
    config: ConfigPath = None,
    output_format: Format = OutputFormat.text,
    stdin_filename: StdinFilename = None,
    changed_since: ChangedSince = None,
    output: Output = None,
    exit_non_zero_on_fix: ExitNonZeroOnFix = False,
    interactive: Interactive = False,
) -> None:
    """Run a user codemod through the same pipeline (discovery, verification, atomic writes)."""
    if show_diff and apply:
        fail("--diff and --fix cannot be combined")
    options = _options(
        paths,
        None,
        None,
        unsafe_fixes,
        exclude,
        jobs,
        no_cache,
        config,
        output_format,
        stdin_filename,
        changed_since,
    )
    options.codemod = codemod
    for item in args or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--arg {item!r}: expected KEY=VALUE")
        options.codemod_args[key.strip()] = value
    if apply:
        if output is not None:
            fail("--output goes with --diff")
        _fix(options, exit_non_zero_on_fix=exit_non_zero_on_fix, interactive=interactive)
    else:
        if interactive:
            fail("--interactive goes with --fix")
        _diff(options, output)


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
