"""netra.testing.dashboard and run_history: the page built from a recorded summary and history."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from netra.testing import dashboard, run_history
from netra.testing.results import TestCaseResult, slowest_tests

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dashboard"
VOID = {"meta", "br", "hr", "img", "input", "link", "circle", "line", "rect", "polyline"}


class Page(HTMLParser):
    """The page's elements: balanced nesting, the text of each section, every attribute."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self.sections: dict[str, list[str]] = {}
        self._section: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(name, value or "") for name, value in attrs]
        labelled = dict(attrs).get("aria-labelledby")
        if tag == "section" and labelled:
            self._section = labelled.removesuffix("-heading")
            self.sections[self._section] = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()
        if tag == "section":
            self._section = None

    def handle_data(self, data: str) -> None:
        if self._section and data.strip():
            self.sections[self._section].append(data.strip())

    def text(self, section: str) -> str:
        return " ".join(self.sections[section])


def recorded() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The recorded summary, and the history as publishing it gives (that run last)."""
    summary = json.loads((FIXTURES / "summary.json").read_text())
    history = run_history.load_runs(FIXTURES / "runs.json")
    return summary, [*history, run_history.run_record(summary)]


@pytest.fixture
def page() -> Page:
    return Page(dashboard.build(*recorded()))


def test_the_page_is_well_formed_with_one_section_per_part(page: Page) -> None:
    assert page.problems == []
    assert page.stack == []
    assert list(page.sections) == ["overview", "categories", "tests", "trend", "coverage", "check"]
    assert page.tags.count("svg") == 2  # the two trend charts


def test_categories_show_status_in_words_counts_and_duration(page: Page) -> None:
    text = page.text("categories")
    assert "mission_critical ✔ passed 31 31 0 0 0 48.2 s" in text
    assert "integration ✘ failed 184 181 2 1 0 287.5 s" in text
    assert "e2e not run 0 0 0 0 0 0.0 s" in text
    overview = page.text("overview")
    assert "✘ failed" in overview
    assert "Exit code 1" in overview
    assert "Failed 3" in overview  # failures and errors together


def test_slowest_and_slower_tests_are_listed(page: Page) -> None:
    text = page.text("tests")
    slowest = text.split("Slower than their history")[0]
    assert "test_a_survivor_ends_the_runs_of_a_lost_instance 14.80 s" in slowest
    slower = text.split("Slower than their history")[1]
    assert "slower tests.integration.test_bus_redis::test_a_trimmed_stream_asks_for_a_replay" in (
        slower
    )
    assert "6.41 s 1.87 s 9" in slower


def test_coverage_below_target_is_flagged_in_words(page: Page) -> None:
    text = page.text("coverage")
    assert "realtime 94.1% (1391/1478) 89.9% (402/447) 90% ✘ below target" in text
    assert "runs 95.6% (612/640) 94.0% (171/182) 90% ✔ on target" in text
    assert "db 92.1% (700/760) 87.0% (120/138) none no target" in text
    assert "total 89.8% (6934/7721) 85.4% (1801/2109)" in text
    assert text.count("below target") == 2  # realtime (branches) and api


def test_coverage_not_measured_when_the_summary_has_none() -> None:
    summary, runs = recorded()
    del summary["coverage"]
    text = Page(dashboard.build(summary, runs)).text("coverage")
    assert "not measured" in text
    assert "netra test --coverage" in text


def test_coverage_asked_for_but_not_measured_says_why() -> None:
    summary, runs = recorded()
    summary["coverage"] = {"measured": False, "reason": "no data <collected>"}
    text = Page(dashboard.build(summary, runs)).text("coverage")
    assert "not measured It was asked for but not measured: no data <collected>." in text


def test_the_coverage_caption_names_the_measured_package() -> None:
    summary, runs = recorded()
    summary["coverage"]["package"] = "shop<app>"
    text = Page(dashboard.build(summary, runs)).text("coverage")
    assert "Line and branch coverage per area of shop<app>, across every process" in text


def test_a_percentage_just_below_its_target_never_reads_as_the_target() -> None:
    summary, runs = recorded()
    summary["coverage"]["areas"]["realtime"].update(lines_pct=89.99, branches_pct=99.96)
    text = Page(dashboard.build(summary, runs)).text("coverage")
    assert "realtime 89.9% (1391/1478) 99.9% (402/447) 90% ✘ below target" in text


def test_check_metrics_with_targets_and_the_off_target_flag(page: Page) -> None:
    text = page.text("check")
    assert "117 files, 866 tests, 2 finding(s)" in text
    assert "✘ off target NC003 tests that assert nothing, directly or through a helper 2 0" in text
    assert "✔ ok Critical-event coverage (tests/mission_critical) 100% (5/5) 100%" in text


def test_the_check_scan_of_a_tests_folder(tmp_path: Path) -> None:
    tests = tmp_path / "tests" / "unit"
    tests.mkdir(parents=True)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tests / "test_x.py").write_text("def test_placeholder():\n    pass\n")

    check = dashboard.check_summary(tmp_path / "tests")

    assert (check["files"], check["tests"], check["findings"], check["errors"]) == (1, 1, 1, 1)
    nc002 = next(m for m in check["metrics"] if m["key"] == "NC002")
    assert nc002 == {
        "key": "NC002",
        "label": "NC002 placeholder tests: empty, pass, ..., assert True, unconditional skip",
        "display": "1",
        "target_display": "0",
        "ok": False,
        "detail": "",
    }
    missing = dashboard.check_summary(tmp_path / "no-such-folder")
    assert missing == {"error": f"path does not exist: {tmp_path / 'no-such-folder'}"}


def test_a_failed_scan_is_shown_with_its_reason() -> None:
    summary, runs = recorded()
    summary["check"] = {"error": "path does not exist: <tests>"}
    text = Page(dashboard.build(summary, runs)).text("check")
    assert "scan failed path does not exist: <tests>" in text


def test_trend_draws_every_recorded_run(page: Page) -> None:
    html = dashboard.build(*recorded())
    points = re.findall(r"<circle [^>]*><title>([^<]*)</title>", html)
    assert len(points) == 12
    assert points[-1] == "12-01 11:42: 412.4 s"
    fills = re.findall(r'<rect [^>]*fill="(#[0-9a-f]+)"', html)
    # Every run passed hundreds and skipped three; two of them failed three (a red sliver)...
    assert (fills.count("#2e8b57"), fills.count("#9aa3b2"), fills.count("#c0392b")) == (12, 12, 2)
    assert page.text("trend").count("✘3") == 2  # ...so the failures are written above the bar


def test_every_string_from_the_summary_is_escaped() -> None:
    summary, runs = recorded()
    summary["categories"][0]["name"] = "<b>bold</b>"
    summary["base_url"] = 'http://x/"><script>alert(1)</script>'
    summary["check"]["metrics"][0]["label"] = "<img src=x onerror=alert(1)>"
    summary["coverage"]["areas"]["<i>area</i>"] = summary["coverage"]["areas"].pop("db")
    html = dashboard.build(summary, runs)
    parsed = Page(html)
    untouched = Page(dashboard.build(*recorded()))
    assert parsed.tags == untouched.tags  # no element came from the summary's strings
    assert "onerror" not in {name for name, _ in parsed.attributes}
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html  # a parametrized id
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "&lt;i&gt;area&lt;/i&gt;" in html
    assert parsed.problems == []


def test_nothing_is_fetched_from_anywhere(page: Page) -> None:
    html = dashboard.build(*recorded())
    assert not re.search(r"https?:|//[a-z]", html, re.IGNORECASE)
    assert {"script", "link", "img", "iframe", "object"}.isdisjoint(page.tags)
    urls = [value for name, value in page.attributes if name in ("src", "href", "xlink:href")]
    assert urls == []
    assert "url(" not in html
    assert "@import" not in html


def test_publish_records_the_run_and_writes_the_page(tmp_path: Path) -> None:
    summary, _ = recorded()
    (tmp_path / run_history.RUNS_FILE).write_text((FIXTURES / "runs.json").read_text())

    page_path = dashboard.publish(tmp_path, summary)

    assert page_path == tmp_path / "index.html"
    runs = run_history.load_runs(tmp_path / run_history.RUNS_FILE)
    assert len(runs) == 12  # the eleven well-formed recorded runs, then this one
    assert runs[-1] == run_history.run_record(summary)
    assert "The last 12 of 12 recorded run(s)" in Page(page_path.read_text()).text("trend")


# -- run history ------------------------------------------------------------------------
def test_a_run_record_keeps_categories_totals_and_coverage() -> None:
    summary, _ = recorded()
    record = run_history.run_record(summary)
    assert record["started_at"] == "2026-12-01T11:42:07+00:00"
    assert record["exit_code"] == 1
    assert record["categories"]["integration"] == {
        "status": "failed",
        "duration_s": 287.5,
        "counts": {"tests": 184, "passed": 181, "failed": 2, "errors": 1, "skipped": 0},
    }
    assert record["totals"] == {"tests": 827, "passed": 821, "failed": 2, "errors": 1, "skipped": 3}
    assert record["coverage"] == {"lines_pct": 89.8, "branches_pct": 85.4}
    del summary["coverage"]
    assert "coverage" not in run_history.run_record(summary)


def test_the_history_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / run_history.RUNS_FILE
    summary, _ = recorded()
    for index in range(run_history.RUNS_KEPT + 5):
        summary["started_at"] = f"run-{index}"
        runs = run_history.record_run(path, summary)
    assert len(runs) == run_history.RUNS_KEPT
    stored = run_history.load_runs(path)
    assert stored[0]["started_at"] == "run-5"
    assert stored[-1]["started_at"] == f"run-{run_history.RUNS_KEPT + 4}"


@pytest.mark.parametrize(
    "content",
    ["", "{not json", "[]", '{"runs": {"a": 1}}', '{"version": 1}', '"runs"'],
    ids=["empty", "corrupt", "a list", "runs not a list", "no runs", "a string"],
)
def test_an_unreadable_history_is_empty_and_is_replaced(tmp_path: Path, content: str) -> None:
    path = tmp_path / run_history.RUNS_FILE
    path.write_text(content)
    assert run_history.load_runs(path) == []
    summary, _ = recorded()
    assert len(run_history.record_run(path, summary)) == 1
    assert json.loads(path.read_text())["runs"][0]["exit_code"] == 1


def test_malformed_records_are_skipped_and_the_rest_kept(tmp_path: Path) -> None:
    # The fixture holds one old, malformed record among eleven good ones.
    raw = json.loads((FIXTURES / "runs.json").read_text())["runs"]
    assert len(raw) == 12
    kept = run_history.load_runs(FIXTURES / "runs.json")
    assert len(kept) == 11
    assert all(isinstance(r["totals"]["passed"], int) for r in kept)


@pytest.mark.parametrize(
    "change",
    [
        {"exit_code": None},
        {"exit_code": "1"},
        {"exit_code": True},
        {"categories": {"unit": "passed"}},
        {"categories": {"unit": {"status": ["failed"]}}},
    ],
    ids=[
        "null exit code",
        "exit code as text",
        "exit code a bool",
        "category not a table",
        "status not text",
    ],
)
def test_a_record_the_page_cannot_draw_is_skipped_not_fatal(
    tmp_path: Path, change: dict[str, Any]
) -> None:
    # runs.json is a cache: a record that passes for well-formed but that the trend
    # cannot draw must not make publishing (and so `netra test`) fail.
    good, _ = recorded()
    bad = {**run_history.run_record(good), **change}
    path = tmp_path / run_history.RUNS_FILE
    path.write_text(json.dumps({"version": 1, "runs": [bad]}))
    assert run_history.load_runs(path) == []

    page_path = dashboard.publish(tmp_path, good)

    assert "The last 1 of 1 recorded run(s)" in Page(page_path.read_text()).text("trend")


def test_slowest_tests_leave_out_skipped_ones_and_come_longest_first() -> None:
    cases = [
        TestCaseResult("t::fast", "passed", 0.1),
        TestCaseResult("t::skipped", "skipped", 9.0),
        TestCaseResult("t::slow", "failed", 2.0),
        TestCaseResult("t::middle", "passed", 1.0),
    ]
    assert slowest_tests(cases, limit=2) == [
        {"test": "t::slow", "outcome": "failed", "duration_s": 2.0},
        {"test": "t::middle", "outcome": "passed", "duration_s": 1.0},
    ]


def test_a_dashboard_that_cannot_be_written_costs_the_run_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netra.env import IsolatedEnvironment
    from netra.testing.runner import RunOptions, run_tests

    results_dir = tmp_path / "results"
    (results_dir / dashboard.DASHBOARD_FILE).mkdir(parents=True)  # a folder in its place
    said: list[str] = []
    monkeypatch.chdir(tmp_path)  # the scan's rootdir is the common folder of cwd and tests
    options = RunOptions(categories=["unit"], results_dir=results_dir, tests_dir=tmp_path)
    code = run_tests(options, IsolatedEnvironment(), echo=said.append)
    assert code == 0
    assert any(line.startswith("netra test: the dashboard was not written: ") for line in said)
    assert said[-1] == "total: 0 passed, 0 failed, 0 skipped"
    assert json.loads((results_dir / "summary.json").read_text())["exit_code"] == 0
    assert not list(results_dir.glob(".*.tmp"))  # no temporary file is left behind
