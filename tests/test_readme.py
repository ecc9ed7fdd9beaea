"""README.md, run as written: the quick start in a fresh virtual environment, every
``console`` example (its shown output compared), the Python and TOML examples, and the
rules table against the registry.

In a ``console`` block, ``$ cmd`` lines are commands (run in order, in one shell per
block, starting in a copy of the repository; ``/tmp/`` means a fresh temporary folder
shared by all blocks) and the lines below one are its output, stdout and stderr
together. A line ``...`` stands for any number of lines.

``python tests/test_readme.py --update`` rewrites the rules table and the examples'
output from what the code prints now (then review the diff).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)
_MARK = "@@readme-command@@"


def _blocks(kind: str) -> list[str]:
    return [body for lang, body in _BLOCK.findall(README) if lang == kind]


def _quick_start() -> list[str]:
    block = _blocks("bash")[0]
    return [line.split("  #")[0].strip() for line in block.strip().splitlines()]


def test_quick_start_commands_are_the_documented_ones() -> None:
    install_and_run, install_and_test = _quick_start()
    venv = "python3 -m venv .venv && . .venv/bin/activate"
    assert install_and_run == f"{venv} && pip install . && asyncmend diff fixtures/demo"
    assert install_and_test == f"{venv} && pip install -e '.[test]' && pytest"


def test_first_quick_start_command_in_a_fresh_clone(tmp_path: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    # The active venv's bin folder leaves PATH, so `asyncmend` is the one the command installs.
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if Path(p) != Path(sys.executable).parent
    )
    # A copy of the repo, so that building the wheel leaves nothing in the checkout.
    repo = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    result = subprocess.run(
        ["bash", "-c", _quick_start()[0]],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 1, result.stderr[-2000:]  # diff exits 1: there is a diff
    assert "\n--- a/fixtures/demo/" in result.stdout
    assert "+++ b/fixtures/demo/" in result.stdout
    assert (repo / ".venv" / "bin" / "asyncmend").exists()


# -- console examples ------------------------------------------------------------------


def _parse(block: str) -> list[tuple[str, list[str]]]:
    """``(command, expected output lines)`` of a console block."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"output before any command in a console block: {line!r}"
            steps[-1][1].append(line)
    return steps


def _sandbox(tmp: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the repository (what the examples read) and the examples' environment."""
    repo = tmp / "repo"
    if not repo.exists():
        repo.mkdir(parents=True)
        for name in ("fixtures", "pyproject.toml"):
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(source, repo / name)
        (tmp / "tmp").mkdir()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "COLUMNS": "100",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "readme",
        "GIT_AUTHOR_EMAIL": "readme@example.com",
        "GIT_COMMITTER_NAME": "readme",
        "GIT_COMMITTER_EMAIL": "readme@example.com",
    }
    env.pop("ASYNCMEND_CACHE_DIR", None)
    return repo, env


def _run_block(block: str, tmp: Path) -> list[tuple[str, list[str], list[str]]]:
    """Run a console block's commands; ``(command, expected, actual)`` for each."""
    repo, env = _sandbox(tmp)
    fake_tmp = f"{tmp / 'tmp'}/"
    steps = _parse(block)
    script = [f"cd {repo}"]
    for command, _ in steps:
        script.append(f"echo {_MARK}")
        script.append(f"{{ {command.replace('/tmp/', fake_tmp)} ; }} 2>&1")
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    outputs = done.stdout.split(f"{_MARK}\n")[1:]
    assert len(outputs) == len(steps), done.stdout + done.stderr
    return [
        (command, expected, out.replace(fake_tmp, "/tmp/").splitlines())
        for (command, expected), out in zip(steps, outputs, strict=True)
    ]


