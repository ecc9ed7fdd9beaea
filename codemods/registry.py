"""The rule registry: every rule module in this package, plus third-party rule packs.

Rule modules are named ``am<code>_<name>.py`` and define one ``Rule`` subclass each, so
adding a rule is adding a file. Third-party packs register classes through the
``asyncmend.codemods`` entry-point group.

Selecting codes reads module names only: a warm run answered from the cache never
imports the rules (nor libcst, which costs about 100 ms to import).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable, Sequence
from functools import cache
from typing import TYPE_CHECKING

from asyncmend.codemods.installed import may_declare_entry_points

if TYPE_CHECKING:
    from asyncmend.codemods.base import Rule

_MODULE = re.compile(r"^am(\d+)_\w+$")


class UnknownRuleError(ValueError):
    """A code or prefix that matches no rule."""


#: Packages whose ``am<code>_<name>.py`` modules are rules: ``rules/`` (where every
#: rule lives) and this package itself (where a branch may still add one).
_RULE_PACKAGES = ("asyncmend.codemods.rules", "asyncmend.codemods")


@cache
def _builtin_modules() -> dict[str, str]:
    """Rule code -> module name, from the file names of the rule packages (found
    without importing any rule)."""
    found = {}
    for package_name in _RULE_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            match = _MODULE.match(info.name)
            if match:
                found.setdefault(f"AM{match.group(1)}", f"{package_name}.{info.name}")
    return found


def _rule_classes(module: object) -> Iterable[type[Rule]]:
    from asyncmend.codemods.base import Rule

    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, Rule)
            and value is not Rule
            and getattr(value, "__module__", None) == getattr(module, "__name__", None)
            and isinstance(getattr(value, "code", None), str)
        ):
            yield value


@cache
def _entry_point_rules() -> tuple[type[Rule], ...]:
    from importlib.metadata import entry_points

    from asyncmend.codemods.base import Rule

    rules: list[type[Rule]] = []
    for entry in entry_points(group="asyncmend.codemods"):
        try:
            loaded = entry.load()
        except Exception:  # a broken third-party pack must not break the tool
            continue
        candidates = [loaded] if isinstance(loaded, type) else list(_rule_classes(loaded))
        rules.extend(c for c in candidates if isinstance(c, type) and issubclass(c, Rule))
    return tuple(rules)


def _has_entry_points() -> bool:
    declared = may_declare_entry_points("asyncmend.codemods")
    if declared is False:
        return False
    from importlib.metadata import entry_points

    return bool(entry_points(group="asyncmend.codemods"))


@cache
def all_codes() -> tuple[str, ...]:
    """Every known rule code, sorted, importing third-party packs only if installed."""
    codes = set(_builtin_modules())
    if _has_entry_points():
        codes |= {rule.code for rule in _entry_point_rules()}
    return tuple(sorted(codes))


@cache
def all_rules() -> tuple[type[Rule], ...]:
    """Every known rule class, sorted by code."""
    return tuple(rule_by_code(code) for code in all_codes())


def rule_by_code(code: str) -> type[Rule]:
    code = code.upper()
    module_name = _builtin_modules().get(code)
    if module_name is not None:
        for rule in _rule_classes(importlib.import_module(module_name)):
            if rule.code == code:
                return rule
    for rule in _entry_point_rules() if _has_entry_points() else ():
        if rule.code == code:
            return rule
    raise UnknownRuleError(f"unknown rule code '{code}' (see `asyncmend rules`)")


def check_selectors(selectors: Sequence[str]) -> None:
    """Raise ``UnknownRuleError`` for a code or prefix that matches no rule."""
    codes = all_codes()
    for selector in selectors:
        if selector.upper() == "ALL":
            continue
        if not any(code.startswith(selector.upper()) for code in codes):
            raise UnknownRuleError(
                f"unknown rule code or prefix '{selector}' (see `asyncmend rules`)"
            )


def select_codes(select: Sequence[str], ignore: Sequence[str] = ()) -> list[str]:
    """Codes chosen by ``select``/``ignore`` codes or prefixes; the longer prefix wins,
    as in ruff (``ALL`` is the empty prefix)."""
    check_selectors([*select, *ignore])

    def norm(items: Sequence[str]) -> list[str]:
        return ["" if s.upper() == "ALL" else s.upper() for s in items]

    chosen_by, left_by = norm(select), norm(ignore)
    chosen = []
    for code in all_codes():
        best_select = max((len(p) for p in chosen_by if code.startswith(p)), default=-1)
        best_ignore = max((len(p) for p in left_by if code.startswith(p)), default=-1)
        if best_select > best_ignore:
            chosen.append(code)
    return chosen
