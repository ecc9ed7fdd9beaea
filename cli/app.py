"""``asyncmend``: check / diff / fix / run / rules / explain.

Exit codes follow ruff: ``check`` 1 when there are findings, ``diff`` 1 when there is a
diff, ``fix`` 1 when findings remain (``--exit-non-zero-on-fix``: also when it changed
something), 0 otherwise, 2 for usage or internal errors.

Adding an option: declare it once below as an ``Annotated`` alias, add a field of the
same name to ``Options``, and add ``name: Alias = default`` to the verbs that take it;
``Options.of(locals())`` picks it up, so no call site lists the options one by one.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from asyncmend.engine.results import printable

app = typer.Typer(
    name="asyncmend",
    help="Find and rewrite async anti-patterns in FastAPI + SQLAlchemy (asyncio) code.",
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    # Click's plain help: it wraps to the terminal and shows metavars, never Python types.
    rich_markup_mode=None,
)


class OutputFormat(str, Enum):
    full = "full"
    concise = "concise"
    json = "json"
    sarif = "sarif"
    github = "github"
    #: The name of ``concise`` before ``full`` existed (kept for compatibility).
    text = "text"


TEXT_FORMATS = (OutputFormat.full, OutputFormat.concise, OutputFormat.text)

#: How ``engine.verify.verify_output`` starts the error of a fix it refuses.
FIX_VERIFICATION_ERROR = "internal error: fix output for "


def fail(message: str) -> NoReturn:
    """One line on stderr, exit 2: the contract for every usage error."""
    typer.echo(f"asyncmend: error: {message}", err=True)
    raise typer.Exit(2)


def _version_callback(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"asyncmend {version('asyncmend')}")
        except PackageNotFoundError:
            typer.echo("asyncmend (not installed)")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool | None,
        typer.Option(
            "--version",
            "-V",
            callback=_version_callback,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = None,
) -> None:
    """Find and rewrite async anti-patterns in FastAPI + SQLAlchemy (asyncio) code."""


# -- the common options (one definition each; metavars keep Python types out of --help) --

Paths = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="PATHS",
        # Hidden from the Arguments list, which would show its Python type; the verbs'
        # docstrings describe PATHS.
        hidden=True,
        show_default=False,
    ),
]
Select = Annotated[
    list[str] | None,
    typer.Option(
        "--select",
        metavar="CODES",
        help="Rule codes or prefixes to run (AM1, AM203); comma-separated or repeated.",
    ),
]
Ignore = Annotated[
    list[str] | None,
    typer.Option("--ignore", metavar="CODES", help="Rule codes or prefixes to skip."),
]
UnsafeFixes = Annotated[
    bool | None,
    typer.Option(
        "--unsafe-fixes/--no-unsafe-fixes",
        metavar="",
        help="Also apply fixes that change behaviour on purpose (--no-unsafe-fixes: never, "
        "whatever the config says).",
        show_default=False,
    ),
]
Preview = Annotated[
    bool | None,
    typer.Option(
        "--preview/--no-preview",
        metavar="",
        help="Also run preview rules (new, or not yet at the precision bar on real code).",
        show_default=False,
    ),
]
Exclude = Annotated[
    list[str] | None,
    typer.Option("--exclude", metavar="PATTERN", help="Gitignore-style patterns of paths to skip."),
]
Jobs = Annotated[
    int | None,
    typer.Option("--jobs", "-j", metavar="N", min=1, help="Processes to use (default: CPUs)."),
]
NoCache = Annotated[
    bool,
    typer.Option("--no-cache", metavar="", help="Do not read or write the result cache."),
]
ConfigPath = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="A pyproject.toml (or TOML file) to read settings from.",
    ),
]
Format = Annotated[
    OutputFormat,
    typer.Option(
        "--output-format",
        "--format",
        metavar="full|concise|json|sarif|github",
        help="Output format (`--format` is the old name; `text` is `concise`).",
    ),
]
StdinFilename = Annotated[
    Path | None,
    typer.Option(
        "--stdin-filename",
        metavar="PATH",
        help="Read the source from stdin, as if it were this file (for config and messages); "
        "write the result to stdout.",
    ),
]
ForceExclude = Annotated[
    bool,
    typer.Option(
        "--force-exclude",
        help="Apply the excludes to files named on the command line too (for pre-commit).",
    ),
]
AddNoqa = Annotated[
    bool,
    typer.Option(
        "--add-noqa",
        help="Write a `# noqa: CODE` on the line of every current finding (to adopt "
        "the tool on legacy code now and fix later).",
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
Color = Annotated[
    bool | None,
    typer.Option(
        "--color/--no-color",
        metavar="",
        help="Colour the output (default: on a terminal, unless NO_COLOR is set).",
        show_default=False,
    ),
]
Quiet = Annotated[
    bool,
    typer.Option("--quiet", "-q", metavar="", help="Print findings or diffs, nothing else."),
]
Silent = Annotated[
    bool,
    typer.Option(
        "--silent", "-s", metavar="", help="Print nothing but errors (the exit code still tells)."
    ),
]
OutputFile = Annotated[
    Path | None,
    typer.Option(
        "--output-file", metavar="FILE", help="Write the findings to this file, not stdout."
    ),
]
Statistics = Annotated[
    bool,
    typer.Option("--statistics", metavar="", help="Print a count per rule, not each finding."),
]
ExitZero = Annotated[
    bool,
    typer.Option("--exit-zero", metavar="", help="Exit 0 even when there are findings."),
]
FixOnly = Annotated[
    bool,
    typer.Option(
        "--fix-only",
        metavar="",
        help="Apply fixes, report nothing that remains, exit 0 (unless --exit-non-zero-on-fix).",
    ),
]
ShowFixes = Annotated[
    bool,
    typer.Option("--show-fixes", metavar="", help="List what was fixed, per file and rule."),
]
ExitNonZeroOnFix = Annotated[
    bool,
    typer.Option(
        "--exit-non-zero-on-fix", metavar="", help="Exit 1 when something was fixed, too."
    ),
]
Interactive = Annotated[
    bool,
    typer.Option(
        "--interactive",
        "-i",
        metavar="",
        help="Ask hunk by hunk (y/n/a/d/q), as `git add -p` does.",
    ),
]
Output = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        metavar="FILE",
        help="Write the patch to this file (for `git apply`) instead of stdout.",
    ),
]
Baseline = Annotated[
    Path | None,
    typer.Option(
        "--baseline",
        metavar="FILE",
        help="Report only findings not in this baseline (config: `baseline`).",
    ),
]
WriteBaseline = Annotated[
    Path | None,
    typer.Option(
        "--write-baseline",
        metavar="FILE",
        help="Write every current finding to this baseline file, exit 0.",
    ),
]
Watch = Annotated[
    bool,
    typer.Option("--watch", "-w", metavar="", help="Check again whenever a file changes."),
]
IncludeGenerated = Annotated[
    bool,
    typer.Option(
        "--include-generated",
        metavar="",
        help="Also change `@generated` files and `.pyi` stubs (skipped by default).",
    ),
]
CodemodArgs = Annotated[
    list[str] | None,
    typer.Option(
        "--arg",
        metavar="KEY=VALUE",
        help="A keyword argument for the codemod's __init__ (repeatable).",
    ),
]


@dataclass
class Options:
    """Every option of every verb, by its parameter name (``Options.of(locals())``)."""

    paths: list[str] | None = None
    select: list[str] | None = None
    ignore: list[str] | None = None
    #: None: as the config says; True/False: ``--unsafe-fixes`` / ``--no-unsafe-fixes``.
    unsafe_fixes: bool | None = None
    #: None: as the config says; True/False: ``--preview`` / ``--no-preview``.
    preview: bool | None = None
    exclude: list[str] | None = None
    jobs: int | None = None
    no_cache: bool = False
    config: Path | None = None
    output_format: OutputFormat = OutputFormat.concise
    stdin_filename: Path | None = None
    changed_since: str | None = None
    color: bool | None = None
    quiet: bool = False
    silent: bool = False
    output_file: Path | None = None
    statistics: bool = False
    exit_zero: bool = False
    fix_only: bool = False
    show_fixes: bool = False
    exit_non_zero_on_fix: bool = False
    interactive: bool = False
    output: Path | None = None
    baseline: Path | None = None
    write_baseline: Path | None = None
    watch: bool = False
    include_generated: bool = False
    #: ``asyncmend run``: the user codemod and its ``--arg key=value`` pairs.
    codemod: str | None = None
    codemod_args: dict[str, str] = field(default_factory=dict)
    #: The source read from stdin (``--stdin-filename`` or ``-``).
    stdin_data: bytes = b""
    #: The config of the first path, once ``_project_config`` has read it.
    project_config: Any = None
    #: Apply ``exclude`` to files named on the command line too (``--force-exclude``).
    force_exclude: bool = False
    #: ``check --add-noqa``.
    add_noqa: bool = False

    @classmethod
    def of(cls, params: dict[str, Any]) -> Options:
        names = {f.name for f in fields(cls)}
        if params.get("select") is not None and not _split(params["select"]):
            fail("--select: no rule code given (an empty selection would check nothing)")
        options = cls(**{k: v for k, v in params.items() if k in names and k != "codemod_args"})
        options.select = _split(options.select)
        options.ignore = _split(options.ignore)
        options.exclude = _split(options.exclude) or []
        if options.paths == ["-"]:  # ruff's spelling of "read stdin"
            options.paths = None
            options.stdin_filename = options.stdin_filename or Path("-")
        if options.color is None and os.environ.get("NO_COLOR"):
            options.color = False  # https://no-color.org
        if options.silent:
            options.quiet = True
        return options

    @property
    def explicit_paths(self) -> bool:
        return bool(self.paths)

    @property
    def targets(self) -> list[Path]:
        return [Path(p) for p in self.paths or ["."]]


def _split(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


#: Terminal styles, stripped from what goes to ``--output-file``.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Printer:
    """Where output goes: stdout (or ``--output-file``) for findings, stderr for the
    rest; ``--quiet`` drops summaries, ``--silent`` everything but errors."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.buffer: list[str] | None = [] if options.output_file is not None else None

    def out(self, line: str, *, err: bool = False) -> None:
        """A finding, a diff line: the output proper."""
        if self.options.silent:
            return
        if self.buffer is not None:
            self.buffer.append(_ANSI.sub("", line))
            return
        typer.echo(line, err=err, color=self.options.color)

    def note(self, line: str) -> None:
        """A summary or notice on stderr (hidden by ``--quiet``)."""
        if not self.options.quiet:
            typer.echo(line, err=True, color=self.options.color)

    def summary(self, line: str, *, err: bool = False) -> None:
        """A closing line of the findings output (``Found 3 errors.``)."""
        if not self.options.quiet:
            self.out(line, err=err)

    def close(self) -> None:
        if self.buffer is None or self.options.output_file is None:
            return
        text = "".join(f"{line}\n" for line in self.buffer)
        try:
            self.options.output_file.write_text(text, encoding="utf-8")
        except OSError as exc:
            fail(f"{self.options.output_file}: cannot write: {exc.strerror or exc}")


