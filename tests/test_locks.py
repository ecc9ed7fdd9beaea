"""The lock graph (pass-1 facts, canonical order, cycles), its agreement with the
libcst side of the rules, and ``asyncmend locks``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import libcst as cst
import pytest
from conftest import FIXTURES, ROOT, asyncmend, seeded_markers
from libcst.metadata import MetadataWrapper, PositionProvider

from asyncmend.codemods.semantic.lock_graph import build_graph
from asyncmend.codemods.semantic.locks import acquisition_slots, qualified_function_name
from asyncmend.codemods.semantic.tree import iter_descendants
from asyncmend.engine import run
from asyncmend.engine.index import RepoIndex, collect_facts

TRICKY = """
import asyncio
from sqlalchemy import select
from app.models import Account, Order

gate = asyncio.Lock()
other = asyncio.Lock()


class Service:
    guard = asyncio.Semaphore(2)

    async def run(self, session, ids, a, b, flag):
        rows = [await session.get(Account, i, with_for_update=True) for i in ids]
        async with gate:
            x = (await session.get(Order, a, with_for_update=True)) if flag else None
            try:
                async with self.guard, other:
                    y = await session.scalar(select(Account).where(Account.id == b).with_for_update())
            except KeyError:
                async with other:
                    pass
            match flag:
                case 1:
                    async with self.guard:
                        await session.get(Order, b, with_for_update={"read": True})
                case _:
                    pass

        async def inner():
            async with other:
                async with gate:
                    await session.get(Order, a, with_for_update=True)

        return rows, x, y, inner, lambda: session.get(Account, a, with_for_update=True)
