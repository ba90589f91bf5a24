"""netra.testing.results: JUnit XML read back, the duration history and the slow-test flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from netra.testing.results import (
    HISTORY_LENGTH,
    TestCaseResult,
    count,
    flag_slow_tests,
    load_history,
    read_junit,
    save_history,
    updated_history,
)

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5" time="1.9">
<testcase classname="tests.unit.test_a" name="test_ok" time="0.250">
  <properties>
    <property name="metric:rows" value="3"/>
    <property name="metric:ratio" value="0.5"/>
    <property name="metric:label" value="fast"/>
    <property name="unrelated" value="x"/>
  </properties>
</testcase>
<testcase classname="tests.unit.test_a.TestX" name="test_fails[1]" time="1.0">
  <failure message="assert 1 == 2">...</failure>
</testcase>
<testcase classname="tests.unit.test_a" name="test_errors" time="0.1">
  <error message="boom"/>
</testcase>
<testcase classname="tests.unit.test_a" name="test_skipped" time="0">
  <skipped message="no"/>
</testcase>
<testcase classname="tests.unit.test_a" name="test_also_ok" time="0.5"/>
</testsuite></testsuites>
"""


def case(test_id: str = "t::a", duration: float = 1.0, outcome: str = "passed") -> TestCaseResult:
    return TestCaseResult(test_id=test_id, outcome=outcome, duration_s=duration)


def test_junit_cases_outcomes_durations_and_metrics(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)

    cases = read_junit(path)

    assert [(c.test_id, c.outcome, c.duration_s) for c in cases] == [
        ("tests.unit.test_a::test_ok", "passed", 0.25),
        ("tests.unit.test_a.TestX::test_fails[1]", "failed", 1.0),
        ("tests.unit.test_a::test_errors", "error", 0.1),
        ("tests.unit.test_a::test_skipped", "skipped", 0.0),
        ("tests.unit.test_a::test_also_ok", "passed", 0.5),
    ]
    assert cases[0].metrics == {"rows": 3, "ratio": 0.5, "label": "fast"}
    counts = count(cases)
    assert (counts.tests, counts.passed, counts.failed, counts.errors) == (5, 2, 1, 1)
    assert counts.skipped == 1


def test_a_missing_junit_file_has_no_cases(tmp_path: Path) -> None:
    assert read_junit(tmp_path / "absent.xml") == []


@pytest.mark.parametrize("cut", [0, 40, len(JUNIT) // 2])
def test_a_junit_file_cut_short_has_no_cases(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "junit.xml"  # as pytest leaves it when killed while writing
    path.write_text(JUNIT[:cut])

    assert read_junit(path) == []


def test_a_test_much_slower_than_its_median_is_flagged() -> None:
    history = {"t::a": [0.2, 0.3, 0.25], "t::b": [0.2, 0.3, 0.25]}

    flagged = flag_slow_tests(history, [case("t::a", 1.2), case("t::b", 0.3)])

    assert flagged == [{"test": "t::a", "duration_s": 1.2, "median_s": 0.25, "runs": 3}]


@pytest.mark.parametrize(
    ("past", "now", "outcome"),
    [
        ([0.2, 0.3], 5.0, "passed"),  # too little history
        ([0.01, 0.01, 0.01], 0.4, "passed"),  # 40x slower, but by less than half a second
        ([2.0, 2.0, 2.0], 3.5, "passed"),  # 1.5 s slower, but not twice as slow
        ([0.2, 0.2, 0.2], 9.0, "failed"),  # failures are not timing data
    ],
)
def test_noise_short_history_and_failures_are_not_flagged(
    past: list[float], now: float, outcome: str
) -> None:
    assert flag_slow_tests({"t::a": past}, [case("t::a", now, outcome)]) == []


def test_history_keeps_the_latest_passed_durations(tmp_path: Path) -> None:
    history = {"t::a": [float(i) for i in range(HISTORY_LENGTH)]}

    merged = updated_history(history, [case("t::a", 99.0), case("t::b", 2.0, "failed")])
    save_history(tmp_path / "history.json", merged)

    loaded = load_history(tmp_path / "history.json")
    assert loaded["t::a"] == [float(i) for i in range(1, HISTORY_LENGTH)] + [99.0]
    assert "t::b" not in loaded
    assert history["t::a"][-1] == HISTORY_LENGTH - 1  # the input is not modified


@pytest.mark.parametrize(
    "content",
    ["", "not json", "[1, 2]", '{"tests": {"t::a": "x"}}', '{"tests": []}', '{"tests": null}'],
)
def test_an_unreadable_history_is_empty(tmp_path: Path, content: str) -> None:
    path = tmp_path / "history.json"
    path.write_text(content)

    assert load_history(path) == {}


def test_booleans_in_a_history_are_not_durations(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    path.write_text('{"tests": {"t::a": [true, 0.5, false, "x", 2]}}')

    assert load_history(path) == {"t::a": [0.5, 2.0]}
