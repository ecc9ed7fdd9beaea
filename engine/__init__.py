"""The asyncmend engine: discovery, config, repo index, runner, diffs, safe writes.

``from asyncmend.engine import run`` is the Python API (see ``asyncmend.engine.api``).
Imports are lazy so that ``asyncmend --help`` and warm runs start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncmend.engine.api import ApplyResult, Report, run

__all__ = ["ApplyResult", "Report", "run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from asyncmend.engine import api

        return getattr(api, name)
    raise AttributeError(name)
