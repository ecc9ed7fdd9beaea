"""Pass 2 for one file: prefilter, one parse, every rule in one walk, the fix loop, and
verification of what the fixes produced."""

from __future__ import annotations

import bisect
import os
import traceback
from collections.abc import Sequence

import libcst as cst

from asyncmend.codemods.base import FileContext, Fix, RawFinding, Rule
from asyncmend.codemods.edits.imports import update_imports
from asyncmend.codemods.edits.wrap import DEFAULT_LINE_LENGTH, fit_changed_lines
from asyncmend.codemods.facts.gate import gate_facts
from asyncmend.engine.job import Job
from asyncmend.engine.noqa import Suppressions
from asyncmend.engine.positions import (
    Positions,
    Span,
    StatementCodes,
    compute_positions,
    positions_and_codes,
)
from asyncmend.engine.replay import (
    VERIFY,
    ReplayMismatch,
    parsed_before,
    passing,
    prefiltered,
    prefiltered_before,
    replayed,
)
from asyncmend.engine.results import PARSE_ERROR_CODE, PARSE_ERROR_NAME, FileResult, Finding
from asyncmend.engine.suppression import UNUSED_CODE, remove_unused_codes, unused, unused_findings
from asyncmend.engine.syntax import parse_into, syntax_finding
from asyncmend.engine.user_codemods import process_with_codemod
from asyncmend.engine.verify import verify_output
from asyncmend.engine.walker import walk

#: The fix loop stops after this many rounds even if rules still change the tree.
MAX_FIX_ROUNDS = 8

#: ``ASYNCMEND_NO_GATE=1`` runs every prefiltered rule on every file (libcst parse
#: included) instead of only the candidates: for checking that the gate drops no
#: finding (``bench/gate_check.py``, ``tests/test_gate.py``).
GATE = os.environ.get("ASYNCMEND_NO_GATE", "") in ("", "0")


def process_source(path: str, data: bytes, job: Job, *, relpath: str | None = None) -> FileResult:
    """Check (and with ``job.fix``, fix) one file's bytes. Never raises for bad input."""
    job, relpath = job.for_file(path, relpath)
    if job.codemod is not None:
        return process_with_codemod(path, data, job, relpath=relpath)
    ignored = job.config.ignored_for(relpath or path)
    found = prefiltered_before(path, data, job)  # pass 1 searched the tokens
    rules = [
        rule
        for rule in (prefiltered(job.rules, data, job) if found is None else found)
        if not any(rule.code.startswith(code) for code in ignored)
    ]
    result = FileResult(path=path)
    readable = False  # CPython's parser read the file (for the gate)
    if rules and GATE:
        rules, readable = candidates(path, data, rules, job)
    if not rules and readable:
        return result  # CPython parsed it: no AM000, and no rule can report anything
    if not rules:
        # Not parsed by libcst (no rule's trigger token), yet an unparsable file is AM000
        # (unless pass 1's CPython parse read it).
        parsed = parsed_before(path, data, job)
        if parsed and not VERIFY:
            return result
        problem = syntax_finding(path, data)
        if parsed and problem is not None:
            raise ReplayMismatch(f"{path}: parsed in pass 1, yet {problem.message}")
        if problem is not None:
            result.findings = result.remaining = [problem]
        return result
    module = parse_into(result, path, data)
    if module is None:
        return result
    enabled = frozenset(r.code for r in job.rules if not any(r.code.startswith(c) for c in ignored))
    contexts: list[FileContext] = []  # each round's rule context, released at the end
    try:
        _fix_loop(path, data, module, rules, job, result, enabled, contexts)
    except RecursionError:
        # Nesting deeper than the analysis can follow: say so, as for a file that does
        # not parse, and leave it alone.
        too_deep = Finding(
            PARSE_ERROR_CODE, PARSE_ERROR_NAME,
            "Cannot analyse: expressions nested too deeply; file left alone",
            path, 1, 1, 1, 1,
        )  # fmt: skip
        result.fixed = result.original = None
        result.applied = {}
        result.findings = result.remaining = [too_deep]
    except Exception:
        # A crashing rule must not stop the run or write anything: report and move on.
        result.fixed = None
        result.original = None
        result.error = f"internal error while processing {path}:\n{traceback.format_exc()}"
    finally:
        for context in contexts:
            context.release()
    return result


