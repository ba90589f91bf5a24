"""GitHub Actions workflow commands: one `::error file=...,line=...::` annotation per finding."""

from __future__ import annotations

from netra_check.baseline import BaselineComparison
from netra_check.engine import CheckResult
from netra_check.reporters import file_location, shown_findings, shown_path
from netra_check.rules import RULES_BY_ID


def escape_data(text: str) -> str:
    """Escape a workflow-command message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow-command property value (file, title)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(result: CheckResult, comparison: BaselineComparison | None) -> str:
    """Annotations for the findings (only new ones against a baseline), then a summary."""
    lines = []
    for finding in shown_findings(result, comparison):
        command = "error" if finding.severity == "error" else "warning"
        path, line = file_location(result, finding)
        props = [f"file={escape_property(shown_path(result, path))}", f"line={line}"]
        rule = RULES_BY_ID[finding.rule_id]
        props.append(f"title={escape_property(f'{rule.id} {rule.name}')}")
        message = f"{finding.message}. Fix: {rule.hint}"
        lines.append(f"::{command} {','.join(props)}::{escape_data(message)}")
    for metric in result.metrics:
        if not metric.ok and metric.key not in RULES_BY_ID:
            lines.append(
                f"::notice title={escape_property(metric.label)}::"
                f"{escape_data(f'{metric.display} (target {metric.target_display})')}"
            )
    shown = shown_findings(result, comparison)
    lines.append(f"netra check: {len(shown)} finding(s) in {result.files} files")
    return "\n".join(lines) + "\n"
