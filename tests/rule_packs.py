"""Third-party rule packs for tests: a package plus a dist-info with an
``asyncmend.codemods`` entry point, in a folder put on PYTHONPATH."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from conftest import entry_point


def make_rule_pack(site: Path, package: str, modules: dict[str, str]) -> dict[str, str]:
    """Write ``package`` (``modules``: module name -> source) with one entry point per
    module; return the environment that puts it on the path."""
    folder = site / package
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    for name, source in modules.items():
        (folder / f"{name}.py").write_text(source)
    dist = site / f"{package}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    entries = "".join(f"{name} = {package}.{name}\n" for name in modules)
    (dist / "entry_points.txt").write_text(f"[asyncmend.codemods]\n{entries}")
    return {**os.environ, "PYTHONPATH": str(site), "NO_COLOR": "1"}


def cli_with(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [entry_point(), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
