"""The test dashboard: `test-results/index.html`, built from summary.json and the run history.

One self-contained page (inline CSS and SVG, no script, nothing fetched), so it
opens from a CI artifact or a file manager: the categories of the last run, its
slowest tests and those slower than their history, the trend of durations and
pass counts over the recorded runs, coverage per area against its target, and
the `netra check` metrics of the tests folder (rendered by netra_check's own
HTML reporter). Every string from the summary is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from netra.testing import run_history
from netra.testing.results import write_atomically

DASHBOARD_FILE = "index.html"
TREND_RUNS = 30  # runs drawn in the trend charts (the history may keep more)

# Category status -> (badge kind, words); kinds are the check reporter's pill styles.
_STATUS = {
    "passed": ("ok", "\u2714 passed"),
    "failed": ("bad", "\u2718 failed"),
    "interrupted": ("bad", "\u2718 interrupted"),
    "no_tests": ("idle", "no tests selected"),
    "missing": ("idle", "no folder"),
    "not_run": ("idle", "not run"),
}
_CROSS = "\u2718"  # the mark of a failure, next to its words or number
_GREEN, _RED, _GREY, _BLUE = "#2e8b57", "#c0392b", "#9aa3b2", "#2456a6"


def check_summary(tests_dir: Path) -> dict[str, Any]:
    """`netra check` run in-process on `tests_dir`, as the summary keeps it: the metrics
    (label, display, target_display, ok) and the number of findings, or the error."""
    from netra_check.command import check_paths
    from netra_check.errors import CheckError
    from netra_check.reporters.json_report import as_document

    try:
        result = check_paths([tests_dir])
    except CheckError as exc:  # no such folder, a bad [tool.netra.check] table
        return {"error": str(exc)}
    except Exception as exc:  # a scanner bug must not cost the run its summary and page
        return {"error": f"netra check failed: {type(exc).__name__}: {exc}"}
    document = as_document(result, None)
    return {
        "paths": [str(tests_dir)],
        "files": document["files"],
        "tests": document["tests"],
        "seconds": document["seconds"],
        "suppressed": document["suppressed"],
        "findings": len(document["findings"]),
        "errors": sum(1 for f in document["findings"] if f["severity"] == "error"),
        "metrics": [
            {key: m[key] for key in ("key", "label", "display", "target_display", "ok", "detail")}
            for m in document["metrics"]
        ],
    }


def publish(results_dir: Path, summary: Mapping[str, Any]) -> Path:
    """Record this run in the history and write the dashboard; returns its path."""
    runs = run_history.record_run(results_dir / run_history.RUNS_FILE, summary)
    path = results_dir / DASHBOARD_FILE
    write_atomically(path, build(summary, runs))
    return path


def build(summary: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]) -> str:
    """The dashboard page for `summary` (a summary.json) and `runs` (oldest first)."""
    from netra_check.reporters.html import page

    sections = [
        _overview(summary),
        _categories(summary),
        _tests(summary),
        _trend(runs),
        _coverage(summary.get("coverage")),
        _check(summary.get("check")),
    ]
    started = _long_time(str(summary.get("started_at", ""))) or "at an unknown time"
    return page("Netra test results", sections, subtitle=f"Last run started {started}")


# -- sections ---------------------------------------------------------------------------
def _badge(kind: str, words: str) -> str:
    return f'<span class="status {escape(kind)}">{escape(words)}</span>'


def _counts(summary: Mapping[str, Any]) -> dict[str, int]:
    totals = dict.fromkeys(run_history.COUNT_KEYS, 0)
    for category in summary.get("categories", []):
        for key in totals:
            totals[key] += int(category.get("counts", {}).get(key, 0))
    return totals


def _overview(summary: Mapping[str, Any]) -> str:
    exit_code = int(summary.get("exit_code", 0))
    totals = _counts(summary)
    verdict = _badge("ok", "\u2714 passed") if exit_code == 0 else _badge("bad", "\u2718 failed")
    figures = [
        ("Result", verdict),
        ("Exit code", str(exit_code)),
        ("Passed", str(totals["passed"])),
        ("Failed", str(totals["failed"] + totals["errors"])),
        ("Skipped", str(totals["skipped"])),
        ("Duration", f"{float(summary.get('duration_s', 0.0)):.1f} s"),
    ]
    items = "".join(
        f"<li><span class='muted'>{name}</span><b>{value}</b></li>" for name, value in figures
    )
    notes = []
    if summary.get("base_url"):
        notes.append(f"against the deployment {escape(str(summary['base_url']))}")
    if summary.get("parallel"):
        notes.append(f"{int(summary['parallel'])} workers per category")
    extra = f'<p class="muted">Ran {"; ".join(notes)}.</p>' if notes else ""
    return (
        '<section class="card" aria-labelledby="overview-heading">'
        '<h2 id="overview-heading">Last run</h2>'
        f'<ul class="figures">{items}</ul>{extra}</section>'
    )


def _categories(summary: Mapping[str, Any]) -> str:
    rows = []
    for category in summary.get("categories", []):
        status = str(category.get("status", "not_run"))
        kind, words = _STATUS.get(status, ("idle", status))
        counts = category.get("counts", {})
        cells = "".join(
            f'<td class="num">{int(counts.get(key, 0))}</td>' for key in run_history.COUNT_KEYS
        )
        rows.append(
            f"<tr><th scope='row'>{escape(str(category.get('name', '')))}</th>"
            f"<td>{_badge(kind, words)}</td>{cells}"
            f'<td class="num">{float(category.get("duration_s", 0.0)):.1f} s</td></tr>'
        )
    if not rows:
        return _card("categories", "Categories", "<p>No category ran.</p>")
    head = "".join(
        f'<th scope="col" class="num">{name}</th>'
        for name in ("Tests", "Passed", "Failed", "Errors", "Skipped", "Duration")
    )
    table = (
        "<table><caption>Each category runs in its own pytest process, in this order"
        '</caption><thead><tr><th scope="col">Category</th><th scope="col">Status</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    return _card("categories", "Categories", table)


def _tests(summary: Mapping[str, Any]) -> str:
    slowest = summary.get("slowest_tests") or []
    slower = summary.get("slow_tests") or []
    out = ["<h3>Slowest tests</h3>"]
    if slowest:
        rows = "".join(
            f'<tr><td class="test">{escape(str(t.get("test", "")))}</td>'
            f'<td class="num">{float(t.get("duration_s", 0.0)):.2f} s</td></tr>'
            for t in slowest
        )
        out.append(
            '<table><thead><tr><th scope="col">Test</th><th scope="col" class="num">Duration'
            f"</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    else:
        out.append("<p>No test durations were recorded.</p>")
    out.append("<h3>Slower than their history</h3>")
    if slower:
        rows = "".join(
            f"<tr><td>{_badge('warn', 'slower')}</td>"
            f'<td class="test">{escape(str(t.get("test", "")))}</td>'
            f'<td class="num">{float(t.get("duration_s", 0.0)):.2f} s</td>'
            f'<td class="num">{float(t.get("median_s", 0.0)):.2f} s</td>'
            f'<td class="num">{int(t.get("runs", 0))}</td></tr>'
            for t in slower
        )
        out.append(
            "<table><caption>Passed tests at least twice as slow as the median of their "
            'recorded runs (and 0.5 s slower)</caption><thead><tr><th scope="col">Flag</th>'
            '<th scope="col">Test</th><th scope="col" class="num">This run</th>'
            '<th scope="col" class="num">Median</th><th scope="col" class="num">Runs</th>'
            f"</tr></thead><tbody>{rows}</tbody></table>"
        )
    else:
        out.append("<p>None: no test became slower than its recorded median.</p>")
    return _card("tests", "Tests", "".join(out))


def _trend(runs: Sequence[Mapping[str, Any]]) -> str:
    shown = list(runs)[-TREND_RUNS:]
    if not shown:
        return _card("trend", "Trend", "<p>No run recorded yet.</p>")
    labels = [_short_time(str(run.get("started_at", ""))) for run in shown]
    durations = [float(run.get("duration_s", 0.0)) for run in shown]
    totals = [run.get("totals", {}) for run in shown]
    passed = [int(t.get("passed", 0)) for t in totals]
    failed = [int(t.get("failed", 0)) + int(t.get("errors", 0)) for t in totals]
    skipped = [int(t.get("skipped", 0)) for t in totals]
    charts = [
        f"<p class='muted'>The last {len(shown)} of {len(runs)} recorded run(s), oldest first. "
        "Runs of a single category or a -k selection are drawn too.</p>",
        _figure(
            "trend-duration",
            "Duration of each run, in seconds",
            _line_chart("trend-duration", labels, durations, "s"),
            [("Duration", _BLUE)],
        ),
        _figure(
            "trend-tests",
            "Tests of each run: passed, failed (with errors) and skipped",
            _bar_chart("trend-tests", labels, [passed, failed, skipped]),
            [("Passed", _GREEN), ("Failed", _RED), ("Skipped", _GREY)],
        ),
        _runs_table(shown),
    ]
    return _card("trend", "Trend", "".join(charts))


def _coverage(coverage: object) -> str:
    if not isinstance(coverage, Mapping) or not coverage.get("measured"):
        reason = coverage.get("reason") if isinstance(coverage, Mapping) else None
        why = (
            f"It was asked for but not measured: {escape(str(reason))}."
            if reason
            else "Run <code>netra test --coverage</code> to measure line and branch coverage "
            "per area."
        )
        return _card("coverage", "Coverage", f"<p>{_badge('idle', 'not measured')} {why}</p>")
    rows = []
    for area, figures in (coverage.get("areas") or {}).items():
        target = figures.get("target")
        ok = figures.get("ok", True)
        if target is None:
            verdict = _badge("idle", "no target")
        elif ok:
            verdict = _badge("ok", "\u2714 on target")
        else:
            verdict = _badge("bad", "\u2718 below target")
        rows.append(
            f"<tr><th scope='row'>{escape(str(area))}</th>"
            f"<td>{_percent(figures, 'lines', target)}</td>"
            f"<td>{_percent(figures, 'branches', target)}</td>"
            f'<td class="num">{_target(target)}</td><td>{verdict}</td></tr>'
        )
    total = coverage.get("total") or {}
    foot = (
        f"<tfoot><tr><th scope='row'>total</th><td>{_percent(total, 'lines', None)}</td>"
        f"<td>{_percent(total, 'branches', None)}</td><td></td><td></td></tr></tfoot>"
        if total
        else ""
    )
    package = escape(str(coverage.get("package", "the package")))
    table = (
        f"<table><caption>Line and branch coverage per area of {package}, across every "
        "process the tests started; the bar's mark is the target</caption><thead><tr>"
        '<th scope="col">Area</th><th scope="col">Lines</th><th scope="col">Branches</th>'
        '<th scope="col" class="num">Target</th><th scope="col">Status</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody>{foot}</table>"
    )
    return _card("coverage", "Coverage", table)


def _check(check: object) -> str:
    if not isinstance(check, Mapping):
        return _card("check", "netra check", f"<p>{_badge('idle', 'not scanned')}</p>")
    if "error" in check:
        return _card(
            "check",
            "netra check",
            f"<p>{_badge('bad', 'scan failed')} {escape(str(check['error']))}</p>",
        )
    from netra_check.reporters.html import check_section

    paths = ", ".join(str(p) for p in check.get("paths", []))
    return check_section(check, heading=f"netra check: {paths}" if paths else "netra check")


# -- pieces -----------------------------------------------------------------------------
def _card(key: str, title: str, body: str) -> str:
    return (
        f'<section class="card" aria-labelledby="{key}-heading">'
        f'<h2 id="{key}-heading">{escape(title)}</h2>{body}</section>'
    )


def _short_time(started_at: str) -> str:
    """`2026-12-01T12:08:57+00:00` -> `12-01 12:08`."""
    date, _, time = started_at.partition("T")
    return f"{date[5:]} {time[:5]}".strip() or "?"


def _long_time(started_at: str) -> str:
    """`2026-12-01T12:08:57+00:00` -> `2026-12-01 12:08:57 UTC` (other offsets kept)."""
    date, _, time = started_at.partition("T")
    clock, offset = time[:8], time[8:]
    zone = " UTC" if offset in ("+00:00", "Z") else (f" {offset}" if offset else "")
    return f"{date} {clock}{zone}".strip()


def _target(target: object) -> str:
    return f"{float(target):.0f}%" if isinstance(target, int | float) else "none"


def _percent(figures: Mapping[str, Any], kind: str, target: object) -> str:
    pct = figures.get(f"{kind}_pct")
    pair = figures.get(kind) or [0, 0]
    if not isinstance(pct, int | float):
        return '<span class="muted">n/a</span>'
    width = max(0.0, min(100.0, float(pct)))
    mark = (
        f'<i style="left:{max(0.0, min(100.0, float(target))):.1f}%"></i>'
        if isinstance(target, int | float)
        else ""
    )
    covered, total = (int(pair[0]), int(pair[1])) if len(pair) == 2 else (0, 0)
    # Rounded down, like the report itself: 89.99% must not read as a met 90% target.
    shown = math.floor(float(pct) * 10) / 10
    return (
        f'<span class="meter" aria-hidden="true"><span style="width:{width:.1f}%"></span>'
        f"{mark}</span>{shown:.1f}% "
        f'<span class="muted">({covered}/{total})</span>'
    )


def _figure(key: str, caption: str, svg: str, legend: list[tuple[str, str]]) -> str:
    keys = "".join(
        f'<span><span class="swatch" style="background:{colour}"></span>{escape(name)}</span>'
        for name, colour in legend
    )
    return (
        f'<figure><figcaption id="{key}-caption">{escape(caption)}</figcaption>'
        f'<div class="legend">{keys}</div>{svg}</figure>'
    )


_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 720, 170, 48, 12, 10, 26


def _axes(key: str, top: float, labels: list[str], unit: str) -> list[str]:
    """The SVG's opening, grid lines with their values, and the first and last run's time."""
    plot_h = _H - _TOP - _BOTTOM
    out = [
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" aria-labelledby="{key}-caption">'
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = _TOP + plot_h * (1 - fraction)
        value = top * fraction
        text = f"{value:.0f}" if top >= 10 else f"{value:.1f}"
        out.append(
            f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#d7dce4" stroke-width="1"/>'
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(text + unit)}</text>"
        )
    if labels:
        out.append(f'<text x="{_LEFT}" y="{_H - 6}">{escape(labels[0])}</text>')
        if len(labels) > 1:
            out.append(
                f'<text x="{_W - _RIGHT}" y="{_H - 6}" text-anchor="end">'
                f"{escape(labels[-1])}</text>"
            )
    return out


def _slots(count: int) -> tuple[float, float]:
    """(x of the first slot's centre, width of a slot) for `count` runs."""
    width = (_W - _LEFT - _RIGHT) / max(count, 1)
    return _LEFT + width / 2, width


def _line_chart(key: str, labels: list[str], values: list[float], unit: str) -> str:
    top = _nice_top(max(values, default=0.0))
    plot_h = _H - _TOP - _BOTTOM
    first, width = _slots(len(values))
    points = [
        (first + i * width, _TOP + plot_h * (1 - value / top)) for i, value in enumerate(values)
    ]
    out = _axes(key, top, labels, f" {unit}" if unit != "s" else unit)
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        out.append(f'<polyline fill="none" stroke="{_BLUE}" stroke-width="2" points="{path}"/>')
    for (x, y), label, value in zip(points, labels, values, strict=True):
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{_BLUE}">'
            f"<title>{escape(f'{label}: {value:.1f} {unit}')}</title></circle>"
        )
    out.append("</svg>")
    return "".join(out)


