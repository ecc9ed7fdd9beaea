"""The editor's incremental check: after an edit inside function bodies, re-parse and
re-check only the top-level statements it can affect, and reuse the rest of the last
check (its tree nodes and its findings, shifted by the lines the edit added).

A full check walks every top-level statement with every rule. Here the findings a
rule reports while walking one top-level statement are kept per statement. On the
next version of the buffer:

- the lines that differ are found (common prefix and suffix); the top-level statements
  they touch are parsed again on their own (with the module's newline and encoding,
  their first indent the module's), and spliced into the last tree, every other
  statement's node reused;
- the edit is *local* when it changed only comments and blank lines, ``def``
  statements, or method bodies of a ``class`` (its other statements alike), each
  function keeping its header (decorators, name, parameters, return annotation) and its
  module-visible summary: what the module-wide questions of the semantic model read of
  a function (whether it yields, its imports, its sessionmaker calls, the inner
  ``async def`` it returns; names bound more or fewer times or to other calls re-walk
  the statements naming them, see ``_reach``). Anything else is checked in full;
- a local edit re-walks the changed functions, the statements that name them, and the
  statements binding a name they read (a rule that looks another function up by name
  reads it through these); the other statements' findings are reused, shifted.

The result is the full check's, exactly (``tests/test_incremental.py`` edits every
fixture case and the demo app, and compares). Rules run ungated on the re-walked
statements: the candidate gate never drops a finding (``tests/test_gate.py``), so a
rule it would have skipped reports nothing there.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import libcst as cst

from asyncmend.codemods.base import RawFinding, Rule
from asyncmend.codemods.semantic.bindings import bindings_of, bound_names
from asyncmend.codemods.semantic.model import SemanticModel
from asyncmend.codemods.semantic.tree import (
    assignment,
    dotted_name,
    iter_children,
    iter_descendants,
    own_scope,
)
from asyncmend.engine.api import Report, _collect, _relative_to, check_one_source, refused
from asyncmend.engine.config import Config
from asyncmend.engine.job import Job
from asyncmend.engine.noqa import Suppressions
from asyncmend.engine.positions import Positions, Span, module_positions, statement_positions
from asyncmend.engine.process import GATE, candidates, process_source, rule_context
from asyncmend.engine.results import FileResult, Finding
from asyncmend.engine.suppression import UNUSED_CODE, unused, unused_findings
from asyncmend.engine.syntax import parse_into, parse_module, syntax_finding
from asyncmend.engine.walker import visitor

#: Module-wide answers rebuilt from each statement's part (``_incremental``'s ``seed``):
#: carried only as a sign that a rule asks them.
_REBUILT = ("binding_counts", "module_statements")

#: Module-wide answers of the semantic model that a local edit (see ``_local`` and
#: ``_reach``) cannot change: they read module-level statements, imports, the headers of
#: defs, whether a def yields or wraps an ``async def``, and sessionmaker calls, all
#: of which such an edit keeps. Carried from one check to the next.
CARRIED = (
    "imports",
    "module_bound_names",
    "local_async_defs",
    "async_wrapping_decorators",
    "module_sessionmakers",
    "app_objects",
    "subscript_aliases",
    "method_owners",
)


@dataclass(frozen=True)
class _Found:
    """A finding as a rule reported it, before suppressions; lines 1-based, columns
    0-based (a ``Positions`` span)."""

    rule: type[Rule]
    message: str
    span: Span
    fix_applicability: str | None
    fix_message: str | None

    def shifted(self, lines: int) -> _Found:
        line, column, end_line, end_column = self.span
        span = (line + lines, column, end_line + lines, end_column)
        return _Found(self.rule, self.message, span, self.fix_applicability, self.fix_message)


@dataclass(eq=False)
class _Unit:
    """One top-level statement: its node, its lines (0-based, end exclusive, leading
    comments and blank lines included) and what the rules reported walking it."""

    node: cst.BaseStatement
    start: int
    end: int
    found: list[_Found]

    def moved(self, lines: int) -> _Unit:
        return _Unit(self.node, self.start + lines, self.end + lines, self.found).inherit(self)

    def inherit(self, other: _Unit) -> _Unit:
        """Take ``other``'s answers about the same node (they cost a walk each)."""
        for name in ("names", "binds", "summary", "counts", "calls", "small_statements"):
            if name in other.__dict__:
                self.__dict__[name] = other.__dict__[name]
        return self

    @cached_property
    def names(self) -> frozenset[str]:
        """Every identifier written in the statement."""
        return frozenset(n.value for n in iter_descendants(self.node) if isinstance(n, cst.Name))

    @cached_property
    def binds(self) -> frozenset[str]:
        """The module-level names the statement binds (imports included)."""
        found = set(bound_names(self.node))
        if not isinstance(self.node, (cst.FunctionDef, cst.ClassDef)):
            for node in own_scope(self.node):
                if isinstance(node, (cst.Import, cst.ImportFrom)) and not isinstance(
                    node.names, cst.ImportStar
                ):
                    for alias in node.names:
                        local = alias.asname.name if alias.asname else alias.name
                        found.add((dotted_name(local) or "").split(".")[0])
        return frozenset(found)

    @cached_property
    def summary(self) -> Hashable:
        """What the rest of the module can learn of a ``def`` without naming it (None for
        other statements): see ``_summary``."""
        return _summary(self.node) if isinstance(self.node, cst.FunctionDef) else None

    @cached_property
    def calls(self) -> dict[tuple[str, str, str], int]:
        """The calls assigned to names anywhere in the statement, as
        ``SemanticModel.module_statements`` and ``tree.assignment`` see them: (target,
        callee, the call's code) -> how often."""
        found: Counter[tuple[str, str, str]] = Counter()
        empty = cst.Module([])
        for node in iter_descendants(self.node):
            if not isinstance(node, (cst.Assign, cst.AnnAssign)):
                continue
            value, targets = assignment(node)
            if isinstance(value, cst.Call):
                callee = dotted_name(value.func) or "<expression>"
                code = empty.code_for_node(value)
                found.update((dotted_name(t) or "", callee, code) for t in targets)
        return dict(found)

    def statements(self, model: SemanticModel) -> list[cst.CSTNode]:
        """``SemanticModel.module_statements`` of this statement alone."""
        found = self.__dict__.get("small_statements")
        if found is None:
            found = self.__dict__["small_statements"] = model.statements_under([self.node])
        return found  # type: ignore[no-any-return]

    @cached_property
    def counts(self) -> dict[str, int]:
        """How often each name is bound in the statement (``binding_count``'s walk)."""
        counts: Counter[str] = Counter()
        stack: list[tuple[cst.CSTNode, bool]] = [(self.node, False)]
        while stack:
            node, in_class_body = stack.pop()
            if not in_class_body:
                counts.update(name for name, _ in bindings_of(node))
            if isinstance(node, cst.ClassDef):
                stack.append((node.body, True))
            else:
                stack.extend((child, in_class_body) for child in iter_children(node))
        return dict(counts)


