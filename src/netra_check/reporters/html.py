"""HTML report: one self-contained page (inline CSS, no script, no network).

`check_section` renders the metrics table (and the findings, when listed) from
the plain data of `json_report.as_document`, so that a page built elsewhere
(the `netra test` dashboard keeps these figures in its summary.json) shows the
same table; `page` wraps sections in a document with the shared style sheet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from netra_check.baseline import BaselineComparison
from netra_check.engine import CheckResult
from netra_check.reporters.json_report import as_document

MAX_ROWS = 200  # findings listed; the rest are counted (the JSON report has them all)

# Colours meet WCAG AA contrast on their backgrounds; status is always spelled out too.
STYLE = """
:root { color-scheme: light; --ink: #1d2330; --muted: #505a6b; --line: #d7dce4;
  --paper: #ffffff; --wash: #f4f6f9; --ok: #17663a; --ok-bg: #e3f4ea; --bad: #a3211b;
  --bad-bg: #fbe7e5; --warn: #7a4d00; --warn-bg: #fdf1d8; --idle: #4a5261; --idle-bg: #eceef2;
  --accent: #2456a6; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--wash); color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 20px 48px; }
header.page { margin-bottom: 20px; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.2rem; margin: 0 0 12px; }
h3 { font-size: 1rem; margin: 16px 0 8px; }
p { margin: 0 0 8px; }
.muted { color: var(--muted); }
section.card { background: var(--paper); border: 1px solid var(--line); border-radius: 10px;
  padding: 18px 20px; margin: 0 0 18px; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
caption { text-align: left; color: var(--muted); padding-bottom: 6px; }
th, td { padding: 7px 10px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
thead th { background: var(--wash); font-weight: 600; border-bottom: 2px solid var(--line); }
tbody tr:nth-child(even) { background: #fafbfc; }
td.num, th.num { text-align: right; white-space: nowrap; }
td.test, td.path { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 0.86rem; word-break: break-all; min-width: 16rem; }
.status { display: inline-block; padding: 1px 9px; border-radius: 999px; font-weight: 600;
  font-size: 0.85rem; white-space: nowrap; border: 1px solid currentColor; }
.status.ok { color: var(--ok); background: var(--ok-bg); }
.status.bad { color: var(--bad); background: var(--bad-bg); }
.status.warn { color: var(--warn); background: var(--warn-bg); }
.status.idle { color: var(--idle); background: var(--idle-bg); }
.meter { display: inline-block; width: 90px; height: 8px; background: var(--idle-bg);
  border-radius: 4px; vertical-align: middle; margin-right: 8px; position: relative;
  overflow: hidden; }
.meter > span { position: absolute; left: 0; top: 0; bottom: 0; background: var(--accent); }
.meter > i { position: absolute; top: -2px; bottom: -2px; width: 2px; background: var(--ink); }
.figures { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0 0; padding: 0;
  list-style: none; }
.figures li { background: var(--paper); border: 1px solid var(--line); border-radius: 8px;
  padding: 8px 14px; min-width: 120px; }
.figures b { display: block; font-size: 1.3rem; }
figure { margin: 0 0 12px; }
figcaption { color: var(--muted); font-size: 0.9rem; margin-bottom: 4px; }
svg.chart { width: 100%; height: auto; max-width: 1040px; display: block; }
svg.chart text { font: 11px system-ui, sans-serif; fill: var(--muted); }
svg.chart text.failed { fill: var(--bad); font-weight: 600; }
.legend { display: flex; gap: 16px; font-size: 0.85rem; color: var(--muted); margin: 4px 0; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px;
  vertical-align: -1px; margin-right: 5px; }
details summary { cursor: pointer; color: var(--accent); margin: 6px 0; }
""".strip()


def page(title: str, sections: Sequence[str], subtitle: str = "") -> str:
    """A whole HTML document: `title` as its heading, then the (already escaped) sections."""
    note = f'<p class="muted">{escape(subtitle)}</p>' if subtitle else ""
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n<main>\n"
        f'<header class="page"><h1>{escape(title)}</h1>{note}</header>\n'
        f"{body}\n</main>\n</body>\n</html>\n"
    )


def status_badge(ok: bool | None, text: str | None = None) -> str:
    """A status pill: green "ok", red "below target", grey for None; always with words."""
    if ok is None:
        kind, words = "idle", text or "no target"
    else:
        kind, words = ("ok", text or "ok") if ok else ("bad", text or "below target")
    mark = {"ok": "\u2714 ", "bad": "\u2718 ", "idle": ""}[kind]
    return f'<span class="status {kind}">{mark}{escape(words)}</span>'


def check_section(document: Mapping[str, Any], heading: str = "netra check") -> str:
    """The metrics table, with the findings listed when `document["findings"]` is a list.

    `document` is `json_report.as_document`'s shape; `findings` may also be just their
    number (what the `netra test` summary keeps).
    """
    findings = document.get("findings", [])
    listed = findings if isinstance(findings, list) else None
    total = len(findings) if isinstance(findings, list) else int(findings or 0)
    seconds = document.get("seconds")
    took = f", scanned in {float(seconds):.2f} s" if isinstance(seconds, int | float) else ""
    out = [
        '<section class="card" aria-labelledby="check-heading">',
        f'<h2 id="check-heading">{escape(heading)}</h2>',
        f'<p class="muted">{int(document.get("files", 0))} files, '
        f"{int(document.get('tests', 0))} tests, {total} finding(s){took}.</p>",
        "<table>",
        "<caption>Test-suite integrity metrics and their targets</caption>",
        '<thead><tr><th scope="col">Status</th><th scope="col">Metric</th>'
        '<th scope="col" class="num">Now</th><th scope="col" class="num">Target</th></tr></thead>',
        "<tbody>",
    ]
    for metric in document.get("metrics", []):
        ok = bool(metric.get("ok"))
        detail = metric.get("detail") or ""
        label = escape(str(metric.get("label", "")))
        if detail:
            label += f'<br><span class="muted">{escape(str(detail))}</span>'
        out.append(
            f"<tr><td>{status_badge(ok, 'ok' if ok else 'off target')}</td><td>{label}</td>"
            f'<td class="num">{escape(str(metric.get("display", "")))}</td>'
            f'<td class="num">{escape(str(metric.get("target_display", "")))}</td></tr>'
        )
    out += ["</tbody>", "</table>"]
    if listed:
        out += _findings_table(listed)
    baseline = document.get("baseline")
    if isinstance(baseline, Mapping):
        out.append(
            f'<p class="muted">Baseline {escape(str(baseline.get("path", "")))}: '
            f"{int(baseline.get('known', 0))} known, {int(baseline.get('new', 0))} new, "
            f"{int(baseline.get('fixed', 0))} fixed.</p>"
        )
    out.append("</section>")
    return "\n".join(out)


def _findings_table(findings: Sequence[Mapping[str, Any]]) -> list[str]:
    out = [
        f"<h3>Findings ({len(findings)})</h3>",
        "<table>",
        '<thead><tr><th scope="col">Location</th><th scope="col">Rule</th>'
        '<th scope="col">Severity</th><th scope="col">Message</th></tr></thead>',
        "<tbody>",
    ]
    for finding in findings[:MAX_ROWS]:
        where = str(finding.get("path", ""))
        if finding.get("line"):
            where += f":{finding['line']}"
        severity = str(finding.get("severity", "error"))
        if finding.get("new"):
            severity += ", new"
        out.append(
            f'<tr><td class="path">{escape(where)}</td>'
            f"<td>{escape(str(finding.get('rule', '')))} {escape(str(finding.get('name', '')))}"
            f"</td><td>{escape(severity)}</td><td>{escape(str(finding.get('message', '')))}</td>"
            "</tr>"
        )
    out += ["</tbody>", "</table>"]
    if len(findings) > MAX_ROWS:
        out.append(
            f'<p class="muted">…and {len(findings) - MAX_ROWS} more (use --format json).</p>'
        )
    from netra_check.rules import RULES_BY_ID

    hints = [
        f"<li><strong>{escape(rule.id)} {escape(rule.name)}</strong>: {escape(rule.hint)} "
        f"(<code>netra check --explain {escape(rule.id)}</code>)</li>"
        for rule_id in sorted({str(f.get("rule", "")) for f in findings})
        if (rule := RULES_BY_ID.get(rule_id)) is not None
    ]
    if hints:
        out += ["<h3>How to fix</h3>", f"<ul>{''.join(hints)}</ul>"]
    return out


def render(result: CheckResult, comparison: BaselineComparison | None) -> str:
    """The scanner's report as a self-contained HTML page."""
    document = as_document(result, comparison)
    if comparison is not None:  # as the other reports: only the new findings are listed
        document["findings"] = [f for f in document["findings"] if f.get("new")]
    section = check_section(document, heading="Metrics and findings")
    return page("netra check", [section], subtitle=str(result.root))
