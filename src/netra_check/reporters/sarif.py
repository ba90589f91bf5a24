"""SARIF 2.1.0 report, for GitHub code scanning and other static-analysis viewers."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from netra_check.baseline import BaselineComparison, fingerprints
from netra_check.engine import CheckResult
from netra_check.reporters import file_location, repository_root
from netra_check.rules import REGISTRY, rule_doc

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVELS = {"error": "error", "warning": "warning"}


def _rule_descriptor(rule_index: int) -> dict[str, Any]:
    rule = REGISTRY[rule_index]
    doc = rule_doc(rule)
    first_paragraph = doc.split("\n\n", 2)[1].strip() if "\n\n" in doc else rule.summary
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": " ".join(first_paragraph.split())},
        "help": {"text": doc, "markdown": doc},
        "defaultConfiguration": {"level": "error"},
    }


def as_document(result: CheckResult, comparison: BaselineComparison | None) -> dict[str, Any]:
    """The SARIF log as plain data."""
    index = {rule.id: i for i, rule in enumerate(REGISTRY)}
    new_ids = comparison.new_ids() if comparison else set()
    results = []
    # Code scanning resolves artifact paths from the repository's root, not the project's.
    srcroot = repository_root(result.root)
    prefix = result.root.relative_to(srcroot).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    for finding, fingerprint in zip(result.findings, fingerprints(result.findings), strict=True):
        path, line = file_location(result, finding)
        location: dict[str, Any] = {
            "artifactLocation": {"uri": quote(prefix + path, safe="/"), "uriBaseId": "SRCROOT"},
            "region": {"startLine": line},
        }
        entry: dict[str, Any] = {
            "ruleId": finding.rule_id,
            "ruleIndex": index[finding.rule_id],
            "level": _LEVELS.get(finding.severity, "note"),
            "message": {"text": finding.message},
            "locations": [{"physicalLocation": location}],
            "partialFingerprints": {"netraCheck/v1": fingerprint},
        }
        if comparison is not None:
            entry["baselineState"] = "new" if id(finding) in new_ids else "unchanged"
        results.append(entry)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "netra check",
                        "informationUri": "https://github.com/netra/netra/blob/main/docs/check.md",
                        "rules": [_rule_descriptor(i) for i in range(len(REGISTRY))],
                    }
                },
                "originalUriBaseIds": {"SRCROOT": {"uri": srcroot.as_uri() + "/"}},
                "invocations": [{"executionSuccessful": True}],
                "results": results,
            }
        ],
    }


def render(result: CheckResult, comparison: BaselineComparison | None) -> str:
    """The SARIF log as JSON."""
    # No indent: it would make json use its pure-Python encoder, 10x slower on big reports.
    return json.dumps(as_document(result, comparison)) + "\n"
