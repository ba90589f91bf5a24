"""JSON report: the whole result as one machine-readable document."""

from __future__ import annotations

import json
from typing import Any

from netra_check.baseline import BaselineComparison, fingerprints
from netra_check.engine import CheckResult
from netra_check.reporters import shown_path
from netra_check.rules import RULES_BY_ID


def as_document(result: CheckResult, comparison: BaselineComparison | None) -> dict[str, Any]:
    """The report as plain data."""
    new_ids = comparison.new_ids() if comparison else set()
    findings = []
    for finding, fingerprint in zip(result.findings, fingerprints(result.findings), strict=True):
        entry: dict[str, Any] = {
            "rule": finding.rule_id,
            "name": RULES_BY_ID[finding.rule_id].name,
            "severity": finding.severity,
            "path": shown_path(result, finding.path),
            "line": finding.line,
            "message": finding.message,
            "fingerprint": fingerprint,
        }
        if comparison is not None:
            entry["new"] = id(finding) in new_ids
        findings.append(entry)
    return {
        "tool": "netra check",
        "version": 1,
        "root": str(result.root),
        "files": result.files,
        "analysed": result.analysed,
        "tests": result.tests,
        "suppressed": result.suppressed,
        "seconds": round(result.seconds, 3),
        "metrics": [
            {
                "key": m.key,
                "label": m.label,
                "value": m.value,
                "target": m.target,
                "display": m.display,
                "target_display": m.target_display,
                "ok": m.ok,
                "detail": m.detail,
            }
            for m in result.metrics
        ],
        "findings": findings,
        "baseline": None
        if comparison is None
        else {
            "path": str(comparison.path),
            "new": len(comparison.new),
            "known": len(comparison.known),
            "fixed": comparison.fixed,
        },
    }


def render(result: CheckResult, comparison: BaselineComparison | None) -> str:
    """The JSON document, indented."""
    # No indent: it would make json use its pure-Python encoder, 10x slower on big reports.
    return json.dumps(as_document(result, comparison)) + "\n"