def _run(  # type: ignore[no-untyped-def]
    options: Options,
    printer: Printer,
    *,
    fix: bool,
    verb: str = "Checking",
    fixes_optional: bool = False,
):
    """Run the engine, turning bad input into the one-line exit-2 contract.

    ``fixes_optional``: fixes are computed only to describe them (``check --format
    sarif``), so a fix that fails verification drops that fix, not the run.
    """
    from asyncmend.cli.progress import progress_callbacks
    from asyncmend.engine import (
        CodemodError,
        ConfigError,
        DiscoveryError,
        UnknownRuleError,
        run,
        run_source,
    )

    if options.config is not None and not options.config.is_file():
        fail(f"{options.config}: config file not found")
    common = dict(
        select=options.select,
        ignore=options.ignore,
        fix=fix,
        unsafe_fixes=options.unsafe_fixes,
        preview=options.preview,
        config_path=options.config,
        codemod=options.codemod,
        codemod_args=options.codemod_args,
    )
    try:
        if options.stdin_filename is not None:
            if options.explicit_paths:
                fail("--stdin-filename reads stdin: give no paths (or `-`)")
            if options.changed_since is not None:
                fail("--stdin-filename and --changed-since cannot be combined")
            options.stdin_data = sys.stdin.buffer.read()
            report = run_source(options.stdin_data, options.stdin_filename, **common)
        else:
            extra: dict[str, Any] = {}
            if options.codemod is not None and not options.include_generated:
                extra["skip_generated"] = True
            with progress_callbacks(verb, enabled=not options.quiet) as (on_start, on_result):
                report = run(
                    [str(p) for p in options.targets],
                    exclude=options.exclude or [],
                    jobs=options.jobs,
                    changed_since=options.changed_since,
                    force_exclude=options.force_exclude or None,
                    use_cache=not options.no_cache,
                    on_start=on_start,
                    on_result=on_result,
                    **common,
                    **extra,
                )
    except (ConfigError, DiscoveryError, UnknownRuleError, CodemodError) as exc:
        fail(str(exc))
    if fixes_optional:
        report.internal_errors = [
            m for m in report.internal_errors if not m.startswith(FIX_VERIFICATION_ERROR)
        ]
    if not options.silent:
        for result in report.results:
            for warning in result.warnings:
                typer.echo(f"asyncmend: warning: {printable(result.path)}: {warning}", err=True)
        for message in report.warnings:
            typer.echo(f"asyncmend: warning: {message}", err=True)
    for message in report.input_errors:
        typer.echo(f"asyncmend: error: {message}", err=True)
    for message in report.internal_errors:
        typer.echo(f"asyncmend: {message.rstrip()}", err=True)
    skipped = getattr(report, "skipped_generated", 0)
    if skipped:
        printer.note(
            f"Skipped {skipped} generated file(s) and stub(s) "
            "(`@generated`, `.pyi`; --include-generated to change them)."
        )
    return report


