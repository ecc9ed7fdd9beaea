"""Preview rules (ruff's meaning): off unless ``--preview`` or ``preview = true``; a
preview rule selected by its exact code says why it does not run; ``rules`` shows it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from rule_packs import cli_with, make_rule_pack
from test_run_codemod import LOOP_SOURCE, RULE_PACK

PREVIEW_PACK = RULE_PACK.replace(
    '    code = "XLP100"\n', '    code = "XLP100"\n    preview = True\n'
)


def _project(tmp_path: Path) -> tuple[dict[str, str], Path]:
    assert PREVIEW_PACK != RULE_PACK
    env = make_rule_pack(tmp_path / "site", "loop_rules", {"get_event_loop": PREVIEW_PACK})
    project = tmp_path / "project"
    project.mkdir()
    (project / "jobs.py").write_text(LOOP_SOURCE)
    return env, project


def test_preview_rule_runs_only_with_preview(tmp_path: Path) -> None:
    env, project = _project(tmp_path)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return cli_with(env, *args, "--no-cache", cwd=project)

    quiet = cli("check", ".", "--select", "XLP")
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "XLP100" not in quiet.stdout

    found = cli("check", ".", "--select", "XLP", "--preview")
    assert found.returncode == 1
    assert "XLP100" in found.stdout

    (project / "pyproject.toml").write_text("[tool.asyncmend]\npreview = true\n")
    assert "XLP100" in cli("check", ".", "--select", "XLP").stdout
    # the command line wins over the config
    assert cli("check", ".", "--select", "XLP", "--no-preview").returncode == 0


def test_exact_code_of_a_preview_rule_warns(tmp_path: Path) -> None:
    env, project = _project(tmp_path)
    result = cli_with(env, "check", ".", "--select", "XLP100", "--no-cache", cwd=project)
    assert result.returncode == 0
    assert "XLP100 is a preview rule" in result.stderr


def test_rules_lists_the_status(tmp_path: Path) -> None:
    env, project = _project(tmp_path)
    listed = cli_with(env, "rules", cwd=project)
    row = next(line for line in listed.stdout.splitlines() if "XLP100" in line)
    assert "preview" in row
    explained = cli_with(env, "explain", "XLP100", cwd=project).stdout
    assert "Status: preview" in explained
