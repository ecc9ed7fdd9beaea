"""``asyncmend fix -i``: hunk-by-hunk review with piped answers and in a real terminal."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from conftest import asyncmend, entry_point

HEADER = """\
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.models import Order, User

engine = create_async_engine("sqlite+aiosqlite://")
async_session = async_sessionmaker(engine)
"""

GET_USER = """

async def get_user(user_id: int) -> User | None:
    session = async_session()
    result = await session.execute(select(User).where(User.id == user_id))
    return result.scalar_one_or_none()
"""

FILLER = "".join(
    f"\n\ndef helper_{i}(value: int) -> int:\n    return value + {i}\n" for i in range(3)
)

LIST_ORDERS = """

async def list_orders(user_id: int) -> list[Order]:
    session = async_session()
    result = await session.execute(select(Order).where(Order.user_id == user_id))
    orders = list(result.scalars())
    await session.close()
    return orders
"""

SOURCE = HEADER + GET_USER + FILLER + LIST_ORDERS


def _fixed(piece: str) -> str:
    """``piece`` (a function below HEADER) as a plain ``asyncmend fix`` leaves it."""
    from asyncmend.engine import run

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "piece.py"
        path.write_text(HEADER + piece)
        report = run([str(path)], fix=True)
        assert len(report.changed) == 1
        report.apply()
        return path.read_text().removeprefix(HEADER)


FIXED_USER = HEADER + _fixed(GET_USER) + FILLER + LIST_ORDERS
FIXED_ORDERS = HEADER + GET_USER + FILLER + _fixed(LIST_ORDERS)
FIXED_ALL = HEADER + _fixed(GET_USER) + FILLER + _fixed(LIST_ORDERS)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "a_queries.py").write_text(SOURCE)
    (tmp_path / "b_queries.py").write_text(SOURCE)
    return tmp_path


def _read(project: Path) -> tuple[str, str]:
    return (project / "a_queries.py").read_text(), (project / "b_queries.py").read_text()


def test_yes_then_no_writes_only_the_accepted_hunk(project: Path) -> None:
    done = asyncmend("fix", "-i", ".", cwd=project, stdin="y\nn\nn\nn\n")
    assert done.returncode == 1, done.stderr
    assert _read(project) == (FIXED_USER, SOURCE)
    out = done.stdout
    assert out.count("AM101 bare-session: Session `session` from `async_session()`") == 4
    assert "(1/2) Apply this hunk to a_queries.py [y,n,a,d,q,?]?" in out
    assert "Accepted 1 hunk(s), rejected 3; wrote 1 file(s)." in out
    # what the rejected hunks leave is listed, as `fix` lists what remains
    assert "a_queries.py:29:5: AM101" in out and "b_queries.py:11:5: AM101" in out
    compile(FIXED_USER, "a_queries.py", "exec")


def test_no_then_yes_and_all_in_file(project: Path) -> None:
    done = asyncmend("fix", "-i", ".", cwd=project, stdin="n\ny\na\n")
    assert done.returncode == 1, done.stdout + done.stderr  # the rejected finding remains
    assert _read(project) == (FIXED_ORDERS, FIXED_ALL)
    assert "Accepted 3 hunk(s), rejected 1; wrote 2 file(s)." in done.stdout
    assert done.stdout.count("Apply this hunk") == 3  # `a` answered for the rest of b_queries.py


def test_done_with_file_moves_on_and_quit_stops(project: Path) -> None:
    done = asyncmend("fix", "-i", ".", cwd=project, stdin="d\nq\n")
    assert done.returncode == 1
    assert _read(project) == (SOURCE, SOURCE)
    assert done.stdout.count("Apply this hunk") == 2
    assert done.stdout.count("--- ") == 2  # b_queries.py shown, then nothing after `q`
    assert "Accepted 0 hunk(s), rejected 4; wrote 0 file(s)." in done.stdout


def test_answers_that_run_out_leave_the_rest(project: Path) -> None:
    done = asyncmend("fix", "-i", ".", cwd=project, stdin="y\ny\ny\n")
    assert _read(project) == (FIXED_ALL, FIXED_USER)
    assert "No more answers" in done.stdout
    assert done.returncode == 1


def test_unknown_answer_prints_help_and_asks_again(project: Path) -> None:
    done = asyncmend("fix", "-i", "a_queries.py", cwd=project, stdin="maybe\ny\ny\n")
    assert "a - apply this hunk and all later hunks in the file" in done.stdout
    assert _read(project)[0] == FIXED_ALL
    assert done.returncode == 0


def test_refuses_without_terminal_or_answers(project: Path) -> None:
    done = asyncmend("fix", "-i", ".", cwd=project, stdin="")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "fix -i needs a terminal" in done.stderr
    assert _read(project) == (SOURCE, SOURCE)


WORKER = """\
import time


