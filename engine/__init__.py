"""The asyncmend engine: discovery, config, repo index, runner, diffs, safe writes.

``from asyncmend.engine import run`` is the Python API (see ``asyncmend.engine.api``),
with ``run_source`` for source held in memory and the exceptions it raises for bad
input. Imports are lazy so that ``asyncmend --help`` and warm runs start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncmend.codemods.registry import UnknownRuleError
    from asyncmend.engine.api import ApplyResult, Report, run, run_source
    from asyncmend.engine.baseline import BaselineError
    from asyncmend.engine.config import ConfigError
    from asyncmend.engine.discovery import DiscoveryError
    from asyncmend.engine.errors import CodemodError
    from asyncmend.engine.git import GitError
    from asyncmend.engine.results import FileResult, Finding

#: Public name -> the module that defines it (imported on first use).
_EXPORTS = {
    "ApplyResult": "asyncmend.engine.api",
    "Report": "asyncmend.engine.api",
    "run": "asyncmend.engine.api",
    "run_source": "asyncmend.engine.api",
    "FileResult": "asyncmend.engine.results",
    "Finding": "asyncmend.engine.results",
    "ConfigError": "asyncmend.engine.config",
    "DiscoveryError": "asyncmend.engine.discovery",
    "GitError": "asyncmend.engine.git",
    "CodemodError": "asyncmend.engine.errors",
    "BaselineError": "asyncmend.engine.baseline",
    "UnknownRuleError": "asyncmend.codemods.registry",
}

__all__ = [
    "ApplyResult",
    "BaselineError",
    "CodemodError",
    "ConfigError",
    "DiscoveryError",
    "FileResult",
    "Finding",
    "GitError",
    "Report",
    "UnknownRuleError",
    "run",
    "run_source",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'asyncmend.engine' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