def _read_lines(options: Options) -> Callable[[str], list[str]]:
    """Source lines of a finding's file (the stdin source for ``--stdin-filename``)."""
    from asyncmend.cli.output import read_source_lines as from_disk

    if options.stdin_filename is None:
        return from_disk
    text = options.stdin_data.decode("utf-8", "replace").splitlines()
    return lambda path: text if path == str(options.stdin_filename) else from_disk(path)


def _print_findings(  # type: ignore[no-untyped-def]
    findings: Sequence[Any],
    options: Options,
    printer: Printer,
    *,
    verb: str = "fix",
    changed=(),
    err: bool = False,
    notes: Sequence[str] = (),
) -> None:
    from asyncmend.cli import output

    unsafe = options.unsafe_fixes
    if unsafe is None:  # as the config says (the `[*]` marks and the hidden-fix count)
        unsafe = bool(getattr(_project_config(options), "unsafe_fixes", False))
    if options.statistics:
        if options.output_format in TEXT_FORMATS:
            for line in output.statistics_lines(findings, unsafe_fixes=unsafe):
                printer.out(line, err=err)
        else:
            printer.out(output.statistics_json(findings, unsafe_fixes=unsafe), err=err)
    elif options.output_format is OutputFormat.full:
        lines = output.format_full_lines(
            findings, unsafe_fixes=unsafe, read_lines=_read_lines(options)
        )
        for line in lines:
            printer.out(line, err=err)
    elif options.output_format in TEXT_FORMATS:
        for line in output.format_text_lines(findings, unsafe_fixes=unsafe):
            printer.out(line, err=err)
    else:
        text = output.FORMATTERS[options.output_format.value](findings, changed)
        if text:
            printer.out(text, err=err)
    if options.output_format in TEXT_FORMATS:
        for line in [*notes, *output.summary_lines(findings, unsafe_fixes=unsafe, verb=verb)]:
            printer.summary(line, err=err)


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


