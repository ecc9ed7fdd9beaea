"""Source positions of nodes, from one codegen pass.

libcst's ``MetadataWrapper.resolve(PositionProvider)`` also walks the tree with its
visitor machinery and builds a ``CodeRange`` object per node; on service code that
costs about as much as the parse. Only files with findings need positions, and this
module gets them (and the module's code, for suppression comments) from a single
codegen pass with libcst's own position-tracking codegen state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import libcst as cst
from libcst._nodes.internal import CodegenState
from libcst.metadata.position_provider import PositionProvidingCodegenState

#: (start line, start column, end line, end column); lines 1-based, columns 0-based.
Span = tuple[int, int, int, int]


class _Recorder:
    """Stands in for the provider the codegen state writes to: spans by ``id(node)``."""

    __slots__ = ("_computed", "ends", "extents", "outer")

    def __init__(self, outer: frozenset[int] = frozenset()) -> None:
        self._computed: dict[int, Span] = {}
        #: Of the nodes whose ids are in ``outer``: where their code starts and ends,
        #: leading lines included (a span starts at the node's first token).
        self.extents: dict[int, Span] = {}
        #: Of the same nodes: how many tokens the codegen had written after each.
        self.ends: dict[int, int] = {}
        self.outer = outer


class _SpanCodegenState(PositionProvidingCodegenState):
    # The parent keys its provider's map by node (a Python-level __hash__ call per
    # node) and builds CodeRange objects; ids and tuples are several times cheaper.

    def before_codegen(self, node: cst.CSTNode) -> None:
        self._stack.append((self.line, self.column))  # type: ignore[arg-type]

    def after_codegen(self, node: cst.CSTNode) -> None:
        start = self._stack.pop()
        provider = self.provider
        computed = provider._computed  # type: ignore[attr-defined]
        key = id(node)
        if key in provider.outer:  # type: ignore[attr-defined]
            provider.extents[key] = (start[0], start[1], self.line, self.column)  # type: ignore[attr-defined,index]
            provider.ends[key] = len(self.tokens)  # type: ignore[attr-defined]
        if key not in computed:
            computed[key] = (start[0], start[1], self.line, self.column)  # type: ignore[index]

    def record_syntactic_position(
        self,
        node: cst.CSTNode,
        *,
        start_node: cst.CSTNode | None = None,
        end_node: cst.CSTNode | None = None,
    ) -> _SyntacticSpan:
        # A class-based context manager: libcst enters one per statement and expression
        # with parentheses, and a generator-based one cost ~1/6 of the pass.
        return _SyntacticSpan(self, node, start_node, end_node)


class _SyntacticSpan:
    """Records ``node``'s span as the code it wraps is generated, optionally starting at
    ``start_node``'s start and ending at ``end_node``'s end (libcst's protocol)."""

    __slots__ = ("end_node", "node", "start", "start_node", "state")

    def __init__(
        self,
        state: _SpanCodegenState,
        node: cst.CSTNode,
        start_node: cst.CSTNode | None,
        end_node: cst.CSTNode | None,
    ) -> None:
        self.state, self.node, self.start_node, self.end_node = state, node, start_node, end_node
        self.start = (state.line, state.column)

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is not None:
            return  # an error inside (RecursionError) propagates as it is
        state = self.state
        computed = state.provider._computed  # type: ignore[attr-defined]
        start = self.start
        end = (state.line, state.column)
        if self.start_node is not None:
            start = computed[id(self.start_node)][:2]
        if self.end_node is not None:
            end = computed[id(self.end_node)][2:]
        computed[id(self.node)] = (*start, *end)


@dataclass
class Positions:
    """Spans by ``id(node)`` for every node of one tree, and that tree's code."""

    spans: dict[int, Span]
    code: str

    def span(self, node: cst.CSTNode) -> Span:
        return self.spans[id(node)]

    def __contains__(self, node: cst.CSTNode) -> bool:
        return id(node) in self.spans


def compute_positions(module: cst.Module) -> Positions:
    return module_positions(module)[0]


def module_positions(
    module: cst.Module, outer: Sequence[cst.CSTNode] = ()
) -> tuple[Positions, dict[int, Span]]:
    """Every node's span, the module's code, and the extents (leading lines included)
    of the ``outer`` nodes, by id."""
    recorder = _Recorder(frozenset(id(node) for node in outer))
    state = _state(module, recorder)
    module._codegen(state)
    return Positions(recorder._computed, "".join(state.tokens)), recorder.extents


@dataclass
class StatementCodes:
    """The code of each top-level statement of a tree, from its positions pass: a fixed
    tree's code is then these texts for the statements a fix left as they were (the
    same node objects) and a codegen pass of only the others."""

    #: ``id(statement)`` -> (the statement, kept alive so the id stays its own; its code).
    codes: dict[int, tuple[cst.CSTNode, str]]
    default_indent: str
    default_newline: str

    def known(self, statement: cst.CSTNode) -> str | None:
        """The code of ``statement`` when it is one of the statements recorded."""
        found = self.codes.get(id(statement))
        return found[1] if found is not None and found[0] is statement else None

    def code_of(self, module: cst.Module) -> str:
        """``module.code``, generating only the top-level statements not in ``codes``.

        ``Module._codegen_impl`` writes the header, each statement and the footer, and
        a top-level statement's code does not depend on what precedes it (no indent
        is open between statements): the same tokens, joined. A module without its
        trailing newline (whose last token the codegen drops) gets the full pass."""
        if (
            not module.has_trailing_newline
            or module.default_indent != self.default_indent
            or module.default_newline != self.default_newline
        ):
            return module.code
        state = CodegenState(
            default_indent=module.default_indent, default_newline=module.default_newline
        )
        for empty in module.header:
            empty._codegen(state)
        for statement in module.body:
            known = self.known(statement)
            if known is not None:
                state.tokens.append(known)
            else:
                statement._codegen(state)
        for empty in module.footer:
            empty._codegen(state)
        if not state.tokens:
            state.add_token(state.default_newline)
        return "".join(state.tokens)


def positions_and_codes(module: cst.Module, codes: StatementCodes) -> Positions:
    """``compute_positions(module)``, leaving in ``codes`` the code of each top-level
    statement of ``module`` (from the same codegen pass)."""
    outer = (*module.header, *module.body)
    recorder = _Recorder(frozenset(id(node) for node in outer))
    state = _state(module, recorder)
    module._codegen(state)
    tokens = state.tokens
    ends = recorder.ends
    start = ends[id(module.header[-1])] if module.header else 0
    found: dict[int, tuple[cst.CSTNode, str]] = {}
    for statement in module.body:
        end = ends[id(statement)]
        found[id(statement)] = (statement, "".join(tokens[start:end]))
        start = end
    codes.codes = found
    codes.default_indent, codes.default_newline = module.default_indent, module.default_newline
    return Positions(recorder._computed, "".join(tokens))


def statement_positions(
    module: cst.Module, statements: Sequence[tuple[cst.CSTNode, int]]
) -> tuple[Positions, list[str]]:
    """The spans of top-level ``statements`` of ``module``, each given with the line
    (1-based) its code starts on, and each one's code: the positions of the few
    statements an edit changed, without a codegen pass over the rest."""
    recorder = _Recorder()
    codes = []
    for statement, line in statements:
        state = _state(module, recorder)
        state.line = line
        statement._codegen(state)
        codes.append("".join(state.tokens))
    return Positions(recorder._computed, ""), codes


def _state(module: cst.Module, recorder: _Recorder) -> _SpanCodegenState:
    return _SpanCodegenState(
        default_indent=module.default_indent,
        default_newline=module.default_newline,
        provider=recorder,  # type: ignore[arg-type]
    )
