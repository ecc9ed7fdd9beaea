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
from libcst.metadata.position_provider import PositionProvidingCodegenState

#: (start line, start column, end line, end column); lines 1-based, columns 0-based.
Span = tuple[int, int, int, int]


class _Recorder:
    """Stands in for the provider the codegen state writes to: spans by ``id(node)``."""

    __slots__ = ("_computed", "extents", "outer")

    def __init__(self, outer: frozenset[int] = frozenset()) -> None:
        self._computed: dict[int, Span] = {}
        #: Of the nodes whose ids are in ``outer``: where their code starts and ends,
        #: leading lines included (a span starts at the node's first token).
        self.extents: dict[int, Span] = {}
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