def candidates(
    path: str, data: bytes, rules: Sequence[type[Rule]], job: Job
) -> tuple[list[type[Rule]], bool]:
    """The rules whose candidate test passes on the file's ``ast`` facts (all of them
    when ``ast`` cannot read it: libcst may still, with newer syntax), and whether
    ``ast`` read it."""
    verdict = replayed(path, data, rules, job)  # pass 1 ran the gate: no parse here
    if verdict is not None and not VERIFY:
        return verdict, True
    found, readable = _full_gate(path, data, rules, job)
    if verdict is not None and (verdict, True) != (found, readable):
        raise ReplayMismatch(
            f"{path}: replayed gate {[r.code for r in verdict]}, "
            f"full gate {[r.code for r in found]} (readable: {readable})"
        )
    return found, readable


def _full_gate(
    path: str, data: bytes, rules: Sequence[type[Rule]], job: Job
) -> tuple[list[type[Rule]], bool]:
    """The candidate gate run on ``data``: ``candidates`` without pass 1's record."""
    try:
        gate = gate_facts(
            path,
            data,
            module_name=job.index.module_name_for(path),
            index=job.index,
            config=job.config,
        )
        if gate is None:
            return list(rules), False
        return passing(gate, rules, job), True
    except Exception:  # a gate that fails must cost time, never a finding
        return list(rules), False


def _fix_loop(
    path: str,
    data: bytes,
    module: cst.Module,
    rules: Sequence[type[Rule]],
    job: Job,
    result: FileResult,
    enabled: frozenset[str],
    contexts: list[FileContext],
) -> None:
    """The rounds of rules and fixes; each round's rule context goes into ``contexts``
    (the caller releases them once the file is done)."""
    current = module
    checked = False  # whether the last round's findings are those of `current`
    code = None  # `current.code`, when a round's positions pass or a fix produced it
    codes = StatementCodes({}, "", "")  # top-level statements' code (fixes keep most)
    round_rules = gated = rules
    for round_number in range(MAX_FIX_ROUNDS):
        raw, positions, suppressions = _run_rules(
            path,
            data,
            current,
            round_rules,
            job,
            contexts,
            code=code,
            codes=codes if job.fix else None,
        )
        code = positions.code or code
        ruled = [_to_finding(path, item, positions.span(item.node)) for item in raw]
        stale = unused(suppressions, enabled) if UNUSED_CODE in enabled else []
        if gated is not rules:
            _verify_round(path, gated, raw, stale)
        findings = ruled + unused_findings(path, stale)
        findings.sort(key=lambda f: (f.line, f.column, f.code))
        if round_number == 0:
            result.findings = findings
        result.remaining = findings
        if not job.fix:
            return
        chosen = _choose_fixes(raw, positions, job)
        checked = not chosen
        if not chosen:
            break
        if round_number == 0:
            _record_fix_lines(raw, ruled, chosen, positions)  # `ruled` pairs with `raw`
        current = apply_fixes(current, chosen, positions, codes)
        code = codes.code_of(current)
        for item in chosen:
            result.applied[item.rule.code] = result.applied.get(item.rule.code, 0) + 1
        # The next round runs the rules the gate keeps for the fixed code (all of them,
        # each checked against the gate's verdict, under ASYNCMEND_GATE_VERIFY).
        gated = _next_round_rules(path, code.encode(current.encoding), rules, job)
        round_rules = rules if VERIFY else gated
    if checked and stale and job.allows("safe"):
        # AM001's fix edits comments, which no rule's node replacement reaches. On an
        # unchanged tree it edits the bytes as read (libcst's codegen is not byte-exact
        # for every file, e.g. "\r" line ends).
        text = data.decode(current.encoding) if current is module else (code or current.code)
        new_bytes = remove_unused_codes(text, stale).encode(current.encoding)
        result.applied[UNUSED_CODE] = len(stale)
        result.remaining = [f for f in result.remaining if f.code != UNUSED_CODE]
    elif current is module:
        return
    else:
        text = code if code is not None else current.code
        new_bytes = _fit_line_length(data, current, text, job.config.line_length)
    if new_bytes == data:
        return
    problem = verify_output(path, data, new_bytes)
    if problem:
        result.error = problem
        result.applied = {}
        result.remaining = result.findings
        return
    result.fixed = new_bytes
    result.original = data


