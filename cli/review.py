"""``asyncmend fix -i``: review the fixes hunk by hunk, as ``git add -p`` does.

Each hunk is shown with the findings it fixes (code, name, message), then
``[y]es / [n]o / [a]ll in this file / [d]one with this file / [q]uit``. A file is
rebuilt from its original lines plus the accepted hunks, checked (it must parse, and
compile where the original compiled), and written atomically; rejected hunks leave
their lines as they were. Answers come from the terminal, or one per line from a pipe.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

import typer

from asyncmend.cli.output import display_path
from asyncmend.engine.diff import split_lines, text_codec
from asyncmend.engine.hunks import Hunk, apply_hunks, compute_hunks, hunk_findings, render_hunk
from asyncmend.engine.results import FileResult, Finding, printable
from asyncmend.engine.verify import verify_output

if TYPE_CHECKING:
    from asyncmend.engine.api import Report
from asyncmend.engine.writer import ChangedOnDiskError, WriteSkipped, write_atomic

#: Styles on a terminal unless NO_COLOR is set (https://no-color.org); never in pipes.
COLOR: bool | None = False if os.environ.get("NO_COLOR") else None

HELP = """y - apply this hunk
n - do not apply this hunk
a - apply this hunk and all later hunks in the file
d - do not apply this hunk or any later hunk in the file
q - quit; do not apply this hunk or any other remaining one
? - print help"""


@dataclass
class ReviewOutcome:
    accepted: int = 0
    rejected: int = 0
    written: list[str] = field(default_factory=list)
    #: Files whose accepted hunks do not parse (or compile) together: not written.
    broken: list[str] = field(default_factory=list)
    #: Files changed on disk since they were read: not written.
    skipped: list[str] = field(default_factory=list)
    #: Files written with every hunk of their fix (their remaining findings are the
    #: engine's; the others are checked again as written).
    fully_written: list[str] = field(default_factory=list)
    #: Files whose write failed (an error: exit 2).
    failed: list[str] = field(default_factory=list)
    #: Findings of the rejected hunks: they remain in the files.
    unfixed: list[Finding] = field(default_factory=list)
    #: The user quit: later hunks were not asked about.
    quit: bool = False


class Answers:
    """Where answers come from: a terminal (prompting) or lines piped to stdin, read one
    at a time as they are needed (``yes y | asyncmend fix -i`` must not read forever).
    The end of input means "no" for every remaining hunk."""

    def __init__(self, stream: TextIO, interactive: bool) -> None:
        self.stream = stream
        self.interactive = interactive
        self._ahead: str | None = None
        if not interactive:
            self._ahead = self._next_piped()

    def _next_piped(self) -> str | None:
        """The next non-empty piped line, or None at the end of input."""
        while True:
            line = self.stream.readline()
            if not line:
                return None
            if line.strip():
                return line.strip()

    @property
    def available(self) -> bool:
        return self.interactive or self._ahead is not None

    def ask(self, prompt: str) -> str | None:
        """The next answer's first letter, lowercased; None when answers ran out."""
        while True:
            _echo(prompt, nl=False)
            if self.interactive:
                line = self.stream.readline()
                if not line:
                    _echo()
                    return None
                answer = line.strip().lower()
            else:
                if self._ahead is None:
                    _echo()
                    return None
                answer, self._ahead = self._ahead.lower(), None
                self._ahead = self._next_piped()
                _echo(answer)
            if answer[:1] in ("y", "n", "a", "d", "q"):
                return answer[:1]
            _echo(typer.style(HELP, fg="red", bold=True) if answer != "?" else HELP)


@dataclass
class _FileReview:
    result: FileResult
    before: list[str]
    after: list[str]
    hunks: list[Hunk]
    labels: list[list[Finding]]


def _prepare(result: FileResult) -> _FileReview:
    assert result.original is not None and result.fixed is not None
    before = split_lines(result.original.decode(text_codec(result.encoding)))
    after = split_lines(result.fixed.decode(text_codec(result.encoding)))
    hunks = compute_hunks(before, after)
    fixed = [f for f in result.findings if f.code in result.applied]
    return _FileReview(result, before, after, hunks, [hunk_findings(h, fixed) for h in hunks])


def _echo(text: str = "", *, nl: bool = True, err: bool = False) -> None:
    typer.echo(text, nl=nl, err=err, color=COLOR)


def _colour(line: str) -> str:
    if line.startswith("@@"):
        return typer.style(line, fg="cyan")
    if line.startswith("+"):
        return typer.style(line, fg="green")
    if line.startswith("-"):
        return typer.style(line, fg="red")
    return line


