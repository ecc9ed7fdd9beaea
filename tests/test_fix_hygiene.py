"""Fix hygiene (issue 12 §6): what a fix leaves must pass the project's own linters.
ruff's isort (``I001``) and unused-import (``F401``) checks are run on every positive
fixture's input and expected output: a fix may not add a finding of either."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from fixture_cases import all_cases

RUFF = Path(sys.executable).with_name("ruff")
PAIRS = [
    (source, case.expected_output(source))
    for case in all_cases()
    if case.kind == "positive"
    for source in case.inputs
    if case.expected_output(source) is not None
]


def _ruff_codes(path: Path) -> Counter[str]:
    """``I001``/``F401`` findings of ``path``, by code and message (lines move)."""
    result = subprocess.run(
        [str(RUFF), "check", "--isolated", "--select", "I,F401", "--line-length", "100",
         "--output-format", "json", "--stdin-filename", path.name, "-"],
        input=path.read_bytes(),
        capture_output=True,
        check=False,
    )  # fmt: skip
    return Counter(f"{item['code']} {item['message']}" for item in json.loads(result.stdout))


@pytest.mark.skipif(not RUFF.exists(), reason="ruff is in the test extras")
@pytest.mark.parametrize(
    ("source", "expected"), PAIRS, ids=[f"{p.parent.name}/{p.name}" for p, _ in PAIRS]
)
def test_fix_adds_no_import_finding(source: Path, expected: Path) -> None:
    try:
        source.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        pytest.skip("ruff reads UTF-8 only")
    added = _ruff_codes(expected) - _ruff_codes(source)
    assert not added, f"the fix left {sorted(added)}"
