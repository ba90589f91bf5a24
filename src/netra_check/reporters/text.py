"""Plain-text report: the dashboard table, then one `path:line` line per finding."""

from __future__ import annotations

from collections import Counter

from netra_check.baseline import BaselineComparison
from netra_check.engine import CheckResult
from netra_check.reporters import location, shown_findings
from netra_check.rules import RULES_BY_ID


def _table(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  " + "  ".join(cells).rstrip())
        if index == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return lines


def render(result: CheckResult, comparison: BaselineComparison | None) -> str:
    """The human-readable report."""
    cached = result.files - result.analysed
    out = [
        f"netra check: {result.files} files ({result.analysed} analysed, {cached} cached), "
        f"{result.tests} tests, {result.seconds:.2f}s",
        "",
    ]
    new_counts = Counter(f.rule_id for f in comparison.new) if comparison else Counter()
    header = ["", "Metric", "Now", "Target"] + (["New"] if comparison else [])
    rows = [header]
    for metric in result.metrics:
        status = "ok" if metric.ok else "!!"
        row = [status, metric.label, metric.display, metric.target_display]
        if comparison:
            row.append(str(new_counts.get(metric.key, "")) if metric.key in RULES_BY_ID else "")
        rows.append(row)
    out.extend(_table(rows, right={2, 3, 4}))
    out.extend(f"  {m.label}: {m.detail}" for m in result.metrics if m.detail)
    findings = shown_findings(result, comparison)
    if findings:
        title = "New findings" if comparison else "Findings"
        out += ["", f"{title} ({len(findings)}):"]
        for finding in findings:
            out.append(
                f"{location(result, finding)}: {finding.rule_id} [{finding.severity}] "
                f"{finding.message}"
            )
        out += ["", "How to fix:"]
        for rule_id in sorted({f.rule_id for f in findings}):
            rule = RULES_BY_ID[rule_id]
            out.append(f"  {rule_id} {rule.name}: {rule.hint} (netra check --explain {rule_id})")
    out.append("")
    if comparison is not None:
        out.append(
            f"Baseline {comparison.path}: {len(comparison.known)} known, "
            f"{len(comparison.new)} new, {comparison.fixed} fixed."
        )
        if comparison.fixed:
            out.append("Some baseline findings are fixed: run with --update-baseline to ratchet.")
    errors = sum(1 for f in findings if f.severity == "error")
    if result.suppressed:
        out.append(f"{result.suppressed} finding(s) suppressed with `# netra: ignore`.")
    out.append(f"FAILED: {errors} error(s)." if errors else "OK: no errors.")
    return "\n".join(out) + "\n"
