"""What an ``except`` catches, and which ``try`` statements guard a node."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import libcst as cst

from asyncmend.codemods.semantic.tree import caught_types

if TYPE_CHECKING:
    from asyncmend.codemods.semantic.model import SemanticModel

#: Handlers that catch about anything, the database's errors among them.
BROAD_EXCEPTIONS = frozenset({"Exception", "BaseException", "builtins.Exception"})
#: Packages whose exception classes a failed query, commit or flush raises.
DATABASE_PACKAGES = ("sqlalchemy", "sqlmodel")


def is_broad(handler: cst.ExceptHandler, semantic: SemanticModel) -> bool:
    """A bare ``except``, ``Exception`` or ``BaseException``: it also catches errors that
    have nothing to do with the database."""
    types = caught_types(handler)
    if types is None:
        return True
    return any((semantic.resolve(t) or "") in BROAD_EXCEPTIONS for t in types)


def catches_database_errors(
    handler: cst.ExceptHandler, semantic: SemanticModel, *, also: frozenset[str] = frozenset()
) -> bool:
    """Whether ``handler`` catches what a failed database call raises: a bare ``except``,
    a broad class, a class of ``sqlalchemy``/``sqlmodel``, or one of ``also``."""
    types = caught_types(handler)
    if types is None:
        return True
    for expr in types:
        name = semantic.resolve(expr)
        if name is None:
            continue
        if name in BROAD_EXCEPTIONS or name in also or name.split(".")[0] in DATABASE_PACKAGES:
            return True
    return False


def guarding_tries(ancestors: Sequence[cst.CSTNode]) -> Iterator[cst.Try]:
    """The ``try`` statements whose body (not a handler, ``else`` or ``finally``) holds
    the node ``ancestors`` lead to, innermost last."""
    for index, ancestor in enumerate(ancestors[:-1]):
        if isinstance(ancestor, cst.Try) and ancestors[index + 1] is ancestor.body:
            yield ancestor