def _finish(printer: Printer, code: int) -> NoReturn:
    printer.close()
    raise typer.Exit(code)


@app.command()
def check(
    paths: Paths = None,
    select: Select = None,
    ignore: Ignore = None,
    unsafe_fixes: UnsafeFixes = None,
    preview: Preview = None,
    exclude: Exclude = None,
    jobs: Jobs = None,
    no_cache: NoCache = False,
    config: ConfigPath = None,
    output_format: Format = OutputFormat.concise,
    stdin_filename: StdinFilename = None,
    changed_since: ChangedSince = None,
    color: Color = None,
    quiet: Quiet = False,
    silent: Silent = False,
    output_file: OutputFile = None,
    statistics: Statistics = False,
    exit_zero: ExitZero = False,
    fix_only: FixOnly = False,
    show_fixes: ShowFixes = False,
    exit_non_zero_on_fix: ExitNonZeroOnFix = False,
    baseline: Baseline = None,
    write_baseline: WriteBaseline = None,
    watch: Watch = False,
    force_exclude: ForceExclude = False,
    add_noqa: AddNoqa = False,
) -> None:
    """List findings. Exit 1 when there are any.

    PATHS: files or folders (default: .); `-` reads stdin.
    """
    options = Options.of(locals())
    if options.add_noqa:
        _add_noqa(options)
    if options.fix_only:
        _fix(options)
    if options.watch:
        from asyncmend.cli.watch import watch_loop

        if options.stdin_filename is not None:
            fail("--watch and --stdin-filename cannot be combined")
        watch_loop(options.targets, lambda: _check(options), color=options.color)
    _check(options)


