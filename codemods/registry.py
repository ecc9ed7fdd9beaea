"""The rule registry: every rule module in this package, plus third-party rule packs.

Rule modules are named ``am<code>_<name>.py`` and define one ``Rule`` subclass each, so
adding a rule is adding a file. Third-party packs register classes through the
``asyncmend.codemods`` entry-point group.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterable, Sequence
from functools import cache

from asyncmend.codemods.base import Rule

_CODE = re.compile(r"^[A-Z]+[0-9]+$")


class UnknownRuleError(ValueError):
    """A code or prefix that matches no rule."""


def _rule_classes(module: object) -> Iterable[type[Rule]]:
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
def all_rules() -> tuple[type[Rule], ...]:
    """Every known rule, sorted by code."""
    import asyncmend.codemods as package

    found: dict[str, type[Rule]] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if re.match(r"am\d+_", info.name):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for rule in _rule_classes(module):
                found[rule.code] = rule
    for rule in _entry_point_rules():
        found.setdefault(rule.code, rule)
    return tuple(found[code] for code in sorted(found))


def _entry_point_rules() -> list[type[Rule]]:
    from importlib.metadata import entry_points

    rules: list[type[Rule]] = []
    for entry in entry_points(group="asyncmend.codemods"):
        try:
            loaded = entry.load()
        except Exception:  # a broken third-party pack must not break the tool
            continue
        candidates = [loaded] if isinstance(loaded, type) else list(_rule_classes(loaded))
        rules.extend(c for c in candidates if isinstance(c, type) and issubclass(c, Rule))
    return rules


def rule_by_code(code: str) -> type[Rule]:
    for rule in all_rules():
        if rule.code == code.upper():
            return rule
    raise UnknownRuleError(f"unknown rule code '{code}' (see `asyncmend rules`)")


def check_selectors(selectors: Sequence[str]) -> None:
    """Raise ``UnknownRuleError`` for a code or prefix that matches no rule."""
    codes = [rule.code for rule in all_rules()]
    for selector in selectors:
        if selector.upper() == "ALL":
            continue
        if not any(code.startswith(selector.upper()) for code in codes):
            raise UnknownRuleError(
                f"unknown rule code or prefix '{selector}' (see `asyncmend rules`)"
            )


def select_rules(select: Sequence[str], ignore: Sequence[str] = ()) -> list[type[Rule]]:
    """Rules chosen by ``select``/``ignore`` codes or prefixes (the longer prefix wins)."""
    from asyncmend.engine.config import selected

    check_selectors([*select, *ignore])
    norm = lambda items: ["" if s.upper() == "ALL" else s.upper() for s in items]  # noqa: E731
    by_code = {rule.code: rule for rule in all_rules()}
    return [by_code[c] for c in selected(list(by_code), norm(select), norm(ignore))]
