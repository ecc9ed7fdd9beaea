"""Pass 1: per-file facts and the repo index merged from them.

Some rules need the whole repo: which functions are coroutines (missing await), whether
a sessionmaker sets ``expire_on_commit=False`` (read-after-commit), which dependency
yields the request session, which locks are taken in which order. Facts are collected
with the standard library's ``ast`` (several times cheaper than a libcst parse); a file
``ast`` cannot read (syntax newer than the running Python) contributes no facts.

Facts are plain data (picklable, JSON-able), cached by content hash.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
)


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
    #: Facts from extra collectors (see ``COLLECTORS``), by collector name.
    extra: dict[str, Any] = field(default_factory=dict)
    #: The file's bytes while pass 1 runs, so a collector can skip work a token rules
    #: out (``b"yield"``); emptied before the facts are stored or sent anywhere.
    source: bytes = field(default=b"", repr=False, compare=False)


#: Extra fact collectors: name -> function(tree, facts) returning JSON-able data.
#: Rule families register theirs here so the index stays one pass.
COLLECTORS: dict[str, Callable[[ast.Module, FileFacts], Any]] = {}
#: Optional prefilter of a collector: it runs only on files holding one of these bytes.
COLLECTOR_TRIGGERS: dict[str, tuple[bytes, ...]] = {}


def module_name_for(path: str | Path) -> str | None:
    """Dotted module name of a file, from the folders above it that are packages."""
    file = Path(path)
    if file.suffix not in (".py", ".pyi"):
        return None
    parts = [] if file.stem == "__init__" else [file.stem]
    folder = file.resolve().parent
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        if folder.parent == folder:
            break
        folder = folder.parent
    return ".".join(parts) or None


def collect_facts(path: str, data: bytes) -> FileFacts:
    """Pass 1 for one file."""
    facts = FileFacts(path=path, module=module_name_for(path))
    # A package's __init__ often only re-exports (``from .users import create_user``):
    # its imports are what resolves ``package.create_user`` to the coroutine.
    if not any(token in data for token in FACT_TRIGGERS) and not path.endswith("__init__.py"):
        return facts
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError):
        return facts
    _collect_module_level(tree, facts)
    _load_collectors()
    facts.source = data
    for name, collector in COLLECTORS.items():
        tokens = COLLECTOR_TRIGGERS.get(name)
        if tokens is None or any(token in data for token in tokens):
            facts.extra[name] = collector(tree, facts)
    facts.source = b""
    return facts


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for an ``ast`` Name/Attribute chain, else None (pass 1's dotted_name)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


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

    def defs(body: Iterable[ast.stmt], prefix: str) -> None:
        for stmt in body:
            if isinstance(stmt, ast.AsyncFunctionDef):
                facts.async_defs.append(prefix + stmt.name)
            elif isinstance(stmt, ast.ClassDef):
                defs(stmt.body, f"{prefix}{stmt.name}.")
            elif isinstance(stmt, (ast.If, ast.Try)):
                defs(stmt.body, prefix)

    defs(tree.body, "")
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
                expire: bool | None = None
                for keyword in stmt.value.keywords:
                    if keyword.arg == "expire_on_commit" and isinstance(
                        keyword.value, ast.Constant
                    ):
                        expire = bool(keyword.value.value)
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


class RepoIndex:
    """The merged facts of every file of a run."""

    def __init__(self, facts: Iterable[FileFacts] = ()) -> None:
        self.by_path: dict[str, FileFacts] = {}
        self.by_module: dict[str, FileFacts] = {}
        for item in facts:
            self.add(item)

    def add(self, facts: FileFacts) -> None:
        self.by_path[facts.path] = facts
        if facts.module:
            self.by_module[facts.module] = facts

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
                kind = facts.extra.get("async_def_kinds", {}).get(qualname)
                return qualname in facts.async_defs and kind not in ("generator", "contextmanager")
        return False

    def sessionmaker_expires_on_commit(self) -> bool:
        """False when some async sessionmaker of the repo sets ``expire_on_commit=False``
        and none leaves it on (the default is True)."""
        seen = [
            info["expire_on_commit"]
            for facts in self.by_path.values()
            for info in facts.sessionmakers.values()
            if info["async"]
        ]
        if not seen:
            return True
        return any(value is not False for value in seen)


def _mentions_session(node: ast.AST | None) -> bool:
    return node is not None and any(
        (isinstance(n, ast.Name) and n.id == "AsyncSession")
        or (isinstance(n, ast.Attribute) and n.attr == "AsyncSession")
        for n in ast.walk(node)
    )


def _session_aliases(tree: ast.Module, facts: FileFacts) -> list[str]:
    """``SessionDep = Annotated[AsyncSession, Depends(get_session)]`` and the like."""
    return [
        target.id
        for stmt in tree.body
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Subscript)
        and _mentions_session(stmt.value)
        for target in stmt.targets
        if isinstance(target, ast.Name)
    ]  # fmt: skip


def _session_dependencies(tree: ast.Module, facts: FileFacts) -> list[str]:
    """Module-level generator functions that yield an AsyncSession (FastAPI dependencies):
    annotated ``-> AsyncIterator[AsyncSession]``, or yielding from ``async with
    <sessionmaker>() as s``. One walk per function."""
    makers = set(facts.sessionmakers) | {"AsyncSession"}
    found = []
    for stmt in tree.body:
        if not isinstance(stmt, (ast.AsyncFunctionDef, ast.FunctionDef)):
            continue
        has_yield = opens_session = False
        for node in ast.walk(stmt):
            if isinstance(node, ast.Yield):
                has_yield = True
            elif isinstance(node, ast.AsyncWith):
                opens_session = opens_session or any(
                    isinstance(item.context_expr, ast.Call)
                    and (dotted(item.context_expr.func) or "").rsplit(".", 1)[-1] in makers
                    for item in node.items
                )
        if has_yield and (opens_session or _mentions_session(stmt.returns)):
            found.append(stmt.name)
    return found


COLLECTORS["session_aliases"] = _session_aliases
COLLECTORS["session_dependencies"] = _session_dependencies

#: Modules that register more collectors when imported; loaded on the first pass-1
#: parse (not at import: a warm run answered from the cache never needs them).
COLLECTOR_MODULES: list[str] = [
    # Route facts (app and router objects, ORM models) live with the rules that use them.
    "asyncmend.codemods._route_facts",
    "asyncmend.codemods._transactions_facts",
    "asyncmend.engine.lock_facts",
    "asyncmend.engine.facts_sessions",
]


def _load_collectors() -> None:
    import importlib

    for name in COLLECTOR_MODULES:
        importlib.import_module(name)


# A collector runs only on files that hold one of its tokens (it would find nothing else).
COLLECTOR_TRIGGERS.update(
    {
        "session_aliases": (b"AsyncSession",),
        "session_dependencies": (b"yield",),
        "dependency_factories": (b"yield",),
        "alias_dependencies": (b"Depends",),
        "no_result_handlers": (b"exception_handler",),
        "sessionmaker_calls": (b"sessionmaker", b"AsyncSession("),
        "app_objects": (b"FastAPI", b"APIRouter"),
        "orm_relationships": (b"elationship",),
        "type_aliases": (b"Annotated",),
    }
)