def _check(options: Options) -> None:
    printer = Printer(options)
    # SARIF carries the fixes, so compute them (nothing is written).
    with_fixes = options.output_format is OutputFormat.sarif
    report = _run(options, printer, fix=with_fixes, fixes_optional=True)
    findings = report.findings
    if options.write_baseline is not None:
        _write_baseline(options, printer, findings)
        _error_exit(report)
        _finish(printer, 0)
    notes: list[str] = []
    baseline_path = _baseline_path(options)
    if baseline_path is not None:
        findings, notes = _apply_baseline(options, printer, baseline_path, findings)
    _print_findings(findings, options, printer, changed=report.changed, notes=notes)
    printer.close()
    _error_exit(report)
    if findings and not options.exit_zero:
        raise typer.Exit(1)
    raise typer.Exit(0)


def _project_config(options: Options) -> Any:
    """The config of the run's first path (``--config``, else the nearest one), read once,
    for what the CLI itself decides: the baseline, the fix marks."""
    if options.project_config is None:
        from asyncmend.engine.config import ConfigError, load_config

        start = options.stdin_filename or options.targets[0]
        try:
            options.project_config = load_config(options.config, start=Path(os.path.abspath(start)))
        except ConfigError as exc:
            fail(str(exc))
    return options.project_config


def _baseline_path(options: Options) -> Path | None:
    """``--baseline``, else the config's ``baseline`` (relative to its file)."""
    if options.baseline is not None:
        return options.baseline
    config = _project_config(options)
    value = getattr(config, "baseline", None)
    if not value:
        return None
    return config.root / value


def _write_baseline(options: Options, printer: Printer, findings: Sequence[Any]) -> None:
    from asyncmend.engine.baseline import BaselineError, write

    assert options.write_baseline is not None
    try:
        count = write(options.write_baseline, findings, read_lines=_read_lines(options))
    except BaselineError as exc:
        fail(str(exc))
    printer.note(f"Wrote {count} finding(s) to the baseline {options.write_baseline}.")


def _apply_baseline(
    options: Options, printer: Printer, path: Path, findings: Sequence[Any]
) -> tuple[list[Any], list[str]]:
    from asyncmend.cli.output import display_path
    from asyncmend.engine.baseline import BaselineError, apply

    scope = (
        [Path(os.path.abspath(options.stdin_filename))]
        if options.stdin_filename is not None
        else [Path(os.path.abspath(p)) for p in options.targets]
    )
    folder = Path(os.path.abspath(path.parent))

    def checked(file: str) -> bool:
        target = folder / file
        return any(target == s or s in target.parents for s in scope)

    try:
        outcome = apply(path, findings, checked=checked, read_lines=_read_lines(options))
    except BaselineError as exc:
        fail(str(exc))
    notes = []
    if outcome.baselined:
        notes.append(f"{outcome.baselined} finding(s) in the baseline {display_path(str(path))}.")
    if outcome.stale:
        printer.note(
            f"asyncmend: {len(outcome.stale)} baselined finding(s) no longer occur; "
            f"shrink the baseline with --write-baseline {display_path(str(path))}:"
        )
        for entry in outcome.stale:
            printer.note(f"  {entry.key.file}: {entry.key.code} {entry.snippet}")
    return outcome.new, notes


