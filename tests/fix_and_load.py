"""Load a runtime input module as written, and as asyncmend fixes it."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

from asyncmend.engine import run

RUNTIME = Path(__file__).resolve().parent / "runtime"


def load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def write_module(folder: Path, name: str, source: str) -> Path:
    """``source`` written as ``folder/<name>.py`` (the folder is created)."""
    folder.mkdir(parents=True)
    path = folder / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    return path


def fixed_copy(source: Path, code: str, folder: Path) -> Path:
    """A copy of ``source`` under ``folder`` after ``asyncmend fix --select code``; asserts
    that the rule reported and changed it."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    shutil.copy2(source, target)
    report = run([str(folder)], select=[code], fix=True, jobs=1)
    assert not report.internal_errors, report.internal_errors
    assert any(f.code == code for f in report.findings), f"{code} did not report {source.name}"
    report.apply()
    assert target.read_bytes() != source.read_bytes(), f"{code} did not fix {source.name}"
    again = run([str(folder)], select=[code], fix=True, jobs=1)
    assert not again.changed and not again.findings, "the fixed output still has findings"
    return target