@dataclass
class BufferState:
    """One open buffer's last check, kept by the caller (the language server, per
    document) and passed to every check of that buffer. ``token`` is the caller's say
    on everything outside the buffer (the repo index's generation, the settings): a
    state checked under another token is not reused."""

    token: Hashable = None
    key: Hashable = None
    lines: list[str] = field(default_factory=list)
    module: cst.Module | None = None
    units: list[_Unit] = field(default_factory=list)
    #: The semantic model's module-wide answers that a local edit leaves as they were
    #: (``CARRIED``), from the last check: the next one starts from them.
    memo: dict[str, Any] = field(default_factory=dict)
    #: How the last check went: "full", "incremental" or "same" (for tests and benches).
    last: str = ""

    def clear(self) -> None:
        self.key, self.module, self.units, self.lines, self.memo = None, None, [], [], {}


def check_incrementally(
    path: Path, source: bytes, job: Job, config: Config, state: BufferState
) -> Report:
    """``check_one_source`` (findings only, no fixes), reusing and updating ``state``."""
    report = Report(files_checked=1)
    if refused(path, source, report):
        return report
    relpath = _relative_to(path, Path(os.path.abspath(config.root)))
    file_job, file_relpath = job.for_file(str(path), relpath)
    if file_job.codemod is not None or job.fix:
        state.clear()
        return check_one_source(path, source, job, config)
    ignored = file_job.config.ignored_for(file_relpath or str(path))
    rules = [
        rule
        for rule in file_job.rules
        if rule.prefilter(source, file_job.config)
        and not any(rule.code.startswith(code) for code in ignored)
    ]
    enabled = frozenset(
        r.code for r in file_job.rules if not any(r.code.startswith(c) for c in ignored)
    )
    key = (
        state.token,
        str(path),
        file_job.config.digest(),
        tuple(r.code for r in rules),
        enabled,
        GATE,
    )
    result = None
    if state.module is not None and state.key == key:
        try:
            result = _incremental(str(path), source, file_job, rules, enabled, state)
        except Exception:  # anything unforeseen: the full check decides
            result = None
    if result is None:
        result = _full(str(path), source, job, file_job, rules, enabled, state, relpath, key)
    _collect(report, result)
    return report