def _matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line, with ``...`` matching any run of lines (also none)."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head == "...":
        return any(_matches(rest, actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and actual[0].rstrip() == head.rstrip() and _matches(rest, actual[1:])


def test_every_console_example_prints_what_it_shows(tmp_path: Path) -> None:
    blocks = _blocks("console")
    assert len(blocks) >= 10
    failures = []
    for number, block in enumerate(blocks, start=1):
        for command, expected, actual in _run_block(block, tmp_path):
            if not _matches(expected, actual):
                failures.append(
                    f"block {number}: $ {command}\n--- shown\n"
                    + "\n".join(expected)
                    + "\n--- printed\n"
                    + "\n".join(actual)
                )
    hint = "\n\n(`python tests/test_readme.py --update` rewrites them; review the diff)"
    assert not failures, "\n\n".join(failures) + hint


def test_python_examples_run(tmp_path: Path) -> None:
    """Each Python example runs (in a copy of the demo app, after the codemod example's
    files are in place)."""
    blocks = [b for b in _blocks("python") if "from asyncmend" in b]
    assert blocks
    demo = tmp_path / "demo"
    shutil.copytree(ROOT / "fixtures" / "demo", demo, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "fixtures" / "migrations" / "rename_dependency.py", demo)
    for block in blocks:
        done = subprocess.run(
            [sys.executable, "-c", block],
            cwd=demo,
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "NO_COLOR": "1"},
        )
        assert done.returncode == 0, block + done.stderr


def test_configuration_example_is_a_valid_config(tmp_path: Path) -> None:
    [config] = [b for b in _blocks("toml") if "[tool.asyncmend]" in b]
    (tmp_path / "pyproject.toml").write_text(config)
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "asyncmend-baseline.json").write_text('{"version": 1, "findings": []}\n')
    done = subprocess.run(
        [str(Path(sys.executable).parent / "asyncmend"), "check", "a.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_table_is_the_registry() -> None:
    from asyncmend.cli.rule_docs import rules_table
    from asyncmend.codemods.registry import all_rules

    table = re.search(r"<!-- rules-table -->\n(.*?)<!-- /rules-table -->", README, re.S)
    assert table, "README has the generated rules table between its markers"
    builtin = [r for r in all_rules() if r.__module__.startswith("asyncmend.codemods.")]
    assert table.group(1) == rules_table(builtin, link_prefix="docs/rules/"), (
        "stale: run `python tests/test_readme.py --update`"
    )


def test_license_is_mit_as_pyproject_says() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) 2026 the asyncmend authors\n")
    assert 'license = { text = "MIT" }' in (ROOT / "pyproject.toml").read_text()


def _update_readme() -> None:
    """Rewrite README.md: the rules table from the registry, and each console example's
    output as printed now (an example that still matches, ``...`` included, is kept)."""
    import tempfile

    from asyncmend.cli.rule_docs import rules_table
    from asyncmend.codemods.registry import all_rules

    builtin = [r for r in all_rules() if r.__module__.startswith("asyncmend.codemods.")]
    text = re.sub(
        r"(<!-- rules-table -->\n).*?(<!-- /rules-table -->)",
        lambda m: m.group(1) + rules_table(builtin, link_prefix="docs/rules/") + m.group(2),
        README,
        flags=re.S,
    )
    pieces, position = [], 0
    with tempfile.TemporaryDirectory() as folder:
        for match in _BLOCK.finditer(text):
            if match.group(1) != "console":
                continue
            lines = []
            for command, expected, actual in _run_block(match.group(2), Path(folder)):
                lines.append(f"$ {command}")
                lines.extend(expected if _matches(expected, actual) else actual)
            start, end = match.span(2)
            pieces += [text[position:start], "\n".join(lines) + "\n"]
            position = end
    pieces.append(text[position:])
    (ROOT / "README.md").write_text("".join(pieces))


if __name__ == "__main__":
    # `python tests/test_readme.py --update` after a change to rules or output; review the diff.
    if sys.argv[1:] == ["--update"]:
        _update_readme()
    else:
        sys.exit("usage: python tests/test_readme.py --update")


@pytest.fixture(autouse=True)
def _no_cache_dir_from_the_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASYNCMEND_CACHE_DIR", raising=False)