def _bar_chart(key: str, labels: list[str], series: list[list[int]]) -> str:
    stacks = [sum(column) for column in zip(*series, strict=True)]
    top = _nice_top(float(max(stacks, default=0)))
    plot_h = _H - _TOP - _BOTTOM
    first, width = _slots(len(labels))
    bar = max(2.0, min(28.0, width * 0.7))
    out = _axes(key, top, labels, "")
    for index, label in enumerate(labels):
        base = float(_TOP + plot_h)
        passed, failed, skipped = (values[index] for values in series)
        x = first + index * width - bar / 2
        for value, colour in ((passed, _GREEN), (failed, _RED), (skipped, _GREY)):
            if not value:
                continue
            height = plot_h * value / top
            base -= height
            out.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{colour}"><title>'
                f"{escape(f'{label}: {passed} passed, {failed} failed, {skipped} skipped')}"
                "</title></rect>"
            )
        if failed:  # a few failures are too thin to see next to hundreds of passes
            out.append(
                f'<text x="{x + bar / 2:.1f}" y="{base - 4:.1f}" text-anchor="middle" '
                f'class="failed">{_CROSS}{failed}</text>'
            )
    out.append("</svg>")
    return "".join(out)


def _nice_top(value: float) -> float:
    """A round upper bound for an axis: 1, 2 or 5 times a power of ten, at least `value`."""
    if value <= 0:
        return 1.0
    scale = 10 ** (len(str(int(value))) - 1) if value >= 1 else 1.0
    for step in (1, 2, 5, 10):
        if step * scale >= value:
            return float(step * scale)
    return float(10 * scale)


