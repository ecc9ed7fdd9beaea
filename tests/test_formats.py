"""``--format sarif`` (validated against the SARIF 2.1.0 schema, fixes that rebuild the
fixed file) and ``--format github`` (workflow annotations)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from conftest import FIXTURES, asyncmend

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
BASIC = (FIXTURES / "rules" / "AM101" / "positive_basic.py").read_text()
UNFIXABLE = (FIXTURES / "rules" / "AM101" / "unfixable_returned.py").read_text()


def validate(log: dict) -> None:
    jsonschema.Draft4Validator(SCHEMA).validate(log)


def _apply(text: str, replacements: list[dict]) -> str:
    for item in sorted(replacements, key=lambda r: -r["deletedRegion"]["charOffset"]):
        start = item["deletedRegion"]["charOffset"]
        end = start + item["deletedRegion"]["charLength"]
        text = text[:start] + item["insertedContent"]["text"] + text[end:]
    return text


def test_sarif_on_the_demo_validates_and_matches_json(demo_copy: Path) -> None:
    done = asyncmend("check", ".", "--select", "AM101", "--format", "sarif", cwd=demo_copy)
    assert done.returncode == 1, done.stderr
    log = json.loads(done.stdout)
    validate(log)
    as_json = json.loads(
        asyncmend("check", ".", "--select", "AM101", "--format", "json", cwd=demo_copy).stdout
    )
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "asyncmend"
    results = run["results"]
    assert len(results) == len(as_json) >= 1
    for result, finding in zip(results, as_json, strict=True):
        region = result["locations"][0]["physicalLocation"]["region"]
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert (uri, result["ruleId"], result["message"]["text"]) == (
            finding["filename"],
            finding["code"],
            finding["message"],
        )
        assert (region["startLine"], region["startColumn"]) == tuple(finding["location"].values())
        assert (region["endLine"], region["endColumn"]) == tuple(finding["end_location"].values())
    rule = run["tool"]["driver"]["rules"][0]
    explain = asyncmend("explain", "AM101", cwd=demo_copy).stdout
    assert rule["id"] == "AM101" and rule["help"]["text"] in explain
    assert rule["help"]["text"].startswith("## What it does")


def test_sarif_fixes_rebuild_the_fixed_file(tmp_path: Path) -> None:
    (tmp_path / "one.py").write_text(BASIC)
    (tmp_path / "crlf.py").write_bytes(BASIC.replace("\n", "\r\n").encode())
    (tmp_path / "escapes.py").write_text(UNFIXABLE)
    done = asyncmend("check", ".", "--format", "sarif", cwd=tmp_path)
    log = json.loads(done.stdout)
    validate(log)
    by_uri = {}
    for result in log["runs"][0]["results"]:
        by_uri.setdefault(
            result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], []
        ).append(result)
    assert set(by_uri) == {"one.py", "crlf.py", "escapes.py"}
    assert "fixes" not in by_uri["escapes.py"][0]  # a finding without a fix has none
    fixed_copy = tmp_path.parent / "fixed"
    shutil.copytree(tmp_path, fixed_copy)
    assert asyncmend("fix", ".", cwd=fixed_copy).returncode == 1  # escapes.py remains
    for name in ("one.py", "crlf.py"):
        (result,) = by_uri[name]
        (fix,) = result["fixes"]
        assert fix["description"]["text"]
        (change,) = fix["artifactChanges"]
        assert change["artifactLocation"]["uri"] == name
        original = (tmp_path / name).read_bytes().decode()
        expected = (fixed_copy / name).read_bytes().decode()
        assert original != expected
        assert _apply(original, change["replacements"]) == expected


def test_sarif_with_no_findings_and_with_a_parse_error(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("x = 1\n")
    empty = json.loads(asyncmend("check", ".", "--format", "sarif", cwd=tmp_path).stdout)
    validate(empty)
    assert empty["runs"][0]["results"] == []
    (tmp_path / "bad.py").write_text("async def f(:\n    session = async_session()\n")
    done = asyncmend("check", ".", "--format", "sarif", cwd=tmp_path)
    log = json.loads(done.stdout)
    validate(log)
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["AM000"]


def test_sarif_schema_rejects_a_broken_log() -> None:
    """The validation can fail: the schema is really checked."""
    with pytest.raises(jsonschema.ValidationError):
        validate({"version": "2.1.0", "runs": [{"results": []}]})


def test_github_annotations(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "users.py").write_text(BASIC)
    done = asyncmend("check", ".", "--format", "github", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "::error file=app/users.py,line=11,col=5,endLine=11,endColumn=30,"
        "title=AM101 bare-session::Session `session` from `async_session()` is never closed; "
        "use `async with async_session() as session:`"
    ]
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "ok.py").write_text("x = 1\n")
    quiet = asyncmend("check", ".", "--format", "github", cwd=clean)
    assert quiet.returncode == 0 and quiet.stdout == ""


def test_github_escapes_properties_and_data() -> None:
    from asyncmend.cli.output import format_github
    from asyncmend.engine.results import Finding

    finding = Finding("AM101", "bare-session", "100% bad\nreally", "a,b:c.py", 1, 2, 3, 4)
    assert format_github([finding]) == (
        "::error file=a%2Cb%3Ac.py,line=1,col=2,endLine=3,endColumn=4,"
        "title=AM101 bare-session::100%25 bad%0Areally"
    )


BROKEN_FIX_RULE = '''
import libcst as cst

from asyncmend.codemods.base import Applicability, Fix, Rule


class AwaitInSyncDef(Rule):
    """
    ## What it does
    Test rule whose fix puts `await` in a plain `def` (it never compiles).

    ## Why is this bad?
    It is not.

    ## Example
    ```python
    def f():
        return g()
    ```

    ## Use instead
    ```python
    def f():
        return g()
    ```
    """

    code = "XBR100"
    name = "broken-fix"
    fix_applicability = Applicability.SAFE
    triggers = (b"return",)

    def visit_Return(self, node: cst.Return) -> None:
        if node.value is not None:
            new = node.with_changes(value=cst.Await(node.value))
            self.report(node, "broken", fix=Fix("await it", Applicability.SAFE, [(node, new)]))
'''


def test_sarif_keeps_findings_whose_fix_fails_verification(tmp_path: Path) -> None:
    from rule_packs import cli_with, make_rule_pack

    env = make_rule_pack(tmp_path / "site", "broken_rules", {"await_in_sync": BROKEN_FIX_RULE})
    project = tmp_path / "project"
    project.mkdir()
    (project / "m.py").write_text("def f():\n    return g()\n")
    done = cli_with(env, "check", ".", "--select", "XBR", "--format", "sarif", cwd=project)
    assert done.returncode == 1, done.stderr
    assert done.stderr == ""
    log = json.loads(done.stdout)
    validate(log)
    (result,) = log["runs"][0]["results"]
    assert result["ruleId"] == "XBR100" and "fixes" not in result
    # fixing it is refused, loudly
    fixing = cli_with(env, "fix", ".", "--select", "XBR", cwd=project)
    assert fixing.returncode == 2 and "file left unchanged" in fixing.stderr
    assert (project / "m.py").read_text() == "def f():\n    return g()\n"