def _next_round_rules(
    path: str, data: bytes, rules: Sequence[type[Rule]], job: Job
) -> Sequence[type[Rule]]:
    """The rules of ``rules`` that may report on the fixed file ``data``: those whose
    prefilter tokens and candidate test pass on it, as pass 2 picks them for any file
    (the gate never drops a finding: ``tests/test_gate.py``, ``bench/gate_check.py``).
    ``rules`` itself when the gate is off."""
    if not GATE:
        return rules
    return _full_gate(path, data, prefiltered(rules, data, job), job)[0]


def _verify_round(
    path: str,
    gated: Sequence[type[Rule]],
    raw: Sequence[RawFinding],
    stale: Sequence[object],
) -> None:
    """A round after fixes: every rule that reported must be one the gate kept for it
    (under ``ASYNCMEND_GATE_VERIFY`` the round ran every rule)."""
    reported = {item.rule.code for item in raw} | ({UNUSED_CODE} if stale else set())
    dropped = reported - {rule.code for rule in gated}
    if dropped:
        raise ReplayMismatch(
            f"{path}: after fixes the gate kept {[r.code for r in gated]}, "
            f"but {sorted(dropped)} reported"
        )


def _run_rules(
    path: str,
    data: bytes,
    module: cst.Module,
    rules: Sequence[type[Rule]],
    job: Job,
    contexts: list[FileContext] | None = None,
    *,
    code: str | None = None,
    codes: StatementCodes | None = None,
) -> tuple[list[RawFinding], Positions, Suppressions]:
    """One walk of every rule over ``module``: the findings it keeps (suppressions
    applied), their positions and the file's suppressions. The rules' context is
    added to ``contexts``, for the caller to release once the findings' fixes are
    applied. ``code`` is ``module.code`` when the caller knows it; with ``codes``, a
    positions pass also leaves there the code of each top-level statement."""
    if not rules:
        return [], Positions({}, ""), Suppressions()
    ancestors: list[cst.CSTNode] = []
    context = rule_context(path, data, module, job)
    if contexts is not None:
        contexts.append(context)
    instances = [rule(context, ancestors) for rule in rules]
    walk(module, instances, ancestors)
    raw: list[RawFinding] = []
    for instance in instances:
        instance.finish()
        raw.extend(instance.findings)
    if not raw and not any(rule.code == UNUSED_CODE for rule in rules):
        return [], Positions({}, ""), Suppressions()
    # Positions cost a codegen pass: only files with findings pay it.
    if not raw:
        positions = Positions({}, module.code if code is None else code)
    elif codes is not None:
        positions = positions_and_codes(module, codes)
    else:
        positions = compute_positions(module)
    suppressions = Suppressions.of(positions.code, module)
    kept = []
    for item in raw:
        first, _, last, _ = positions.span(item.node)
        if not suppressions.suppresses(item.rule.code, first, last):
            kept.append(item)
    kept.sort(key=lambda f: (positions.span(f.node)[:2], f.rule.code))
    return kept, positions, suppressions


def rule_context(path: str, data: bytes, module: cst.Module, job: Job) -> FileContext:
    """What the rules read of one file's tree."""
    return FileContext(
        path=path,
        module=module,
        config=job.config,
        index=job.index,
        module_name=job.index.module_name_for(path),
        source=data,
    )


def _record_fix_lines(
    raw: Sequence[RawFinding],
    findings: Sequence[Finding],
    chosen: Sequence[RawFinding],
    positions: Positions,
) -> None:
    """Where in the original file each first-round fix edits: a fix may change lines
    other than its finding's (a refresh after the commit, an import), and review and
    SARIF attribute the diff's hunks to findings by these lines."""
    picked = {id(item) for item in chosen}
    for item, finding in zip(raw, findings, strict=True):
        if id(item) not in picked or item.fix is None:
            continue
        spans = [positions.span(old) for old, _ in item.fix.replacements if old in positions]
        if spans:
            finding.fix_line = min(span[0] for span in spans)
            finding.fix_end_line = max(span[2] for span in spans)


def _to_finding(path: str, item: RawFinding, span: Span) -> Finding:
    fix = item.fix
    return Finding(
        code=item.rule.code,
        name=item.rule.name,
        message=item.message,
        path=path,
        line=span[0],
        column=span[1] + 1,
        end_line=span[2],
        end_column=span[3] + 1,
        fix_applicability=fix.applicability.value if fix else None,
        fix_message=fix.message if fix else None,
    )


_Extent = tuple[tuple[int, int], tuple[int, int]]


