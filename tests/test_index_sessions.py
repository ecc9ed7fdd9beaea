"""Pass-1 facts the session rules read, and the repo index across files."""

from __future__ import annotations

import shutil
from pathlib import Path

from asyncmend.engine import run
from asyncmend.engine.index import RepoIndex, collect_facts

ROOT = Path(__file__).resolve().parent.parent
CROSS = ROOT / "fixtures" / "rules" / "AM204" / "positive_cross_module"

SOURCE = b"""
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession


async def plain() -> None: ...


async def rows():
    yield 1


@asynccontextmanager
async def transaction():
    yield None


@retry(times=3)
async def flaky() -> None: ...


class Repo:
    @staticmethod
    async def load() -> None: ...

    async def stream(self):
        def inner():
            yield 2
        return inner


ScopedDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
RequestDep = Annotated[AsyncSession, Depends(get_session)]
"""


def test_async_def_kinds_and_alias_scopes() -> None:
    facts = collect_facts("pkg/mod.py", SOURCE)
    assert facts.extra["async_def_kinds"] == {
        "rows": "generator",
        "transaction": "contextmanager",
        "flaky": "decorated",
    }
    assert facts.extra["session_alias_depends"] == {"ScopedDep": "function", "RequestDep": ""}
    index = RepoIndex([facts])
    module = facts.module
    assert index.is_coroutine_function(f"{module}.plain")
    assert index.is_coroutine_function(f"{module}.Repo.load")
    assert index.is_coroutine_function(f"{module}.Repo.stream")  # the yield is nested
    assert not index.is_coroutine_function(f"{module}.rows")
    assert not index.is_coroutine_function(f"{module}.transaction")


def test_package_init_reexports_are_indexed() -> None:
    facts = collect_facts("shop/services/__init__.py", b"from .users import create_user\n")
    # No async token in the file, but its re-exports are what resolves the coroutine.
    assert facts.imports["create_user"].endswith("users.create_user")


def test_checking_one_file_still_knows_the_rest_of_its_package(tmp_path: Path) -> None:
    root = tmp_path / "case"
    shutil.copytree(CROSS, root, ignore=shutil.ignore_patterns("*.expected.py"))
    target = root / "shop" / "routers" / "users.py"
    report = run([str(target)], select=["AM204"], jobs=1)
    assert report.files_checked == 1
    assert sorted(f.line for f in report.findings) == [15, 16, 22]
    assert any("shop.services.users.create_user" in f.message for f in report.findings)


FACTORIES = b"""
import functools
from typing import Optional

from app.db import Adapter
from app.plugins import register


class Local:
    pass


@functools.lru_cache(maxsize=None)
def cached() -> Adapter: ...


async def opened() -> "Local": ...


def optional() -> Optional[Adapter]: ...


def either() -> Adapter | None: ...


@register
def wrapped() -> Adapter: ...


def rebound() -> Adapter: ...


rebound = register(rebound)


def builtin() -> dict: ...
"""


def test_returned_classes_name_one_class_of_an_undecorated_or_cached_factory() -> None:
    """A file with no other pass-1 token is still read (its factories' annotations), and
    only a factory annotated with one class, undecorated or cached, not rebound, counts."""
    facts = collect_facts("app/factory.py", FACTORIES)
    assert facts.extra["returned_classes"] == {
        "cached": {"class": "app.db.Adapter", "local": False, "async": False},
        "opened": {"class": "Local", "local": True, "async": True},
    }
    sync_only = b"from app.db import Adapter\n\n\ndef get(\n    url: str,\n) -> Adapter: ...\n"
    assert collect_facts("app/sync.py", sync_only).extra["returned_classes"] == {
        "get": {"class": "app.db.Adapter", "local": False, "async": False}
    }
    assert collect_facts("app/other.py", b"def f() -> dict:\n    return {}\n").extra == {}
