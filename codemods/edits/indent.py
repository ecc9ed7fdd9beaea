"""Re-indentation edits: keep continuation lines in step when a fix moves an
expression to another indentation."""

from __future__ import annotations

import libcst as cst


class _ShiftContinuations(cst.CSTTransformer):
    """Move the continuation lines of an expression left (``remove``) or right (``add``)
    when the expression itself moves to another indentation."""

    def __init__(self, remove: str, add: str) -> None:
        super().__init__()
        self.remove = remove
        self.add = add

    def _shift(self, text: str) -> str:
        if self.remove and text.startswith(self.remove):
            text = text[len(self.remove) :]
        return self.add + text

    def leave_ParenthesizedWhitespace(
        self, original_node: cst.ParenthesizedWhitespace, updated_node: cst.ParenthesizedWhitespace
    ) -> cst.ParenthesizedWhitespace:
        lines = [
            line.with_changes(whitespace=cst.SimpleWhitespace(self._shift(line.whitespace.value)))
            if line.indent and line.comment is not None
            else line
            for line in updated_node.empty_lines
        ]
        if not updated_node.indent:
            return updated_node.with_changes(empty_lines=lines)
        return updated_node.with_changes(
            empty_lines=lines,
            last_line=cst.SimpleWhitespace(self._shift(updated_node.last_line.value)),
        )


def shift_continuations(node: cst.CSTNodeT, *, remove: str = "", add: str = "") -> cst.CSTNodeT:
    """``node`` with its continuation lines re-indented (nothing to do on one line)."""
    if not remove and not add:
        return node
    return node.visit(_ShiftContinuations(remove, add))  # type: ignore[return-value]


def continuation_offset(whitespace: object) -> str:
    """How far right of the statement an argument starting after ``whitespace`` sits."""
    if isinstance(whitespace, cst.ParenthesizedWhitespace) and whitespace.indent:
        return whitespace.last_line.value
    return ""
