"""Markdown report, for pull-request comments and `$GITHUB_STEP_SUMMARY`."""

from __future__ import annotations

from collections import Counter

from netra_check.baseline import BaselineComparison
from netra_check.engine import CheckResult
from netra_check.reporters import location, shown_findings
from netra_check.rules import RULES_BY_ID

MAX_ROWS = 200


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(result: CheckResult, comparison: BaselineComparison | None) -> str:
    """A summary table and a findings table (capped at MAX_ROWS rows)."""
    new_counts = Counter(f.rule_id for f in comparison.new) if comparison else Counter()
    out = [
        "## netra check",
        "",
        f"{result.files} files, {result.tests} tests.",
        "",
        "| | Metric | Now | Target |" + (" New |" if comparison else ""),
        "|---|---|---:|---:|" + ("---:|" if comparison else ""),
    ]
    for metric in result.metrics:
        status = "✅" if metric.ok else "❌"
        row = f"| {status} | {_cell(metric.label)} | {metric.display} | {metric.target_display} |"
        if comparison:
            row += f" {new_counts.get(metric.key, '')} |"
        out.append(row)
    findings = shown_findings(result, comparison)
    if findings:
        out += [
            "",
            f"### {'New findings' if comparison else 'Findings'} ({len(findings)})",
            "",
            "| Location | Rule | Message |",
            "|---|---|---|",
        ]
        for finding in findings[:MAX_ROWS]:
            rule = RULES_BY_ID[finding.rule_id]
            where = _cell(location(result, finding))
            out.append(f"| `{where}` | {rule.id} {rule.name} | {_cell(finding.message)} |")
        if len(findings) > MAX_ROWS:
            out.append(f"\n…and {len(findings) - MAX_ROWS} more (use `--format json`).")
    if comparison is not None:
        out += [
            "",
            f"Baseline: {len(comparison.known)} known, {len(comparison.new)} new, "
            f"{comparison.fixed} fixed.",
        ]
    return "\n".join(out) + "\n"