def _add_noqa(options: Options) -> NoReturn:
    from asyncmend.engine.add_noqa import add_noqa

    if options.stdin_filename is not None:
        fail("--add-noqa writes files: it cannot read stdin")
    printer = Printer(options)
    report = _run(options, printer, fix=False)
    if report.input_errors:
        raise typer.Exit(2)  # bad input: write nothing
    outcome = add_noqa(report.results)
    for message in outcome.problems:
        typer.echo(f"asyncmend: warning: {message}", err=True)
    printer.note(f"Added {outcome.added} noqa directive(s) to {len(outcome.written)} file(s).")
    _error_exit(report)
    raise typer.Exit(0)


@app.command()
def diff(
    paths: Paths = None,
    select: Select = None,
    ignore: Ignore = None,
    unsafe_fixes: UnsafeFixes = None,
    preview: Preview = None,
    exclude: Exclude = None,
    jobs: Jobs = None,
    no_cache: NoCache = False,
    config: ConfigPath = None,
    stdin_filename: StdinFilename = None,
    changed_since: ChangedSince = None,
    force_exclude: ForceExclude = False,
    output: Output = None,
    color: Color = None,
    quiet: Quiet = False,
    silent: Silent = False,
) -> None:
    """Print the unified diff `fix` would apply (nothing is written). Exit 1 when there is one.

    PATHS: files or folders (default: .); `-` reads stdin.
    """
    _diff(Options.of(locals()))


def _diff(options: Options) -> None:
    printer = Printer(options)
    report = _run(options, printer, fix=True)
    patch = report.patch()
    output = options.output
    if output is not None:
        if report.is_source(output):
            fail(f"{output}: is one of the checked source files; not overwritten with the patch")
        try:
            output.write_bytes(patch)
        except OSError as exc:
            fail(f"{output}: cannot write: {exc.strerror or exc}")
    elif options.silent:
        pass
    elif sys.stdout.isatty():
        text = report.diff()
        for line in text.splitlines(keepends=True):
            typer.echo(_colour_diff_line(line), nl=False, color=options.color)
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
        printer.note(message)
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


@app.command()
def fix(
    paths: Paths = None,
    select: Select = None,
    ignore: Ignore = None,
    unsafe_fixes: UnsafeFixes = None,
    preview: Preview = None,
    exclude: Exclude = None,
    jobs: Jobs = None,
    no_cache: NoCache = False,
    config: ConfigPath = None,
    output_format: Format = OutputFormat.concise,
    stdin_filename: StdinFilename = None,
    changed_since: ChangedSince = None,
    color: Color = None,
    quiet: Quiet = False,
    silent: Silent = False,
    output_file: OutputFile = None,
    statistics: Statistics = False,
    exit_zero: ExitZero = False,
    fix_only: FixOnly = False,
    show_fixes: ShowFixes = False,
    exit_non_zero_on_fix: ExitNonZeroOnFix = False,
    force_exclude: ForceExclude = False,
    interactive: Interactive = False,
) -> None:
    """Apply fixes in place (atomically), then list what remains.

    PATHS: files or folders (default: .); `-` reads stdin.
    """
    _fix(Options.of(locals()))


