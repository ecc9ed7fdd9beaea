"""What pass 1 records per file, and how collectors register.

A collector is a function ``(tree, facts) -> JSON-able data`` over a stdlib ``ast``
tree, registered with ``@collector(name, triggers=...)`` beside the tokens that must
occur in a file for it to find anything. Its result is stored as ``facts.extra[name]``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

Collector = Callable[[ast.Module, "FileFacts"], Any]
C = TypeVar("C", bound=Collector)


@dataclass
class FileFacts:
    path: str
    module: str | None
    #: Qualified names (``func``, ``Class.method``) of the module's ``async def``s.
    async_defs: list[str] = field(default_factory=list)
    #: Module-level import bindings: local name -> dotted target.
    imports: dict[str, str] = field(default_factory=dict)
    #: Module-level sessionmaker bindings: name -> {"async": bool, "expire_on_commit": bool|None}.
    sessionmakers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Facts from the registered collectors (see ``COLLECTORS``), by collector name.
    extra: dict[str, Any] = field(default_factory=dict)
    #: The file's bytes while pass 1 runs, so a collector can skip work a token rules
    #: out (``b"yield"``); emptied before the facts are stored or sent anywhere.
    source: bytes = field(default=b"", repr=False, compare=False)


#: Registered collectors: name -> function(tree, facts) returning JSON-able data.
COLLECTORS: dict[str, Collector] = {}
#: A collector runs only on files holding one of its tokens (absent: on every file).
COLLECTOR_TRIGGERS: dict[str, tuple[bytes, ...]] = {}


def collector(name: str, *, triggers: tuple[bytes, ...] = ()) -> Callable[[C], C]:
    """Register a pass-1 collector under ``name``, run on files holding one of
    ``triggers`` (every parsed file when empty)."""

    def register(func: C) -> C:
        if name in COLLECTORS:
            raise ValueError(f"two pass-1 collectors named {name!r}")
        COLLECTORS[name] = func
        if triggers:
            COLLECTOR_TRIGGERS[name] = triggers
        return func

    return register


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for an ``ast`` Name/Attribute chain, else None (pass 1's dotted_name)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None
