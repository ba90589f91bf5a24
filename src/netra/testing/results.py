"""What a test run produced: JUnit XML read back, the duration history, slow-test flags.

Plain functions on plain data, so the runner stays thin and all of this is
tested without running pytest.
"""

from __future__ import annotations

import json
import os
import statistics
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

METRIC_PREFIX = "metric:"  # user_properties named so are metrics (SSotBaseTestCase.record_metric)
HISTORY_LENGTH = 10  # durations kept per test
SLOW_MIN_RUNS = 3  # a test needs this many recorded runs before it can be flagged
SLOW_FACTOR = 2.0  # flagged when this many times slower than its median...
SLOW_MIN_DELTA = 0.5  # ...and at least this many seconds slower (ignores noise on fast tests)
SLOWEST_SHOWN = 10  # the slowest tests of a run that the summary lists


@dataclass
class TestCaseResult:
    """One test case as JUnit XML recorded it."""

    __test__ = False  # not a test class, despite the name

    test_id: str  # "tests.unit.test_env.TestX::test_y"
    outcome: str  # passed, failed, error or skipped
    duration_s: float
    metrics: dict[str, float | str] = field(default_factory=dict)


@dataclass
class CategoryCounts:
    tests: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0

    def add(self, outcome: str) -> None:
        self.tests += 1
        setattr(self, _COUNTER[outcome], getattr(self, _COUNTER[outcome]) + 1)


_COUNTER = {"passed": "passed", "failed": "failed", "error": "errors", "skipped": "skipped"}


def read_junit(path: Path) -> list[TestCaseResult]:
    """The test cases in a JUnit XML file written by pytest; [] if there is none.

    A file cut short (pytest killed while writing it) counts as none, so an
    interrupted run still gets its summary.
    """
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return []
    cases = []
    for case in root.iter("testcase"):
        outcome = "passed"
        for child, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            if case.find(child) is not None:
                outcome = name
                break
        metrics: dict[str, float | str] = {}
        for prop in case.iter("property"):
            key = prop.get("name", "")
            if key.startswith(METRIC_PREFIX):
                metrics[key.removeprefix(METRIC_PREFIX)] = _number(prop.get("value", ""))
        cases.append(
            TestCaseResult(
                test_id=f"{case.get('classname', '')}::{case.get('name', '')}",
                outcome=outcome,
                duration_s=float(case.get("time", "0") or 0),
                metrics=metrics,
            )
        )
    return cases


def _number(text: str) -> float | str:
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() else value


def count(cases: list[TestCaseResult]) -> CategoryCounts:
    counts = CategoryCounts()
    for case in cases:
        counts.add(case.outcome)
    return counts


# -- duration history -----------------------------------------------------------
def load_history(path: Path) -> dict[str, list[float]]:
    """Recent durations per test id; an unreadable file is an empty history."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    tests = data.get("tests") if isinstance(data, dict) else None
    if not isinstance(tests, dict):
        return {}
    return {
        key: [float(d) for d in value if isinstance(d, int | float) and not isinstance(d, bool)]
        for key, value in tests.items()
        if isinstance(value, list)
    }


def slowest_tests(cases: list[TestCaseResult], limit: int = SLOWEST_SHOWN) -> list[dict[str, Any]]:
    """The run's `limit` longest tests (any outcome but skipped), longest first."""
    ran = sorted((case for case in cases if case.outcome != "skipped"), key=lambda c: -c.duration_s)
    return [
        {"test": case.test_id, "outcome": case.outcome, "duration_s": round(case.duration_s, 3)}
        for case in ran[:limit]
    ]


def flag_slow_tests(
    history: dict[str, list[float]], cases: list[TestCaseResult]
) -> list[dict[str, Any]]:
    """Passed tests that became much slower than their recorded median."""
    flagged = []
    for case in cases:
        past = history.get(case.test_id, [])
        if case.outcome != "passed" or len(past) < SLOW_MIN_RUNS:
            continue
        baseline = statistics.median(past)
        slower = case.duration_s - baseline
        if case.duration_s >= SLOW_FACTOR * baseline and slower >= SLOW_MIN_DELTA:
            flagged.append(
                {
                    "test": case.test_id,
                    "duration_s": round(case.duration_s, 3),
                    "median_s": round(baseline, 3),
                    "runs": len(past),
                }
            )
    return flagged


def updated_history(
    history: dict[str, list[float]], cases: list[TestCaseResult]
) -> dict[str, list[float]]:
    """The history with this run's passed tests added (failures would skew the median)."""
    merged = {key: list(value) for key, value in history.items()}
    for case in cases:
        if case.outcome == "passed":
            runs = merged.setdefault(case.test_id, [])
            runs.append(round(case.duration_s, 4))
            del runs[:-HISTORY_LENGTH]
    return merged


def save_history(path: Path, history: dict[str, list[float]]) -> None:
    write_atomically(path, json.dumps({"version": 1, "tests": history}, indent=0, sort_keys=True))


def write_atomically(path: Path, text: str) -> None:
    """Replace `path` with `text` whole: a reader sees the old file or the new one. The
    temporary name is the process's own, so two runs sharing a folder do not mix writes."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)
