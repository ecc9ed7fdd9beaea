"""Errors the CLI turns into one line and exit 2, kept where importing them is free."""

from __future__ import annotations


class CodemodError(ValueError):
    """A codemod spec that cannot be loaded or arguments it does not take."""
