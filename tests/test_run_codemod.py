"""``asyncmend run CODEMOD``: user libcst codemods and asyncmend rules through the same
pipeline, the Python API, and third-party rule packs through entry points."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from conftest import FIXTURES, asyncmend, snapshot
from rule_packs import cli_with, make_rule_pack

MIGRATIONS = FIXTURES / "migrations"
RENAME = f"{MIGRATIONS / 'rename_dependency.py'}:RenameDependency"


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    target = tmp_path / "shop"
    shutil.copytree(MIGRATIONS / "sample", target)
    return target


def test_rename_dependency_diff_then_fix(shop: Path) -> None:
    before = snapshot(shop)
    review = asyncmend("run", RENAME, "--diff", cwd=shop)
    assert review.returncode == 1, review.stderr
    assert snapshot(shop) == before  # a diff writes nothing
    assert "-from app.db import get_db\n+from app.db import get_session\n" in review.stdout
    assert "+Session = Annotated[AsyncSession, Depends(deps.get_session)]\n" in review.stdout
    assert review.stderr.strip() == "Would change 4 file(s) with RenameDependency"
    # the diff is the default, and it is a patch git can check
    assert asyncmend("run", RENAME, cwd=shop).stdout == review.stdout

    applied = asyncmend("run", RENAME, "--fix", cwd=shop)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Changed 4 file(s) with RenameDependency." in applied.stderr
    assert snapshot(shop) == snapshot(MIGRATIONS / "expected")
    # strings and comments that mention the old name are left alone
    assert 'print("overrode get_db")' in (shop / "app" / "testing.py").read_text()
    # a second run changes nothing
    again = asyncmend("run", RENAME, "--diff", cwd=shop)
    assert again.returncode == 0 and again.stdout == ""


def test_codemod_arguments(shop: Path) -> None:
    done = asyncmend(
        "run", RENAME, "app", "--fix", "--arg", "old=get_db", "--arg", "new=provide_session",
        cwd=shop,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "async def provide_session()" in (shop / "app" / "db.py").read_text()
    bad = asyncmend("run", RENAME, "--arg", "colour=blue", cwd=shop)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "unknown --arg colour (takes: old, new)" in bad.stderr
    malformed = asyncmend("run", RENAME, "--arg", "old", cwd=shop)
    assert malformed.returncode == 2 and "expected KEY=VALUE" in malformed.stderr


def test_module_spec_and_context_aware_transformer(tmp_path: Path) -> None:
    (tmp_path / "my_migrations.py").write_text(
        textwrap.dedent(
            """
            import libcst as cst
            from libcst.codemod import ContextAwareTransformer


            class UseRunningLoop(ContextAwareTransformer):
                def leave_Attribute(self, original_node, updated_node):
                    if updated_node.attr.value == "get_event_loop":
                        return updated_node.with_changes(attr=cst.Name("get_running_loop"))
                    return updated_node
            """
        )
    )
    src = tmp_path / "src"
    src.mkdir()
    (src / "jobs.py").write_text(
        "import asyncio\n\n\nasync def f():\n    return asyncio.get_event_loop()\n"
    )
    (src / "broken.py").write_text("def broken(:\n")
    done = asyncmend("run", "my_migrations:UseRunningLoop", "src", "--fix", cwd=tmp_path)
    assert "asyncio.get_running_loop()" in (src / "jobs.py").read_text()
    # a file that does not parse is reported and left alone; the run goes on
    assert "src/broken.py:1:" in done.stdout and "AM000" in done.stdout
    assert done.returncode == 1


def test_output_that_does_not_compile_is_not_written(tmp_path: Path) -> None:
    (tmp_path / "bad_codemod.py").write_text(
        textwrap.dedent(
            """
            import libcst as cst
            from libcst.codemod import VisitorBasedCodemodCommand


            class AwaitEverything(VisitorBasedCodemodCommand):
                def leave_Call(self, original_node, updated_node):
                    return cst.Await(updated_node)
            """
        )
    )
    (tmp_path / "sync.py").write_text("def f():\n    return g()\n")
    done = asyncmend("run", "bad_codemod.py:AwaitEverything", "sync.py", "--fix", cwd=tmp_path)
    assert done.returncode == 2
    assert "does not compile" in done.stderr and "file left unchanged" in done.stderr
    assert (tmp_path / "sync.py").read_text() == "def f():\n    return g()\n"


RULE_PACK = '''
import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, Rule


class GetEventLoop(Rule):
    """
    ## What it does
    Finds `asyncio.get_event_loop()` inside an `async def`.

    ## Why is this bad?
    Inside a coroutine the running loop is known; `get_event_loop` is deprecated there.

    ## Example
    ```python
    loop = asyncio.get_event_loop()
    ```

    ## Use instead
    ```python
    loop = asyncio.get_running_loop()
    ```
    """

    code = "XLP100"
    name = "get-event-loop-in-coroutine"
    fix_applicability = Applicability.SAFE
    triggers = (b"get_event_loop",)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value == "get_event_loop" and self.in_async_function():
            new = node.with_changes(attr=cst.Name("get_running_loop"))
            self.report(
                node,
                "Use `asyncio.get_running_loop()` inside a coroutine",
                fix=Fix("Use get_running_loop", Applicability.SAFE, replacements=[(node, new)]),
            )
'''

LOOP_SOURCE = "import asyncio\n\n\nasync def f():\n    return asyncio.get_event_loop()\n"


def test_asyncmend_rule_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "loop_rule.py").write_text(RULE_PACK)
    (tmp_path / "jobs.py").write_text(LOOP_SOURCE)
    diff = asyncmend("run", "loop_rule.py:GetEventLoop", "jobs.py", cwd=tmp_path)
    assert diff.returncode == 1
    assert "+    return asyncio.get_running_loop()" in diff.stdout
    assert "Would fix 1 finding(s) in 1 file(s): XLP100 x1" in diff.stderr
    done = asyncmend("run", "loop_rule.py:GetEventLoop", "jobs.py", "--fix", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "get_running_loop" in (tmp_path / "jobs.py").read_text()


def test_bad_codemod_specs(tmp_path: Path) -> None:
    (tmp_path / "thing.py").write_text("class NotACodemod:\n    pass\n")
    cases = {
        "missing.py:Foo": "missing.py: no such file",
        "thing.py:Nope": "has no attribute Nope",
        "thing.py:NotACodemod": "neither an asyncmend Rule nor a libcst Codemod",
        "no_colon": "expected module:Class",
        "no.such.module:Foo": "cannot import no.such.module",
    }
    for spec, message in cases.items():
        done = asyncmend("run", spec, ".", cwd=tmp_path)
        assert done.returncode == 2, spec
        assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


def test_python_api_runs_codemods(shop: Path) -> None:
    from asyncmend.engine import run

    report = run([str(shop)], codemod=RENAME, codemod_args={"new": "get_async_session"}, fix=True)
    assert report.findings == []
    assert len(report.changed) == 4
    assert report.applied_counts() == {"RenameDependency": 4}
    assert "+async def get_async_session()" in report.diff()
    outcome = report.apply()
    assert len(outcome.written) == 4
    assert "Depends(get_async_session)" in (shop / "app" / "routers" / "users.py").read_text()


def test_third_party_rule_pack_through_entry_points(tmp_path: Path) -> None:
    env = make_rule_pack(tmp_path / "site", "loop_rules", {"get_event_loop": RULE_PACK})
    project = tmp_path / "project"
    project.mkdir()
    (project / "jobs.py").write_text(LOOP_SOURCE)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return cli_with(env, *args, cwd=project)

    listed = cli("rules")
    assert any(
        line.split()[:3] == ["XLP100", "[*]", "get-event-loop-in-coroutine"]
        for line in listed.stdout.splitlines()
    )
    assert "AM101" in listed.stdout
    assert (
        "Finds `asyncio.get_event_loop()` inside an `async def`" in cli("explain", "XLP100").stdout
    )
    # selected by code like any rule; the default selection (AM) leaves it out
    assert cli("check", ".").returncode == 0
    found = cli("check", ".", "--select", "XLP")
    assert (
        found.returncode == 1
        and "jobs.py:5:12: XLP100 Use `asyncio.get_running_loop()`" in found.stdout
    )
    # without the pack on the path it is unknown
    plain = asyncmend("check", ".", "--select", "XLP", cwd=project)
    assert plain.returncode == 2 and "unknown rule code or prefix 'XLP'" in plain.stderr


def test_codemods_run_in_the_process_pool(tmp_path: Path) -> None:
    """Enough files for worker processes: the codemod class (loaded from a file) reaches
    them, and every file is changed."""
    for i in range(40):
        (tmp_path / f"m{i:02}.py").write_text("from app.db import get_db\n\nx = get_db\n")
    done = asyncmend("run", RENAME, ".", "--fix", "-j", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Changed 40 file(s) with RenameDependency." in done.stderr
    assert all("get_session" in p.read_text() for p in tmp_path.glob("m*.py"))


def test_arguments_are_typed_by_add_args(tmp_path: Path) -> None:
    from asyncmend.engine.user_codemods import CodemodError, resolve_codemod

    (tmp_path / "typed.py").write_text(
        textwrap.dedent(
            """
            from libcst.codemod import VisitorBasedCodemodCommand


            class Typed(VisitorBasedCodemodCommand):
                @staticmethod
                def add_args(arg_parser):
                    arg_parser.add_argument("--depth", type=int, default=3)
                    arg_parser.add_argument("--label", required=True)

                def __init__(self, context, depth=3, label=""):
                    super().__init__(context)
            """
        )
    )
    spec = f"{tmp_path / 'typed.py'}:Typed"
    _, codemod = resolve_codemod(spec, {"label": "x"})
    assert codemod is not None and dict(codemod.kwargs) == {"label": "x", "depth": 3}
    _, codemod = resolve_codemod(spec, {"label": "x", "depth": "7"})
    assert codemod is not None and codemod.kwargs["depth"] == 7
    with pytest.raises(CodemodError, match="missing --arg label"):
        resolve_codemod(spec, {})
    with pytest.raises(CodemodError, match="--arg depth"):
        resolve_codemod(spec, {"label": "x", "depth": "deep"})


def test_codemods_get_the_file_name_and_module_name(tmp_path: Path) -> None:
    (tmp_path / "stamp.py").write_text(
        textwrap.dedent(
            """
            import libcst as cst
            from libcst.codemod import VisitorBasedCodemodCommand


            class Stamp(VisitorBasedCodemodCommand):
                def leave_Module(self, original_node, updated_node):
                    context = self.context
                    line = f"# {context.full_module_name} {context.full_package_name}\\n"
                    return updated_node.with_changes(header=[cst.EmptyLine(comment=cst.Comment(line.strip()))])
            """
        )
    )
    package = tmp_path / "shop" / "routers"
    package.mkdir(parents=True)
    (tmp_path / "shop" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "users.py").write_text("x = 1\n")
    done = asyncmend("run", "stamp.py:Stamp", "shop", "--fix", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (package / "users.py").read_text() == "# shop.routers.users shop.routers\nx = 1\n"
    assert (package / "__init__.py").read_text().startswith("# shop.routers shop.routers")


def test_codemod_warnings_and_skipped_files_are_reported(tmp_path: Path) -> None:
    (tmp_path / "careful.py").write_text(
        textwrap.dedent(
            """
            from libcst.codemod import SkipFile, VisitorBasedCodemodCommand


            class Careful(VisitorBasedCodemodCommand):
                def visit_Module(self, node):
                    if "generated" in node.code:
                        self.warn("generated file, skipped")
                        raise SkipFile("generated")
                    return True
            """
        )
    )
    (tmp_path / "gen.py").write_text("# generated\nx = 1\n")
    (tmp_path / "plain.py").write_text("x = 1\n")
    done = asyncmend("run", "careful.py:Careful", "gen.py", "plain.py", "--fix", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == ["asyncmend: warning: gen.py: generated file, skipped"]