# -- the full check, remembering what each top-level statement gave ----------------------


def _full(
    path: str,
    data: bytes,
    job: Job,
    file_job: Job,
    rules: list[type[Rule]],
    enabled: frozenset[str],
    state: BufferState,
    relpath: str | None,
    key: Hashable,
) -> FileResult:
    """The full check (``process_source``'s result), leaving in ``state`` what each
    top-level statement gave, under ``key``. A buffer that does not parse leaves the
    state of the last one that did (under its own key)."""
    state.last = "full"
    gated, _ = candidates(path, data, rules, file_job) if rules and GATE else (rules, False)
    if not gated:
        state.clear()
        return process_source(path, data, job, relpath=relpath)
    result = FileResult(path=path)
    module = parse_into(result, path, data)
    if module is None:
        return result  # AM000; the state of the last version that parsed stays
    try:
        walked, memo = _walk(path, data, module, gated, file_job, module.body)
        if any(walked):
            positions, extents = module_positions(module, module.body)
            code = positions.code
        else:  # no positions to compute: the statements' lines are enough
            positions, (extents, code) = Positions({}, ""), _extents(module)
        text = data.decode(module.encoding)
        findings_by_unit = [[_found(raw, positions) for raw in found] for found in walked]
    except Exception:  # a crash or a too deep tree: reported as the full check does
        state.clear()
        return process_source(path, data, job, relpath=relpath)
    items = [item for found in findings_by_unit for item in found]
    result.findings = result.remaining = _publishable(path, items, text, module, gated, enabled)
    units = _units(module, extents, findings_by_unit)
    if units is None or code != text or not _plain(text):
        state.clear()
    else:
        state.module, state.units, state.lines, state.memo = module, units, _lines(text), memo
        state.key = key
    return result


def _units(
    module: cst.Module, extents: dict[int, Span], found: list[list[_Found]]
) -> list[_Unit] | None:
    units: list[_Unit] = []
    for statement, items in zip(module.body, found, strict=True):
        line, column, end_line, end_column = extents[id(statement)]
        if column != 0 or end_column != 0:
            return None  # a last line without its newline: keep it simple, check in full
        if units and units[-1].end != line - 1:
            return None
        units.append(_Unit(statement, line - 1, end_line - 1, items))
    return units


def _extents(module: cst.Module) -> tuple[dict[int, Span], str]:
    """Where each top-level statement's code starts and ends (as ``module_positions``
    gives them), and the module's code, from a plain codegen pass per statement."""
    header = "".join(module.code_for_node(empty) for empty in module.header)
    line = header.count("\n") + 1
    extents: dict[int, Span] = {}
    codes = [header]
    for statement in module.body:
        code = module.code_for_node(statement)
        end = line + code.count("\n")
        extents[id(statement)] = (line, 0, end, len(code) - code.rfind("\n") - 1)
        codes.append(code)
        line = end
    codes.extend(module.code_for_node(empty) for empty in module.footer)
    return extents, "".join(codes)