def _extent(positions: Positions, node: cst.CSTNode) -> _Extent:
    line, column, end_line, end_column = positions.span(node)
    return (line, column), (end_line, end_column)


def _choose_fixes(raw: list[RawFinding], positions: Positions, job: Job) -> list[RawFinding]:
    """The allowed fixes of this round that touch disjoint parts of the tree.

    A fix that overlaps one already chosen waits for the next round, where it is found
    again on the updated tree.
    """
    chosen: list[RawFinding] = []
    taken: list[_Extent] = []
    for item in raw:
        fix = item.fix
        if fix is None or not job.allows(fix.applicability):
            continue
        extents = [_extent(positions, old) for old, _ in fix.replacements if old in positions]
        if len(extents) != len(fix.replacements):
            continue  # a target outside the tree: the rule made a mistake, skip it
        if any((s[0] < t[1] and t[0] < s[1]) or s == t for s in extents for t in taken):
            continue
        chosen.append(item)
        taken.extend(extents)
    return chosen


class _ReplaceNodes(cst.CSTTransformer):
    """Replace nodes by identity, descending only into subtrees that hold a target.

    Whether a subtree holds a target is a binary search over the targets' extents
    sorted by start (the fixes chosen in one round are disjoint), so a round costs
    O(nodes x log fixes), not O(nodes x fixes): fix time stays linear in findings.
    """

    def __init__(
        self, replacements: dict[int, object], extents: list[_Extent], positions: Positions
    ) -> None:
        super().__init__()
        self.replacements = replacements
        self.extents = sorted(extents)
        self.starts = [start for start, _ in self.extents]
        self.positions = positions

    def on_visit(self, node: cst.CSTNode) -> bool:
        if node not in self.positions:
            return True
        start, end = _extent(self.positions, node)
        index = bisect.bisect_left(self.starts, start)
        while index < len(self.extents) and self.extents[index][0] <= end:
            if self.extents[index][1] <= end:
                return True
            index += 1
        return False

    def on_leave(self, original_node, updated_node):  # type: ignore[no-untyped-def]
        return self.replacements.get(id(original_node), updated_node)


def apply_fixes(
    module: cst.Module,
    chosen: Sequence[RawFinding],
    positions: Positions,
    codes: StatementCodes | None = None,
) -> cst.Module:
    """Apply the chosen fixes' replacements, then add the imports they need (sorted in)
    and drop the imports they left unused (``codes``: the top-level statements' code
    when known, to skip those that cannot use a dropped name)."""
    fixes: list[Fix] = [item.fix for item in chosen if item.fix is not None]
    replacements = {id(old): new for fix in fixes for old, new in fix.replacements}
    extents = [_extent(positions, old) for fix in fixes for old, _ in fix.replacements]
    updated = module.visit(_ReplaceNodes(replacements, extents, positions))
    imports = [spec for fix in fixes for spec in fix.imports]
    unused = [name for fix in fixes for name in fix.maybe_unused]
    if imports or unused:
        known = codes.known if codes is not None else None
        updated = update_imports(updated, imports, unused, known)
    assert isinstance(updated, cst.Module)
    return updated


def _top_level_imports(module: cst.Module) -> set[tuple[str, str | None, str | None]]:
    """``(module, name or None, asname or None)`` of the module-level imports."""
    found: set[tuple[str, str | None, str | None]] = set()
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    found.add((_dotted(alias.name), None, _asname(alias)))
            elif (
                isinstance(small, cst.ImportFrom)
                and not small.relative
                and small.module is not None
                and not isinstance(small.names, cst.ImportStar)
            ):
                base = _dotted(small.module)
                for alias in small.names:
                    found.add((base, _dotted(alias.name), _asname(alias)))
    return found


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    return node.value if isinstance(node, cst.Name) else ""


def _asname(alias: cst.ImportAlias) -> str | None:
    if alias.asname is None or not isinstance(alias.asname.name, cst.Name):
        return None
    return alias.asname.name.value


def _fit_line_length(data: bytes, fixed: cst.Module, after: str, limit: int | None) -> bytes:
    """The fixed file's bytes (``after`` is its code), with lines the fixes made too
    long split where possible."""
    fitted = fit_changed_lines(
        data.decode(fixed.encoding, errors="replace"), after, limit or DEFAULT_LINE_LENGTH
    )
    return fitted.encode(fixed.encoding)