def _runs_table(runs: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for run in reversed(runs):  # newest first, as a log reads
        totals = run.get("totals", {})
        names = ", ".join(
            escape(str(name))
            for name, category in (run.get("categories") or {}).items()
            if category.get("status") not in ("missing", "not_run")
        )
        ok = int(run.get("exit_code", 0)) == 0
        verdict = _badge("ok", "\u2714 passed") if ok else _badge("bad", "\u2718 failed")
        rows.append(
            f"<tr><td>{escape(str(run.get('started_at', '')))}</td><td>{verdict}</td>"
            f"<td>{names or '-'}</td>"
            f'<td class="num">{int(totals.get("passed", 0))}</td>'
            f'<td class="num">{int(totals.get("failed", 0)) + int(totals.get("errors", 0))}</td>'
            f'<td class="num">{int(totals.get("skipped", 0))}</td>'
            f'<td class="num">{float(run.get("duration_s", 0.0)):.1f} s</td></tr>'
        )
    return (
        "<details><summary>The runs as a table</summary><table><thead><tr>"
        '<th scope="col">Started</th><th scope="col">Result</th><th scope="col">Categories</th>'
        '<th scope="col" class="num">Passed</th><th scope="col" class="num">Failed</th>'
        '<th scope="col" class="num">Skipped</th><th scope="col" class="num">Duration</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></details>"
    )
