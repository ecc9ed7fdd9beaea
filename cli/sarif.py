"""SARIF 2.1.0 for code-scanning uploads: the rules (with their documentation as help),
one result per finding with its region, and the fix as replacements where one is known.

A fix's replacements come from the diff hunks (no context) of the fixed file that meet
the finding's lines; hunks that meet no finding (an added import) belong to every
fixed finding of that file, since the fix needs them. Offsets count code points
(``columnKind: unicodeCodePoints``), as Python's strings do.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from asyncmend.cli.output import display_path
from asyncmend.engine.diff import split_lines, text_codec
from asyncmend.engine.hunks import Hunk, compute_hunks, finding_hunks, hunk_findings
from asyncmend.engine.results import PARSE_ERROR_CODE, FileResult, Finding

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/asyncmend/"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("asyncmend")
    except PackageNotFoundError:
        return "0"


def _uri(path: str) -> str:
    shown = display_path(path)
    if Path(shown).is_absolute():
        return Path(shown).as_uri()
    return quote(shown)


def _rule_descriptor(code: str, name: str) -> dict[str, Any]:
    from asyncmend.codemods.registry import UnknownRuleError, rule_by_code

    if code == PARSE_ERROR_CODE:
        text = "The file does not parse; it was left alone."
        return {
            "id": code,
            "name": name,
            "shortDescription": {"text": text},
            "help": {"text": text},
        }
    try:
        rule = rule_by_code(code)
    except UnknownRuleError:
        return {"id": code, "name": name, "shortDescription": {"text": name}}
    from asyncmend.cli.rule_docs import rule_url

    doc = rule.doc()
    url = rule_url(code)
    return {
        "id": code,
        "name": name,
        **({"helpUri": url} if url else {}),
        "shortDescription": {"text": rule.summary()},
        "fullDescription": {"text": rule.summary()},
        "help": {"text": doc, "markdown": doc},
        "defaultConfiguration": {"level": "error"},
        "properties": {"fix": rule.fix_applicability.value},
    }


class _FileFixes:
    """The fixed file's hunks and how to turn them into SARIF replacements."""

    def __init__(self, result: FileResult) -> None:
        assert result.original is not None and result.fixed is not None
        self.result = result
        self.before = split_lines(result.original.decode(text_codec(result.encoding)))
        self.after = split_lines(result.fixed.decode(text_codec(result.encoding)))
        self.hunks = compute_hunks(self.before, self.after, context=0)
        self.offsets = [0]
        for line in self.before:
            self.offsets.append(self.offsets[-1] + len(line))
        fixed = [f for f in result.findings if f.code in result.applied]
        self.orphans = [h for h in self.hunks if not hunk_findings(h, fixed)]

    def replacements(self, finding: Finding) -> list[dict[str, Any]]:
        if finding.code not in self.result.applied:
            return []
        own = finding_hunks(finding, self.hunks)
        if not own:
            return []
        chosen: list[Hunk] = sorted({*own, *self.orphans}, key=lambda h: h.start)
        out = []
        for hunk in chosen:
            for start, end, new_start, new_end in hunk.changes:
                out.append(
                    {
                        "deletedRegion": {
                            "charOffset": self.offsets[start],
                            "charLength": self.offsets[end] - self.offsets[start],
                        },
                        "insertedContent": {"text": "".join(self.after[new_start:new_end])},
                    }
                )
        return out


def sarif_log(findings: Sequence[Finding], changed: Sequence[FileResult] = ()) -> dict[str, Any]:
    rules: dict[str, int] = {}
    descriptors: list[dict[str, Any]] = []
    fixes_by_path = {r.path: _FileFixes(r) for r in changed if r.changed}
    results = []
    for f in findings:
        if f.code not in rules:
            rules[f.code] = len(descriptors)
            descriptors.append(_rule_descriptor(f.code, f.name))
        location = {
            "physicalLocation": {
                "artifactLocation": {"uri": _uri(f.path)},
                "region": {
                    "startLine": f.line,
                    "startColumn": f.column,
                    "endLine": f.end_line,
                    "endColumn": f.end_column,
                },
            }
        }
        item: dict[str, Any] = {
            "ruleId": f.code,
            "ruleIndex": rules[f.code],
            "level": "error",
            "message": {"text": f.message},
            "locations": [location],
        }
        file_fixes = fixes_by_path.get(f.path)
        replacements = file_fixes.replacements(f) if file_fixes else []
        if replacements:
            item["fixes"] = [
                {
                    "description": {"text": f.fix_message or f.message},
                    "artifactChanges": [
                        {"artifactLocation": {"uri": _uri(f.path)}, "replacements": replacements}
                    ],
                }
            ]
        results.append(item)
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "asyncmend",
                        "version": _version(),
                        "informationUri": INFORMATION_URI,
                        "rules": descriptors,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
