"""Which version of a library is installed where asyncmend runs (the project's
environment when asyncmend is installed into it): rules whose fix needs a newer API
offer it only when the installed version has it."""

from __future__ import annotations

import re
from functools import cache
from importlib import metadata


@cache
def installed_version(distribution: str) -> tuple[int, ...] | None:
    """``(0, 121, 0)`` for the installed distribution, None when it is not installed
    (or its version does not start with numbers)."""
    try:
        text = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
    match = re.match(r"\d+(?:\.\d+)*", text)
    return tuple(int(part) for part in match.group(0).split(".")) if match else None


def has_at_least(distribution: str, *minimum: int) -> bool:
    """Whether ``distribution`` is installed at ``minimum`` or newer."""
    version = installed_version(distribution)
    return version is not None and version >= minimum
