"""Source positions of nodes, from one codegen pass.

libcst's ``MetadataWrapper.resolve(PositionProvider)`` also walks the tree with its
visitor machinery and builds a ``CodeRange`` object per node; on service code that
costs about as much as the parse. Only files with findings need positions, and this
module gets them (and the module's code, for suppression comments) from a single
codegen pass with libcst's own position-tracking codegen state.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import libcst as cst
from libcst.metadata.position_provider import PositionProvidingCodegenState

#: (start line, start column, end line, end column); lines 1-based, columns 0-based.
Span = tuple[int, int, int, int]


class _Recorder:
    """Stands in for the provider the codegen state writes to: spans by ``id(node)``."""

    __slots__ = ("_computed",)

    def __init__(self) -> None:
        self._computed: dict[int, Span] = {}


class _SpanCodegenState(PositionProvidingCodegenState):
    # The parent keys its provider's map by node (a Python-level __hash__ call per
    # node) and builds CodeRange objects; ids and tuples are several times cheaper.

    def before_codegen(self, node: cst.CSTNode) -> None:
        self._stack.append((self.line, self.column))  # type: ignore[arg-type]

    def after_codegen(self, node: cst.CSTNode) -> None:
        start = self._stack.pop()
        computed = self.provider._computed  # type: ignore[attr-defined]
        key = id(node)
        if key not in computed:
            computed[key] = (start[0], start[1], self.line, self.column)  # type: ignore[index]

    @contextmanager
    def record_syntactic_position(
        self,
        node: cst.CSTNode,
        *,
        start_node: cst.CSTNode | None = None,
        end_node: cst.CSTNode | None = None,
    ) -> Iterator[None]:
        start = (self.line, self.column)
        yield  # an error inside (RecursionError) propagates as it is
        computed = self.provider._computed  # type: ignore[attr-defined]
        end = (self.line, self.column)
        if start_node is not None:
            start = computed[id(start_node)][:2]
        if end_node is not None:
            end = computed[id(end_node)][2:]
        computed[id(node)] = (*start, *end)


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
    recorder = _Recorder()
    state = _SpanCodegenState(
        default_indent=module.default_indent,
        default_newline=module.default_newline,
        provider=recorder,  # type: ignore[arg-type]
    )
    module._codegen(state)
    return Positions(recorder._computed, "".join(state.tokens))
