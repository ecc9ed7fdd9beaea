"""Pass 1: per-file facts and the repo index merged from them.

Some rules need the whole repo: which functions are coroutines (missing await), whether
a sessionmaker sets ``expire_on_commit=False`` (read-after-commit), which dependency
yields the request session, which locks are taken in which order. Facts are collected
with the standard library's ``ast`` (several times cheaper than a libcst parse); a file
``ast`` cannot read (syntax newer than the running Python) is read by libcst and lowered
(``codemods.facts.parse``), so it still contributes its facts.

Facts are plain data (picklable, JSON-able), cached by content hash.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

# Importing ``collectors`` registers every pass-1 collector of the rules.
from asyncmend.codemods.facts import collectors, source_lines  # noqa: F401
from asyncmend.codemods.facts.base import (
    COLLECTOR_TRIGGERS,
    COLLECTORS,
    FileFacts,
    dotted,
    release_closure,
)
from asyncmend.codemods.facts.parse import parse_for_facts
from asyncmend.codemods.facts.sessions import async_def_kinds
from asyncmend.codemods.facts.transactions import expire_on_commit_of

#: Bytes that must occur in a file for pass 1 to parse it at all.
FACT_TRIGGERS: tuple[bytes, ...] = (
    b"async ",
    b"sessionmaker",
    b"AsyncSession",
    b"Lock(",
    b"FastAPI(",
    b"APIRouter(",
    b"relationship(",
    b"Relationship(",
    b"__tablename__",
    b"table=True",
    b"Semaphore(",
    b"Condition(",
    b"Depends(",
    b"create_async_engine",
    b"AsyncEngine",
    # A sync session (a script, a worker) reads relationships by lazy loads that work (AM602).
    b"Session(",
    b"scoped_session(",
)


@lru_cache(maxsize=4096)
def _real_folder(folder: str) -> str:
    """A folder's path with its symlinks resolved: every file of a folder asks for the
    same one (resolving looks up each part of the path). Remembered for the process:
    a folder symlink that changes under a running language server is not seen."""
    return os.path.realpath(folder)


def module_name_for(path: str | Path) -> str | None:
    """Dotted module name of a file, from the folders above it that are packages.
    (``os.path`` on strings: pass 1 asks it for every file, and ``Path`` objects cost
    more than the lookups.)"""
    file = os.fspath(path)
    file = file.rstrip(os.sep) or file
    name = os.path.basename(file)
    dot = name.rfind(".")  # pathlib's suffix: none for ``.py`` or ``name.``
    if not 0 < dot < len(name) - 1 or name[dot:] not in (".py", ".pyi"):
        return None
    stem = name[:dot]
    parts = [] if stem == "__init__" else [stem]
    if os.path.isabs(file) and not os.path.islink(file):
        folder = _real_folder(os.path.dirname(file))
    else:
        folder = os.path.dirname(os.path.realpath(file))
    while os.path.isfile(os.path.join(folder, "__init__.py")):
        head, name = os.path.split(folder)
        parts.insert(0, name)
        if head == folder:
            break
        folder = head
    return ".".join(parts) or None


#: A module-level ``def`` annotated to return one named type (``-> Adapter:``; the line
#: of a multi-line header's closing parenthesis included): a factory whose result's
#: methods may give sessions (``returned_classes``). Generics and unions do not match.
_RETURNS_ONE_TYPE = re.compile(
    rb"^(?:(?:async )?def [^\n]*\)|\))\s*->\s*[\"']?([A-Za-z_][\w.]*)[\"']?\s*:", re.MULTILINE
)
#: Return types that are no class of the repo.
_NOT_FACTORY_TYPES = frozenset(
    {b"None", b"str", b"int", b"float", b"bool", b"bytes", b"dict", b"list", b"set", b"tuple",
     b"frozenset", b"complex", b"object", b"type", b"Any", b"NoReturn", b"Never", b"Self"}
)  # fmt: skip


def may_return_class(data: bytes) -> bool:
    """Pass 1 must read a file without its other tokens: it may define a factory."""
    return any(m.group(1) not in _NOT_FACTORY_TYPES for m in _RETURNS_ONE_TYPE.finditer(data))


def collect_facts(path: str, data: bytes) -> FileFacts:
    """Pass 1 for one file."""
    return read_facts(path, data)[0]


def read_facts(path: str, data: bytes) -> tuple[FileFacts, ast.Module | None]:
    """Pass 1 for one file, and the tree it read when CPython's parser read the file as
    it is (the candidate gate may walk it: ``engine/replay.py``)."""
    facts = FileFacts(path=path, module=module_name_for(path))
    # A package's __init__ often only re-exports (``from .users import create_user``):
    # its imports are what resolves ``package.create_user`` to the coroutine.
    if (
        not any(token in data for token in FACT_TRIGGERS)
        and not path.endswith("__init__.py")
        and not may_return_class(data)
    ):
        return facts, None
    tree, lines_match = parse_for_facts(data)
    if tree is None:
        return facts, None
    _collect_module_level(tree, facts)
    facts.source, facts.lines_match = data, lines_match
    holds = _TokenTest(data)
    for name, collector in COLLECTORS.items():
        tokens = COLLECTOR_TRIGGERS.get(name)
        if tokens is None or holds.any(tokens):
            facts.extra[name] = collector(tree, facts)
    facts.source, facts.lines_match = b"", True
    source_lines.forget()
    # A lowered tree is no tree of the file for the candidate gate.
    return facts, tree if lines_match else None


class _TokenTest:
    """Which collectors' trigger tokens a file holds, each token searched for once: the
    collectors share many (``yield``, ``Depends``, ``Session``), and a token that holds
    a shorter one found missing is missing too (``AsyncSession(`` without ``Session``)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.found: dict[bytes, bool] = {}

    def any(self, tokens: tuple[bytes, ...]) -> bool:
        found = self.found
        if any(found.get(token) for token in tokens):
            return True
        for token in tokens:
            known = found.get(token)
            if known is None:
                known = found[token] = (
                    not any(not found.get(part, True) for part in _PARTS[token])
                    and token in self.data
                )
            if known:
                return True
        return False


def _shorter_parts(tokens: Iterable[bytes]) -> dict[bytes, tuple[bytes, ...]]:
    """Each token -> the other (shorter) tokens it contains."""
    tokens = set(tokens)
    return {t: tuple(p for p in tokens if p != t and p in t) for t in tokens}


_PARTS = _shorter_parts(token for tokens in COLLECTOR_TRIGGERS.values() for token in tokens)


def _resolve_relative(module: str | None, level: int, target: str | None, is_package: bool) -> str:
    if level == 0:
        return target or ""
    parts = (module or "").split(".")
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join([*parts, target] if target else parts)


def _collect_module_level(tree: ast.Module, facts: FileFacts) -> None:
    is_package = facts.path.endswith("__init__.py")

    listed: set[str] = set()  # what `async_defs` may hold: a set answers `in` at once

    def defs(body: Iterable[ast.stmt], prefix: str) -> None:
        for stmt in body:
            if isinstance(stmt, ast.AsyncFunctionDef):
                facts.async_defs.append(prefix + stmt.name)
                listed.add(prefix + stmt.name)
            elif (
                isinstance(stmt, ast.FunctionDef)
                and prefix + stmt.name in listed
                and prefix + stmt.name in facts.async_defs
            ):
                # A later plain def rebinds the name (`@overload async def` stubs
                # before a sync implementation): calling it returns no coroutine.
                facts.async_defs.remove(prefix + stmt.name)
            elif isinstance(stmt, ast.ClassDef):
                defs(stmt.body, f"{prefix}{stmt.name}.")
            elif isinstance(stmt, (ast.If, ast.Try)):
                defs(stmt.body, prefix)

    defs(tree.body, "")
    release_closure(defs)
    for stmt in _module_level_statements(tree.body):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                local = alias.asname or alias.name.split(".")[0]
                facts.imports[local] = alias.name if alias.asname else local
        elif isinstance(stmt, ast.ImportFrom):
            base = _resolve_relative(facts.module, stmt.level, stmt.module, is_package)
            for alias in stmt.names:
                if alias.name != "*":
                    facts.imports[alias.asname or alias.name] = f"{base}.{alias.name}".lstrip(".")
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and isinstance(stmt.value, ast.Call):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            callee = dotted(stmt.value.func) or ""
            leaf = callee.rsplit(".", 1)[-1]
            if leaf in ("async_sessionmaker", "sessionmaker"):
                # The default is True; None when `**kwargs` or a non-literal may set it.
                expire = expire_on_commit_of(stmt.value)
                is_async = leaf == "async_sessionmaker" or any(
                    k.arg == "class_" and (dotted(k.value) or "").endswith("AsyncSession")
                    for k in stmt.value.keywords
                )
                for target in targets:
                    if isinstance(target, ast.Name):
                        facts.sessionmakers[target.id] = {
                            "async": is_async,
                            "expire_on_commit": expire,
                        }


def _module_level_statements(body: Iterable[ast.stmt]) -> Iterable[ast.stmt]:
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If):
            yield from _module_level_statements(stmt.body)
            yield from _module_level_statements(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            yield from _module_level_statements(stmt.body)
            for handler in stmt.handlers:
                yield from _module_level_statements(handler.body)


def _compact(facts: FileFacts) -> None:
    """Keep a file's facts small: the index lives in the main process and in every
    worker for the whole run. Names repeat across files (``typing.Optional``,
    ``sqlalchemy.select``): one interned copy each; a collector that found nothing
    leaves no entry (``Fact.of`` answers its empty value)."""
    intern = sys.intern
    facts.imports = {intern(local): intern(target) for local, target in facts.imports.items()}
    facts.async_defs = [intern(name) for name in facts.async_defs]
    if facts.module:
        facts.module = intern(facts.module)
    facts.extra = {name: value for name, value in facts.extra.items() if value}


class RepoIndex:
    """The merged facts of every file of a run."""

    def __init__(self, facts: Iterable[FileFacts] = ()) -> None:
        self.by_path: dict[str, FileFacts] = {}
        self.by_module: dict[str, FileFacts] = {}
        self._changes = 0
        for item in facts:
            self.add(item)

    def state(self) -> tuple[int, int]:
        """Changes whenever the facts held change: ``add`` counts its changes, and a
        file dropped from ``by_path`` (an editor's deleted file) changes its size."""
        return self._changes, len(self.by_path)

    def add(self, facts: FileFacts) -> bool:
        """Hold ``facts`` for its file; whether they differ from those held before (an
        editor's buffer: only then can another file's result have changed)."""
        _compact(facts)
        if self.by_path.get(facts.path) == facts:
            return False
        self.by_path[facts.path] = facts
        self._changes += 1
        if facts.module:
            self.by_module[facts.module] = facts
        return True

    def __len__(self) -> int:
        return len(self.by_path)

    def module_name_for(self, path: str) -> str | None:
        facts = self.by_path.get(path)
        return facts.module if facts else module_name_for(path)

    def resolve(self, dotted: str, _depth: int = 0) -> str:
        """Follow re-exports: ``app.services.create_user`` -> ``app.services.users.create_user``."""
        module, _, name = dotted.rpartition(".")
        facts = self.by_module.get(module)
        if facts is None or _depth > 10:
            return dotted
        target = facts.imports.get(name)
        if target and target != dotted:
            return self.resolve(target, _depth + 1)
        return dotted

    def is_coroutine_function(self, dotted: str) -> bool:
        """Whether ``module.func`` or ``module.Class.method`` is an ``async def`` of the repo."""
        dotted = self.resolve(dotted)
        for split in range(dotted.count("."), 0, -1):
            parts = dotted.split(".")
            module, qualname = ".".join(parts[:split]), ".".join(parts[split:])
            facts = self.by_module.get(module)
            if facts is not None:
                # Async generators and asynccontextmanager functions return no coroutine.
                kind = async_def_kinds.of(facts).get(qualname)
                return qualname in facts.async_defs and kind not in ("generator", "contextmanager")
        return False
