"""The tree pass 1 reads: stdlib ``ast`` where the running Python accepts the file,
else libcst (which reads newer syntax) rewritten into code that ``ast`` accepts.

Real repositories use syntax newer than the Python running the tool (PEP 695 type
parameters and ``type`` aliases, PEP 758 ``except A, B:``). Dropping such files would
drop their ``async def``s and sessionmaker settings from the repo index. Instead of a
libcst twin of every collector, the file is parsed with libcst, the newer syntax is
lowered to an equivalent for the collectors' purpose (type parameters removed, ``type
X = Y`` as ``X = Y``, ``except A, B:`` as ``except (A, B):``; line numbers kept), and
``ast`` reads the result: one collector per fact, whatever the syntax.
"""

from __future__ import annotations

import ast


def parse_for_facts(data: bytes) -> tuple[ast.Module | None, bool]:
    """The tree pass 1 collects from (``ast`` directly, else the lowered libcst tree;
    None when neither reads the file), and whether its line numbers are the file's
    (a lowered tree's may shift: a type parameter list over several lines goes)."""
    try:
        return ast.parse(data), True
    except (SyntaxError, ValueError):
        pass
    except RecursionError:
        return None, False
    # Only files the running Python rejects pay for libcst (its import included).
    from asyncmend.codemods.facts import lowering

    return lowering.lowered(data), False