def _walk(
    path: str,
    data: bytes,
    module: cst.Module,
    rules: Sequence[type[Rule]],
    job: Job,
    statements: Sequence[cst.CSTNode],
    seed: Callable[[SemanticModel], None] | None = None,
) -> tuple[list[list[RawFinding]], dict[str, Any]]:
    """Walk ``statements`` (top-level statements of ``module``) with ``rules``, as the
    full walk would reach them; the findings reported while walking each. Raises
    ``ValueError`` when a rule reports outside the walk of a statement. ``seed`` fills
    the model's memo first; the answers carried to the next check are returned too."""
    ancestors: list[cst.CSTNode] = []
    context = rule_context(path, data, module, job)
    if seed is not None:
        seed(context.semantic)
    instances = [rule(context, ancestors) for rule in rules]
    if any(hasattr(i, "visit_Module") or hasattr(i, "leave_Module") for i in instances):
        raise ValueError("a rule reads the module node itself")
    visit = visitor(instances, ancestors)
    walked: list[list[RawFinding]] = []
    ancestors.append(module)
    for line in module.header:  # what the full walk visits besides the statements
        visit(line)
    for line in module.footer:
        visit(line)
    if any(instance.findings for instance in instances):
        raise ValueError("a rule reports on the module's header or footer")
    for statement in statements:
        before = [len(instance.findings) for instance in instances]
        visit(statement)
        walked.append(
            [
                item
                for instance, count in zip(instances, before, strict=True)
                for item in instance.findings[count:]
            ]
        )
    ancestors.pop()
    total = [len(instance.findings) for instance in instances]
    for instance in instances:
        instance.finish()
    if [len(instance.findings) for instance in instances] != total:
        raise ValueError("a rule reports after the walk")
    memo = context.__dict__.get("semantic")  # built only if a rule asked it something
    asked = memo.memo if memo is not None else {}
    carried = {key: asked[key] for key in (*CARRIED, *_REBUILT) if key in asked}
    return walked, carried


def _found(raw: RawFinding, positions: Positions) -> _Found:
    fix = raw.fix
    return _Found(
        raw.rule,
        raw.message,
        positions.span(raw.node),
        fix.applicability.value if fix else None,
        fix.message if fix else None,
    )


def _publishable(
    path: str,
    items: list[_Found],
    text: str,
    module: cst.Module,
    rules: Sequence[type[Rule]],
    enabled: frozenset[str],
) -> list[Finding]:
    """The findings pass 2 reports for ``items`` (``process._run_rules`` and the first
    round of ``process._fix_loop``): suppressions applied, AM001, sorted."""
    if not items and not any(rule.code == UNUSED_CODE for rule in rules):
        suppressions = Suppressions()
    else:
        suppressions = Suppressions.of(text, module)
    kept = [
        item
        for item in items
        if not suppressions.suppresses(item.rule.code, item.span[0], item.span[2])
    ]
    kept.sort(key=lambda f: (f.span[:2], f.rule.code))
    findings = [
        Finding(
            code=item.rule.code,
            name=item.rule.name,
            message=item.message,
            path=path,
            line=item.span[0],
            column=item.span[1] + 1,
            end_line=item.span[2],
            end_column=item.span[3] + 1,
            fix_applicability=item.fix_applicability,
            fix_message=item.fix_message,
        )
        for item in kept
    ]
    stale = unused(suppressions, enabled) if UNUSED_CODE in enabled else []
    findings += unused_findings(path, stale)
    findings.sort(key=lambda f: (f.line, f.column, f.code))
    return findings


# -- the incremental check ----------------------------------------------------------------


