"""What a called function does with the session handed to it, read from the pass-1
function summaries (``facts.summaries``) of the repo, following hand-offs from helper
to helper. Rules ask this instead of guessing from a callee's name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from asyncmend.codemods.facts.base import FileFacts
from asyncmend.codemods.facts.summaries import FunctionSummary, Handoff, summaries_of
from asyncmend.codemods.semantic.tree import dotted_name

if TYPE_CHECKING:
    from asyncmend.codemods.base import FileContext

#: How deep hand-offs are followed (helper -> helper -> ...).
_MAX_DEPTH = 4


@dataclass(frozen=True)
class Effects:
    """What a callee does with one session argument: ``effects`` as in
    ``facts.summaries``; ``complete`` when every hand-off on the way was resolved."""

    effects: frozenset[str]
    complete: bool

    def __contains__(self, effect: str) -> bool:
        return effect in self.effects


def session_effects(call: cst.Call, session: str, context: FileContext) -> Effects | None:
    """What ``call`` does with the session named ``session`` passed to it (positionally
    or by keyword); None when the callee or that parameter is unknown."""
    target = _callee(call, context)
    if target is None:
        return None
    for position, arg in enumerate(call.args):
        if dotted_name(arg.value) != session or arg.star:
            continue
        keyword = arg.keyword.value if arg.keyword is not None else None
        return _effects(context, *target, Handoff("", None if keyword else position, keyword), 0)
    return None


def _callee(call: cst.Call, context: FileContext) -> tuple[FileFacts, str] | None:
    """(facts of the module defining the callee, its qualified name there)."""
    name = dotted_name(call.func)
    if name is None:
        return None
    head = name.split(".")[0]
    if head not in context.semantic.imports:
        here = context.index.by_path.get(context.path)
        if here is None or "." in name:
            return None
        return here, name
    return _locate(context, context.semantic.resolve(call.func) or name)


def _locate(context: FileContext, qualified: str) -> tuple[FileFacts, str] | None:
    qualified = context.index.resolve(qualified)
    parts = qualified.split(".")
    for split in range(len(parts) - 1, 0, -1):
        facts = context.index.by_module.get(".".join(parts[:split]))
        if facts is not None:
            return facts, ".".join(parts[split:])
    return None


def _effects(
    context: FileContext, facts: FileFacts, qualname: str, arg: Handoff, depth: int
) -> Effects | None:
    summary = _summaries(context, facts).get(qualname)
    if summary is None:
        return None
    param = _parameter(summary, qualname, arg)
    if param is None or param not in summary.effects:
        return None
    found = set(summary.effects[param])
    complete = True
    for handoff in summary.handoffs.get(param, ()):
        inner = None
        if depth < _MAX_DEPTH:
            located = _resolve_written(context, facts, handoff.callee)
            if located is not None:
                inner = _effects(context, *located, handoff, depth + 1)
        if inner is None:
            complete = False
        else:
            found |= inner.effects
            complete = complete and inner.complete
    return Effects(frozenset(found), complete)


def _parameter(summary: FunctionSummary, qualname: str, arg: Handoff) -> str | None:
    if arg.keyword is not None:
        return arg.keyword if arg.keyword in summary.params else None
    if arg.position is None or "." in qualname:
        return None  # methods: which parameter a positional argument fills is unclear
    return summary.params[arg.position] if arg.position < len(summary.params) else None


def _resolve_written(
    context: FileContext, facts: FileFacts, written: str
) -> tuple[FileFacts, str] | None:
    """A callee as written in the module of ``facts``: through its imports, else a
    function of that module."""
    head, _, rest = written.partition(".")
    target = facts.imports.get(head)
    if target is None:
        return (facts, written) if not rest else None
    return _locate(context, f"{target}.{rest}" if rest else target)


def _summaries(context: FileContext, facts: FileFacts) -> dict[str, FunctionSummary]:
    key = ("summaries", facts.path)
    found = context.semantic.memo.get(key)
    if found is None:
        found = context.semantic.memo[key] = summaries_of(facts)
    return found