def _fix(options: Options) -> NoReturn:
    printer = Printer(options)
    answers = None
    if options.interactive:
        if options.stdin_filename is not None:
            fail("--interactive and --stdin-filename cannot be combined")
        from asyncmend.cli.review import answers_from_stdin

        answers = answers_from_stdin()
        if answers is None:
            fail("fix -i needs a terminal, or answers (y/n/a/d/q, one per line) piped to stdin")
    report = _run(options, printer, fix=True, verb="Fixing")
    if report.input_errors:
        raise typer.Exit(2)  # bad input: write nothing
    if options.stdin_filename is not None:
        _fix_stdin(report, options, printer)
    if answers is not None:
        _fix_interactive(report, options, printer, answers)
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
    written = set(outcome.written)
    applied = [r for r in report.changed if r.path in written]
    counts: dict[str, int] = {}
    for result in applied:
        for code, n in result.applied.items():
            counts[code] = counts.get(code, 0) + n
    remaining = report.remaining_after(outcome)
    codemod_run = bool(options.codemod) and not report.findings  # a libcst codemod
    if not options.fix_only and not codemod_run:
        _print_findings(remaining, options, printer)
    if options.show_fixes and not codemod_run:
        from asyncmend.cli.output import show_fixes_lines

        for line in show_fixes_lines(applied, rule_name):
            printer.note(line)
    elif counts and options.output_format in TEXT_FORMATS and _is_codemod_run(report):
        names = ", ".join(sorted(counts))
        printer.note(f"Changed {len(written)} file(s) with {names}.")
    elif counts and options.output_format in TEXT_FORMATS:
        total = sum(counts.values())
        printer.note(f"Fixed {total} finding(s) in {len(written)} file(s):")
        for code, n in sorted(counts.items()):
            label = f"{code} {rule_name(code)}" if rule_name(code) != code else code
            printer.note(f"  {label}: {n}")
    printer.close()
    _error_exit(report)
    if outcome.failed:
        raise typer.Exit(2)
    _fix_exit(options, bool(remaining), bool(counts))


def _fix_exit(options: Options, remaining: bool, fixed: bool) -> NoReturn:
    if options.exit_non_zero_on_fix and fixed:
        raise typer.Exit(1)
    if remaining and not (options.fix_only or options.exit_zero):
        raise typer.Exit(1)
    raise typer.Exit(0)


def _say_waiting() -> None:
    typer.echo("asyncmend: waiting for another `asyncmend fix` on this project to finish", err=True)


def _fix_stdin(report, options: Options, printer: Printer) -> NoReturn:  # type: ignore[no-untyped-def]
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
    if not options.fix_only:
        _print_findings(report.remaining, options, printer, err=True)
    printer.close()
    _error_exit(report)
    _fix_exit(options, bool(report.remaining), bool(report.changed))


def _fix_interactive(report, options: Options, printer: Printer, answers) -> NoReturn:  # type: ignore[no-untyped-def]
    from asyncmend.cli.review import remaining_findings, review_changes

    outcome = review_changes(report.changed, answers, rule_name)
    printer.out(
        f"Accepted {outcome.accepted} hunk(s), rejected {outcome.rejected}; "
        f"wrote {len(outcome.written)} file(s)."
    )
    left = remaining_findings(report, outcome)
    if left:
        _print_findings(sorted(left, key=lambda f: (f.path, f.line, f.column)), options, printer)
    printer.close()
    _error_exit(report)
    if outcome.failed:
        raise typer.Exit(2)
    if left or outcome.rejected or outcome.broken or outcome.skipped:
        raise typer.Exit(1)
    raise typer.Exit(0)


@app.command("run")
def run_codemod(
    codemod: Annotated[
        str,
        typer.Argument(
            metavar="CODEMOD",
            hidden=True,
            show_default=False,
        ),
    ],
    paths: Paths = None,
    show_diff: Annotated[
        bool,
        typer.Option("--diff", metavar="", help="Print the diff; write nothing (the default)."),
    ] = False,
    apply: Annotated[
        bool, typer.Option("--fix", metavar="", help="Apply the changes in place.")
    ] = False,
    args: CodemodArgs = None,
    unsafe_fixes: UnsafeFixes = None,
    exclude: Exclude = None,
    jobs: Jobs = None,
    no_cache: NoCache = False,
    config: ConfigPath = None,
    output_format: Format = OutputFormat.concise,
    stdin_filename: StdinFilename = None,
    changed_since: ChangedSince = None,
    force_exclude: ForceExclude = False,
    output: Output = None,
    exit_non_zero_on_fix: ExitNonZeroOnFix = False,
    interactive: Interactive = False,
    include_generated: IncludeGenerated = False,
    color: Color = None,
    quiet: Quiet = False,
    silent: Silent = False,
) -> None:
    """Run a user codemod through the same pipeline (discovery, verification, atomic writes).

    CODEMOD: package.module:Class or path/to/file.py:Class, an asyncmend rule or a libcst
    codemod (CodemodCommand, ContextAwareTransformer). PATHS: files or folders (default: .).
    """
    if show_diff and apply:
        fail("--diff and --fix cannot be combined")
    options = Options.of(locals())
    for item in args or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--arg {item!r}: expected KEY=VALUE")
        options.codemod_args[key.strip()] = value
    if apply:
        if output is not None:
            fail("--output goes with --diff")
        _fix(options)
    else:
        if interactive:
            fail("--interactive goes with --fix")
        _diff(options)