def _incremental(
    path: str,
    data: bytes,
    job: Job,
    rules: list[type[Rule]],
    enabled: frozenset[str],
    state: BufferState,
) -> FileResult | None:
    """The result of a local edit, or None when the full check must decide."""
    module, units, old_lines = state.module, state.units, state.lines
    assert module is not None
    text = data.decode(module.encoding)
    if not _plain(text) or syntax_finding(path, data, parsed=True) is not None:
        return None
    lines = _lines(text)
    prefix = 0
    limit = min(len(lines), len(old_lines))
    while prefix < limit and lines[prefix] == old_lines[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and lines[-1 - suffix] == old_lines[-1 - suffix]:
        suffix += 1
    delta = len(lines) - len(old_lines)
    if prefix == len(lines) == len(old_lines):
        state.last = "same"
        items = [item for unit in units for item in unit.found]
        return _result(path, module, items, text, rules, enabled)
    low, high = prefix, len(old_lines) - suffix
    if low == high:  # lines inserted: the statements on both sides may take them
        low, high = low - 1, high + 1
    touched = [k for k, unit in enumerate(units) if unit.start < high and unit.end > low]
    if not touched or low < units[0].start or high > units[-1].end:
        return None
    first, last = touched[0], touched[-1]
    for _ in range(4):  # widen until the parsed lines are whole statements
        if first == 0:
            return None  # the module's first statement: its header, indent, encoding
        segment = "".join(lines[units[first].start : units[last].end + delta])
        try:
            parsed = parse_module(
                segment,
                config=cst.PartialParserConfig(
                    encoding=module.encoding,
                    default_newline=module.default_newline,
                    future_imports=_futures(module),
                ),
            )
        except Exception:
            return None
        if parsed.default_indent != module.default_indent:
            # libcst leaves a block's indent unset when it is the default one it
            # detected (the first in the lines parsed): the module's must be that one.
            return None
        if parsed.footer:  # trailing lines: the next statement's leading lines
            if last + 1 >= len(units):
                return None
            last += 1
            continue
        if any(line.comment is not None and line.whitespace.value for line in parsed.header):
            first -= 1  # an indented comment: the block before may own it
            continue
        break
    else:
        return None
    new_nodes = list(parsed.body)
    if not new_nodes:
        return None
    if parsed.header:
        new_nodes[0] = new_nodes[0].with_changes(
            leading_lines=(*parsed.header, *new_nodes[0].leading_lines)
        )
    if first <= _indent_unit(units):
        return None
    old = units[first : last + 1]
    codes = statement_positions(module, [(node, 1) for node in new_nodes])[1]
    changed: list[_Unit] = []
    start = units[first].start
    for node, code in zip(new_nodes, codes, strict=True):
        count = code.count("\n")
        changed.append(_Unit(node, start, start + count, []))
        start += count
    if start != units[last].end + delta or not _local(old, changed):
        return None
    edits = []
    for k, (a, b) in enumerate(zip(old, changed, strict=True)):
        if _same(a.node, b.node):  # the old statement (and its nodes), new leading lines
            node = a.node.with_changes(leading_lines=b.node.leading_lines)
            changed[k] = _Unit(node, b.start, b.end, []).inherit(a)
        else:
            edits.append((a, b))
    spliced = module.with_changes(
        body=(
            *[u.node for u in units[:first]],
            *[u.node for u in changed],
            *[u.node for u in units[last + 1 :]],
        )
    )
    after = [unit.moved(delta) for unit in units[last + 1 :]]
    new_units = [*units[:first], *changed, *after]
    # What the edit can reach: the changed defs, statements naming them, and statements
    # binding a name they read (a rule looks another function up by name).
    names = {a.node.name.value for a, _ in edits}  # type: ignore[attr-defined]
    classes = [(a.node, b.node) for a, b in edits if isinstance(a.node, cst.ClassDef)]
    for x, y in classes:  # the methods that changed, named by their callers
        names.update(
            m.name.value
            for m, n in zip(x.body.body, y.body.body, strict=True)  # type: ignore[union-attr]
            if isinstance(m, cst.FunctionDef) and not _same(m, n)
        )
    read = frozenset().union(*(u.names for pair in edits for u in pair))
    recounted = _reach(edits, new_units)
    if recounted is None:
        return None
    again = [
        unit
        for unit in new_units
        if unit in changed
        or not names.isdisjoint(unit.names)
        or not read.isdisjoint(unit.binds)
        or not recounted.isdisjoint(unit.names)
    ]
    carried = state.memo

    def seed(model: SemanticModel) -> None:
        # Which class each method belongs to is keyed by node: an edited class's
        # methods are new nodes.
        skip = ("method_owners",) if classes else ()
        model.memo.update((k, v) for k, v in carried.items() if k in CARRIED and k not in skip)
        if "binding_counts" in carried:  # the sum of each statement's
            total: Counter[str] = Counter()
            for unit in new_units:
                total.update(unit.counts)
            model.memo["binding_counts"] = dict(total)
        if "module_statements" in carried:  # each statement's, joined in order
            model.memo["module_statements"] = [
                small for unit in new_units for small in unit.statements(model)
            ]

    walked, memo = _walk(path, data, spliced, rules, job, [unit.node for unit in again], seed)
    # Positions (a codegen pass each) only for the statements with findings.
    reported = [unit for unit, items in zip(again, walked, strict=True) if items]
    positions, texts = statement_positions(spliced, [(u.node, u.start + 1) for u in reported])
    for unit, code in zip(reported, texts, strict=True):
        if code != "".join(lines[unit.start : unit.end]):
            return None
    found = {
        id(unit): [_found(raw, positions) for raw in items]
        for unit, items in zip(again, walked, strict=True)
    }  # KeyError: reported outside them
    edited = (units[first].start + 1, units[last].end)  # 1-based lines of the old version
    for unit in new_units:
        if id(unit) in found:
            continue
        kept: list[_Found] = []
        for item in unit.found:
            if item.span[2] < edited[0]:
                kept.append(item)
            elif item.span[0] > edited[1]:
                kept.append(item.shifted(delta))
            else:
                return None  # reported inside the edited lines: it cannot be placed
        found[id(unit)] = kept
    new_units = [_Unit(u.node, u.start, u.end, found[id(u)]).inherit(u) for u in new_units]
    state.module, state.units, state.lines, state.last = spliced, new_units, lines, "incremental"
    state.memo = memo
    items = [item for unit in new_units for item in unit.found]
    return _result(path, spliced, items, text, rules, enabled)


def _result(
    path: str,
    module: cst.Module,
    items: list[_Found],
    text: str,
    rules: Sequence[type[Rule]],
    enabled: frozenset[str],
) -> FileResult:
    result = FileResult(path=path, encoding=module.encoding)
    result.findings = result.remaining = _publishable(path, items, text, module, rules, enabled)
    return result


def _reach(edits: list[tuple[_Unit, _Unit]], units: list[_Unit]) -> set[str] | None:
    """The names whose module-wide answers the edited defs changed: a name bound more or
    fewer times (``binding_count``) or to another call (``_receiver_class``); the
    statements naming one are re-walked. None (check in full) when one is bound at
    module level (what any statement is told of it may change) or a sessionmaker call
    changed (the module's factories: ``sessions._module_sessionmakers``)."""
    aliases = _import_leaves(units)
    touched: set[str] = set()
    for a, b in edits:
        for name in a.counts.keys() | b.counts.keys():
            if a.counts.get(name) != b.counts.get(name):
                touched.update(name.split("."))
        for call in a.calls.keys() | b.calls.keys():
            if a.calls.get(call) == b.calls.get(call):
                continue
            target, callee, _ = call
            head, _, rest = callee.partition(".")
            leaf = rest.rsplit(".", 1)[-1] if rest else aliases.get(head, head)
            if leaf in ("sessionmaker", "async_sessionmaker"):
                return None
            touched.update(part for part in target.split(".") if part)
    bound_here = frozenset().union(*(u.binds for u in units))
    return None if not touched.isdisjoint(bound_here) else touched


def _import_leaves(units: list[_Unit]) -> dict[str, str]:
    """Module-level import names -> the last part of what they import (``resolve``'s
    answer ends with it)."""
    leaves: dict[str, str] = {}
    for unit in units:
        if not isinstance(unit.node, cst.SimpleStatementLine):
            continue
        for small in unit.node.body:
            if isinstance(small, (cst.Import, cst.ImportFrom)) and not isinstance(
                small.names, cst.ImportStar
            ):
                for alias in small.names:
                    full = dotted_name(alias.name) or ""
                    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                        leaves[alias.asname.name.value] = full.rsplit(".", 1)[-1]
                    elif isinstance(small, cst.ImportFrom):
                        leaves[full] = full
    return leaves


def _local(old: list[_Unit], new: list[_Unit]) -> bool:
    """Whether replacing the ``old`` statements by the ``new`` ones changes nothing the
    rest of the module can see: a ``def`` for a ``def`` with the same summary, or the
    same statement with other comments or blank lines before it."""
    return len(old) == len(new) and all(
        _same(a.node, b.node)
        or (
            isinstance(a.node, cst.FunctionDef)
            and isinstance(b.node, cst.FunctionDef)
            and a.summary == b.summary
        )
        or _same_class_but_methods(a.node, b.node)
        for a, b in zip(old, new, strict=True)
    )


def _same_class_but_methods(a: cst.CSTNode, b: cst.CSTNode) -> bool:
    """Two classes alike but for the bodies of methods whose summaries are the same:
    same header (decorators, name, bases), the same statements in the same order, every
    other one (attributes, columns, relationships, nested classes) alike."""
    if not (
        isinstance(a, cst.ClassDef)
        and isinstance(b, cst.ClassDef)
        and isinstance(a.body, cst.IndentedBlock)
        and isinstance(b.body, cst.IndentedBlock)
        and len(a.body.body) == len(b.body.body)
        and _header(a) == _header(b)
    ):
        return False
    return all(
        _same(x, y)
        or (
            isinstance(x, cst.FunctionDef)
            and isinstance(y, cst.FunctionDef)
            and _summary(x) == _summary(y)
        )
        for x, y in zip(a.body.body, b.body.body, strict=True)
    )


def _header(node: cst.FunctionDef | cst.ClassDef) -> str:
    """A ``def`` or ``class`` statement's code without its body or leading lines."""
    return cst.Module([]).code_for_node(
        node.with_changes(body=cst.SimpleStatementSuite((cst.Pass(),)), leading_lines=())
    )


def _same(a: cst.BaseStatement, b: cst.BaseStatement) -> bool:
    """The same statement but for its leading comments and blank lines."""
    return type(a) is type(b) and a.with_changes(leading_lines=()).deep_equals(
        b.with_changes(leading_lines=())
    )


def _summary(func: cst.FunctionDef) -> Hashable:
    """Everything a module-wide question of the semantic model reads of ``func`` when it
    is not named (``SemanticModel.module_statements``, ``imports_module``,
    ``coroutines.local_async_defs`` and ``_async_wrapping_decorators``...): its header,
    whether its own scope yields, its import statements, and the inner functions it
    returns. How often it binds each name (``binding_count``) and the calls it assigns
    to names (``sessions._module_sessionmakers``, ``_receiver_class``) are compared
    apart: see ``_reach``."""
    header = _header(func)
    yields = any(isinstance(node, cst.Yield) for node in own_scope(func.body))
    statements: list[str] = []
    empty = cst.Module([])
    for node in iter_descendants(func):
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            statements.append(empty.code_for_node(node))
    inner = returned = frozenset()
    if isinstance(func.body, cst.IndentedBlock):
        inner = frozenset(
            s.name.value
            for s in func.body.body
            if isinstance(s, cst.FunctionDef) and s.asynchronous is not None
        )
        returned = frozenset(
            small.value.value
            for s in func.body.body
            if isinstance(s, cst.SimpleStatementLine)
            for small in s.body
            if isinstance(small, cst.Return) and isinstance(small.value, cst.Name)
        )
    return header, yields, tuple(statements), inner, returned


def _futures(module: cst.Module) -> frozenset[str]:
    found: set[str] = set()
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            break
        for small in statement.body:
            if (
                isinstance(small, cst.ImportFrom)
                and small.module is not None
                and dotted_name(small.module) == "__future__"
                and not isinstance(small.names, cst.ImportStar)
            ):
                found.update(dotted_name(alias.name) or "" for alias in small.names)
    return frozenset(found)


def _indent_unit(units: list[_Unit]) -> int:
    """The index of the first statement holding an indented block (libcst takes the
    module's default indent from the first one): an edit at or before it is checked
    in full."""
    for k, unit in enumerate(units):
        if not isinstance(unit.node, cst.SimpleStatementLine):
            return k
    return len(units)


def _plain(text: str) -> bool:
    """Lines end with ``\\n`` only and there is no byte-order mark: then this module's
    line numbers and libcst's agree."""
    return "\r" not in text and not text.startswith("\ufeff")


def _lines(text: str) -> list[str]:
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out