def worker(jobs: list[str]) -> None:
    for job in jobs:
        print("start", job)
        print("step 1")
        print("step 2")
        print("step 3")
        print("step 4")
        print("step 5")
        print("step 6")
        time.sleep(1)
"""

TO_ASYNC = '''
import libcst as cst
from libcst.codemod import VisitorBasedCodemodCommand


class ToAsync(VisitorBasedCodemodCommand):
    """def worker -> async def worker, time.sleep -> await asyncio.sleep (only together)."""

    def leave_FunctionDef(self, original_node, updated_node):
        return updated_node.with_changes(asynchronous=cst.Asynchronous())

    def leave_Call(self, original_node, updated_node):
        func = updated_node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "sleep":
            return cst.Await(updated_node.with_changes(
                func=cst.parse_expression("asyncio.sleep")))
        return updated_node
'''


def test_a_partial_selection_that_does_not_compile_is_not_written(tmp_path: Path) -> None:
    (tmp_path / "worker.py").write_text(WORKER)
    (tmp_path / "to_async.py").write_text(TO_ASYNC)
    spec = "to_async.py:ToAsync"
    # both hunks: `await` inside `async def` compiles
    full = asyncmend("run", spec, "worker.py", "--diff", cwd=tmp_path)
    assert full.stdout.count("\n@@ ") == 2, full.stdout
    done = asyncmend("run", spec, "worker.py", "--fix", "-i", cwd=tmp_path, stdin="n\ny\n")
    assert "do not parse (or compile) without the others; file not written" in done.stderr
    assert (tmp_path / "worker.py").read_text() == WORKER
    assert done.returncode == 1
    done = asyncmend("run", spec, "worker.py", "--fix", "-i", cwd=tmp_path, stdin="y\ny\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "async def worker" in (tmp_path / "worker.py").read_text()


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_in_a_real_terminal_with_tmux(project: Path) -> None:
    session = f"asyncmend-{uuid.uuid4().hex[:8]}"
    command = f"cd {project} && {entry_point()} fix -i a_queries.py; echo EXIT=$?; sleep 120"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "200", "-y", "50", command],
        check=True,
    )
    try:

        def screen(*flags: str) -> str:
            return subprocess.run(
                ["tmux", "capture-pane", "-p", *flags, "-t", session, "-S", "-200"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout

        def wait_for(text: str) -> str:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                shown = screen()
                if text in shown:
                    return shown
                time.sleep(0.2)
            raise AssertionError(f"{text!r} never appeared:\n{screen()}")

        shown = wait_for("(1/2) Apply this hunk")
        assert "-    session = async_session()" in shown
        # coloured on a terminal: removed lines red (31), added lines green (32)
        styled = screen("-e")
        assert "\x1b[31m-    session = async_session()" in styled
        assert "\x1b[32m+    async with async_session() as session:" in styled
        subprocess.run(["tmux", "send-keys", "-t", session, "y", "Enter"], check=True)
        wait_for("(2/2) Apply this hunk")
        subprocess.run(["tmux", "send-keys", "-t", session, "n", "Enter"], check=True)
        shown = wait_for("EXIT=")
        assert "Accepted 1 hunk(s), rejected 1; wrote 1 file(s)." in shown
        assert "EXIT=1" in shown
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
    assert (project / "a_queries.py").read_text() == FIXED_USER


def test_hunk_display_is_coloured_on_a_terminal_only(project: Path) -> None:
    done = asyncmend("fix", "-i", "a_queries.py", cwd=project, stdin="n\nn\n")
    assert "\x1b[" not in done.stdout
    assert (
        textwrap.dedent("""\
        -    session = async_session()
        -    result = await session.execute(select(User).where(User.id == user_id))""")
        in done.stdout
    )


def test_quit_at_once_asks_nothing_more(project: Path) -> None:
    done = asyncmend("fix", "-i", ".", cwd=project, stdin="q\ny\ny\ny\n")
    assert done.stdout.count("--- ") == 1 and done.stdout.count("Apply this hunk") == 1
    assert "Accepted 0 hunk(s), rejected 4; wrote 0 file(s)." in done.stdout
    assert _read(project) == (SOURCE, SOURCE)