def _show(review: _FileReview, number: int, name_of: Callable[[str], str]) -> None:
    result = review.result
    findings = review.labels[number]
    if findings:
        for f in findings:
            code = typer.style(f.code, fg="red", bold=True)
            _echo(f"{code} {f.name}: {f.message}")
    else:
        # A hunk no finding points at: a change the fixes need elsewhere (an import).
        codes = ", ".join(f"{code} {name_of(code)}" for code in sorted(result.applied))
        _echo(typer.style(f"(needed by the fixes in this file: {codes})", dim=True))
    text = render_hunk(review.hunks[number], review.before, review.after)
    for line in text.splitlines(keepends=True):
        _echo(_colour(line.rstrip("\n").rstrip("\r")))


def review_changes(
    changed: Sequence[FileResult], answers: Answers, name_of: Callable[[str], str]
) -> ReviewOutcome:
    """Ask about every hunk of every changed file; write what was accepted. Ctrl-C
    stops the review and says which files were already written (exit 130)."""
    outcome = ReviewOutcome()
    try:
        _review(changed, answers, name_of, outcome)
    except KeyboardInterrupt:
        names = ", ".join(printable(display_path(p)) for p in outcome.written) or "none"
        _echo(f"\nasyncmend: interrupted; files written before it: {names}", err=True)
        raise typer.Exit(130) from None
    return outcome


def remaining_findings(report: Report, outcome: ReviewOutcome) -> list[Finding]:
    """The findings left in the files as they are now: the engine's for files written
    with their whole fix (and files without one), the files' own for the others
    (partly accepted, rejected, not written), checked again as they are on disk."""
    done = set(outcome.fully_written)
    left: list[Finding] = []
    again: list[str] = []
    for result in report.results:
        if result.changed and result.path not in done:
            again.append(result.path)
        else:
            left.extend(result.remaining)
    left.extend(report.findings_on_disk(again))
    return sorted(left, key=lambda f: (f.path, f.line, f.column, f.code))


def _review(
    changed: Sequence[FileResult],
    answers: Answers,
    name_of: Callable[[str], str],
    outcome: ReviewOutcome,
) -> None:
    for result in changed:
        review = _prepare(result)
        path = printable(display_path(result.path))
        if not outcome.quit:
            _echo(typer.style(f"--- {path}", bold=True))
        accepted: list[Hunk] = []
        mode: str | None = None  # "a" or "d" once chosen for the rest of the file
        for number, hunk in enumerate(review.hunks):
            if outcome.quit:
                outcome.rejected += 1
                outcome.unfixed.extend(f for f in review.labels[number] if f not in outcome.unfixed)
                continue
            if mode is None:
                _show(review, number, name_of)
                prompt = (
                    f"({number + 1}/{len(review.hunks)}) Apply this hunk to {path} [y,n,a,d,q,?]? "
                )
                answer = answers.ask(typer.style(prompt, fg="blue", bold=True))
                if answer is None:
                    _echo("No more answers: the remaining hunks are left as they were.")
                    answer = "q"
                if answer in ("a", "d"):
                    mode = answer
                elif answer == "q":
                    outcome.quit = True
            take = (mode or answer) in ("y", "a")
            if take:
                accepted.append(hunk)
                outcome.accepted += 1
            else:
                outcome.rejected += 1
                outcome.unfixed.extend(f for f in review.labels[number] if f not in outcome.unfixed)
        if accepted:
            _write(review, accepted, path, outcome)


def _write(review: _FileReview, accepted: list[Hunk], path: str, outcome: ReviewOutcome) -> None:
    result = review.result
    assert result.original is not None and result.fixed is not None
    if len(accepted) == len(review.hunks):
        new = result.fixed  # verified by the engine already
    else:
        text = "".join(apply_hunks(review.before, review.after, accepted))
        new = text.encode(text_codec(result.encoding))
        if verify_output(result.path, result.original, new):
            _echo(
                f"asyncmend: {path}: the chosen hunks do not parse (or compile) without the "
                "others; file not written",
                err=True,
            )
            outcome.broken.append(result.path)
            outcome.unfixed.extend(f for f in result.findings if f.code in result.applied)
            return
    try:
        write_atomic(result.path, new, expected=result.original)
    except (ChangedOnDiskError, FileNotFoundError):
        _echo(
            f"asyncmend: warning: {path}: changed on disk since it was read; not written", err=True
        )
        outcome.skipped.append(result.path)
        return
    except WriteSkipped as exc:
        _echo(f"asyncmend: warning: {exc}", err=True)
        outcome.skipped.append(result.path)
        return
    except OSError as exc:
        _echo(
            f"asyncmend: error: {path}: cannot write: {(exc.strerror or str(exc)).lower()}",
            err=True,
        )
        outcome.failed.append(result.path)
        return
    outcome.written.append(result.path)
    if new == result.fixed:
        outcome.fully_written.append(result.path)


def answers_from_stdin() -> Answers | None:
    """Answers from the terminal, or piped ones; None when neither is there."""
    interactive = sys.stdin is not None and sys.stdin.isatty()
    if sys.stdin is None:
        return None
    try:
        answers = Answers(sys.stdin, interactive)
    except OSError:
        return None
    return answers if answers.available else None