@app.command()
def rules(
    output_format: Annotated[
        OutputFormat,
        typer.Option("--output-format", "--format", metavar="text|json", help="Output format."),
    ] = OutputFormat.text,
    write_docs: Annotated[
        Path | None,
        typer.Option(
            "--write-docs",
            metavar="FOLDER",
            help="Write the rule reference pages (docs/rules) and exit.",
        ),
    ] = None,
) -> None:
    """List every rule: code, fix, name, status, summary."""
    from asyncmend.cli.rule_docs import rule_status
    from asyncmend.cli.rule_docs import write_docs as write_pages
    from asyncmend.codemods.registry import all_rules

    known = all_rules()
    if write_docs is not None:
        changed = write_pages(write_docs, known)
        typer.echo(f"{len(changed)} page(s) written or removed in {write_docs}.", err=True)
        return
    if output_format is OutputFormat.json:
        import json

        from asyncmend.cli.rule_docs import rule_url

        data = [
            {
                "code": r.code,
                "name": r.name,
                "fix": r.fix_applicability.value,
                "status": rule_status(r),
                "summary": r.summary(),
                "url": rule_url(r.code),
            }
            for r in known
        ]
        typer.echo(json.dumps(data, indent=2))
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    no_color = bool(os.environ.get("NO_COLOR"))
    console = Console(no_color=no_color, highlight=False, soft_wrap=False)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    table.add_column("code", no_wrap=True, style="bold")
    table.add_column("fix", no_wrap=True)
    table.add_column("name", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("summary", overflow="fold", ratio=1)
    for rule in known:
        fixmark = {"safe": "[*]", "unsafe": "[~]"}.get(rule.fix_applicability.value, "")
        table.add_row(rule.code, Text(fixmark), rule.name, rule_status(rule), Text(rule.summary()))
    console.print(table)
    console.print("[*] safe fix   [~] unsafe fix (needs --unsafe-fixes)", markup=False)


@app.command()
def explain(
    code: Annotated[str, typer.Argument(metavar="CODE", hidden=True)],
) -> None:
    """Print a rule's documentation: what it does, why it is bad, example, fix.

    CODE: a rule code, e.g. AM101.
    """
    from asyncmend.codemods.registry import UnknownRuleError, rule_by_code

    try:
        rule = rule_by_code(code)
    except UnknownRuleError as exc:
        fail(str(exc))
    typer.echo(explain_text(rule))


def explain_text(rule) -> str:  # type: ignore[no-untyped-def]
    """``asyncmend explain``'s text (also the language server's hover)."""
    from asyncmend.cli.rule_docs import rule_status, rule_url

    fixes = {"safe": "a safe fix", "unsafe": "an unsafe fix (--unsafe-fixes)", "none": "no fix"}
    fix = fixes[rule.fix_applicability.value]
    lines = [f"# {rule.name} ({rule.code})", "", f"Fix: {fix}. Status: {rule_status(rule)}."]
    url = rule_url(rule.code)
    if url:
        lines.append(f"Reference: {url}")
    return "\n".join([*lines, "", rule.doc()])


@app.command()
def server() -> None:
    """Run the language server (LSP over stdin/stdout) for editors; see docs/editors.md."""
    from asyncmend.cli.server import serve

    serve()


from asyncmend.cli.locks import locks_command  # noqa: E402

app.command("locks")(locks_command)


def main() -> None:
    """Entry point. Click's own usage errors (unknown option, bad value) get the same
    one-line ``asyncmend: error: ...`` form and exit 2 as ours."""
    # A file name with bytes that are not UTF-8 reaches us surrogate-escaped; print it
    # escaped (\udcff) rather than crash on it, whatever the stream's encoding.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
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