"""


def _sources() -> list[Path]:
    found = [p for p in (FIXTURES / "rules").glob("AM50*/**/*.py") if ".expected" not in p.name]
    return [*found, *(ROOT / "tests" / "runtime").glob("*.py"), *FIXTURES.glob("demo/**/*.py")]


def _check_slots(path: str, data: bytes) -> int:
    """Every pass-1 site names a libcst node of its kind on its line; returns the count."""
    facts = collect_facts(path, data)
    sites = facts.extra.get("locks", {}).get("sites", [])
    module = cst.parse_module(data)
    positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    functions: dict[str, cst.FunctionDef] = {}

    def collect(node: cst.CSTNode, ancestors: list[cst.CSTNode]) -> None:
        if isinstance(node, cst.FunctionDef) and node.asynchronous is not None:
            functions[qualified_function_name(node, ancestors)] = node
        for child in cst.CSTNode.children.fget(node):  # type: ignore[attr-defined]
            collect(child, [*ancestors, node])

    collect(module, [])
    for site in sites:
        node = acquisition_slots(functions[site["func"]]).get(tuple(site["slot"]))
        assert node is not None, site
        kind = cst.WithItem if site["slot"][0] == "with" else cst.Await
        assert isinstance(node, kind), site
        line = positions[node.item if isinstance(node, cst.WithItem) else node].start.line
        assert line == site["line"], site
    return len(sites)


def test_pass1_slots_name_the_same_nodes_as_libcst() -> None:
    total = sum(_check_slots(str(p), p.read_bytes()) for p in _sources())
    total += _check_slots("tricky.py", TRICKY.encode())
    assert total > 20


def test_tricky_sites() -> None:
    facts = collect_facts("app/tricky.py", TRICKY.encode())
    edges = {(s["from"][1], s["to"][1], s["line"]) for s in facts.extra["locks"]["sites"]}
    assert ("tricky.gate", "app.models.Order", 16) in edges
    assert ("tricky.Service.guard", "tricky.other", 18) in edges
    # A FOR SHARE lock still waits; nested functions are their own scope.
    assert ("tricky.Service.guard", "app.models.Order", 26) in edges
    assert ("tricky.other", "tricky.gate", 32) in edges
    assert not any(e[0] == "tricky.Service.guard" and e[2] == 32 for e in edges)
    assert not any(e[2] == 35 for e in edges)  # the lambda is not awaited here


def _graph(tmp_path: Path, files: dict[str, str], lock_order: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    index = RepoIndex()
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        index.add(collect_facts(str(path), path.read_bytes()))
    return build_graph(index, lock_order)


LOCKS = "import asyncio\na = asyncio.Lock()\nb = asyncio.Lock()\n"


def _nest(name: str, first: str, second: str) -> str:
    return f"async def {name}():\n    async with {first}:\n        async with {second}:\n            pass\n"


def test_the_order_most_sites_use_wins(tmp_path: Path) -> None:
    source = LOCKS + _nest("f", "b", "a") + _nest("g", "b", "a") + _nest("h", "a", "b")
    graph = _graph(tmp_path, {"m.py": source})
    assert graph.breaking == {(("lock", "m.a"), ("lock", "m.b"))}
    assert [len(c) for c in graph.cycles()] == [2]


def test_ties_are_broken_by_name(tmp_path: Path) -> None:
    graph = _graph(tmp_path, {"m.py": LOCKS + _nest("f", "b", "a") + _nest("h", "a", "b")})
    assert graph.breaking == {(("lock", "m.b"), ("lock", "m.a"))}


def test_configured_order_wins(tmp_path: Path) -> None:
    source = LOCKS + _nest("f", "a", "b") + _nest("g", "a", "b")
    assert not _graph(tmp_path, {"m.py": source}).breaking
    graph = _graph(tmp_path, {"m.py": source}, ("b", "a"))
    assert graph.breaking == {(("lock", "m.a"), ("lock", "m.b"))}
    assert graph.cycles() == []  # against the configured order, but no cycle


def test_consistent_order_is_not_a_cycle(tmp_path: Path) -> None:
    graph = _graph(tmp_path, {"m.py": LOCKS + _nest("f", "a", "b") + _nest("g", "a", "b")})
    assert not graph.breaking and not graph.cycles()


def test_whole_repo_check_reports_each_cycle_once(tmp_path: Path) -> None:
    case = FIXTURES / "rules" / "AM502" / "positive_three_file_cycle"
    for source in case.rglob("*.py"):
        if ".expected" not in source.name:
            target = tmp_path / source.relative_to(case)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    report = run([str(tmp_path)], select=["AM502"], jobs=1)
    assert [(Path(f.path).name, f.line) for f in report.findings] == [("metrics.py", 6)]
    message = report.findings[0].message
    for site in ("worker/jobs.py:6 in claim", "worker/leases.py:6 in expire", "(here)"):
        assert site in message
    # Checking one file alone reports the same cycle (the index covers its package).
    alone = run([str(tmp_path / "worker" / "metrics.py")], select=["AM502"], jobs=1)
    assert [f.message for f in alone.findings] == [message]


@pytest.fixture
def cycle_repo(tmp_path: Path) -> Path:
    package = tmp_path / "shop"
    shutil_case = FIXTURES / "rules" / "AM502" / "positive_nested_cross_file" / "shop"
    package.mkdir()
    for source in shutil_case.glob("*.py"):
        if ".expected" not in source.name:
            (package / source.name).write_bytes(source.read_bytes())
    return tmp_path


def test_locks_command_text(cycle_repo: Path) -> None:
    result = asyncmend("locks", ".", cwd=cycle_repo)
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "2 locks, 2 edges, 1 cycle(s)"
    assert lines[2].startswith("cycle 1: shop.locks.pricing_lock -> shop.locks.inventory_lock")
    assert "    shop/pricing.py:7 in reprice" in lines
    assert result.stdout.index("cycle 1") < result.stdout.index("edges:")


def test_locks_command_dot_and_clean_exit(cycle_repo: Path) -> None:
    result = asyncmend("locks", "--format", "dot", cwd=cycle_repo)
    assert result.stdout.startswith("digraph locks {")
    assert '"shop.locks.pricing_lock" -> "shop.locks.inventory_lock"' in result.stdout
    assert "color=red" in result.stdout
    fixed = asyncmend("fix", ".", "--select", "AM502", cwd=cycle_repo)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    after = asyncmend("locks", ".", cwd=cycle_repo)
    assert after.returncode == 0 and "0 cycle(s)" in after.stdout


def test_locks_command_bad_path(tmp_path: Path) -> None:
    result = asyncmend("locks", "missing", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("asyncmend: error:")


def test_multi_item_with_gives_one_slot_per_item() -> None:
    # The slot numbering depends on pre-order; iter_descendants is the reference order.
    module = cst.parse_module("async def f():\n    async with a, b:\n        pass\n")
    func = next(n for n in iter_descendants(module) if isinstance(n, cst.FunctionDef))
    assert [k for k in acquisition_slots(func)] == [("with", 0), ("with", 1)]


def test_demo_reports_exactly_the_seeded_lock_findings() -> None:
    seeded = {
        (Path(rel).name, line, code)
        for rel, line, code in seeded_markers(FIXTURES / "demo", ("AM501", "AM502"))
    }
    report = run([str(FIXTURES / "demo")], select=["AM501", "AM502"], jobs=1)
    assert {(Path(f.path).name, f.line, f.code) for f in report.findings} == seeded
