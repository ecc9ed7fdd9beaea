"""README's quick start, run as written in a fresh virtual environment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

README = (ROOT / "README.md").read_text()


def _quick_start() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert block, "README starts with a bash block"
    return [line.split("#")[0].strip() for line in block.group(1).strip().splitlines()]


def test_quick_start_commands_are_the_documented_ones() -> None:
    install_and_run, install_and_test = _quick_start()
    assert install_and_run == "pip install . && asyncmend diff fixtures/demo"
    assert install_and_test == "pip install -e '.[test]' && pytest"


def test_first_quick_start_command_in_a_fresh_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "NO_COLOR": "1"}
    env.pop("PYTHONPATH", None)
    # A copy of the repo, so that building the wheel leaves nothing in the checkout.
    repo = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    result = subprocess.run(
        ["bash", "-c", _quick_start()[0]],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1, result.stderr[-2000:]  # diff exits 1: there is a diff
    assert "\n--- a/fixtures/demo/" in result.stdout
    assert "+++ b/fixtures/demo/" in result.stdout
