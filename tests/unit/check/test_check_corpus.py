"""The labelled corpus: findings must match the `# expect: NCxxx` markers exactly."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from netra_check.config import load_config
from netra_check.engine import CheckResult, run_check
from netra_check.pytest_config import read_settings
from netra_check.rules import REGISTRY

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "check_corpus"
MARKER = re.compile(r"#\s*expect:\s*(NC\d{3}(?:\s*,\s*NC\d{3})*)")
# Findings that are about a folder rather than a line (NC010 coverage).
EXPECTED_UNLOCATED = {
    ("NC010", "tests/mission_critical", "agent_completed"),
    ("NC010", "tests/mission_critical", "tool_completed"),
}


def labelled() -> set[tuple[str, str, int]]:
    expected = set()
    for path in sorted(CORPUS.rglob("*")):
        if not path.is_file() or path.name in {"README.md", "pyproject.toml"}:
            continue
        rel = path.relative_to(CORPUS).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = MARKER.search(line)
            if match:
                for rule_id in match.group(1).split(","):
                    expected.add((rule_id.strip(), rel, number))
    return expected


@pytest.fixture(scope="module")
def corpus_result(tmp_path_factory: pytest.TempPathFactory) -> CheckResult:
    config = load_config(CORPUS)
    cache_dir = tmp_path_factory.mktemp("cache")
    return run_check(CORPUS, replace(config, cache_dir=str(cache_dir)), jobs=1)


def test_findings_match_labels_exactly(corpus_result: CheckResult) -> None:
    found = {(f.rule_id, f.path, f.line) for f in corpus_result.findings if f.line is not None}
    expected = labelled()
    assert sorted(found - expected) == [], "unexpected findings (false positives)"
    assert sorted(expected - found) == [], "labelled findings not reported (false negatives)"


def test_unlocated_findings_are_the_uncovered_events(corpus_result: CheckResult) -> None:
    found = {
        (f.rule_id, f.path, f.anchor.split("|", 1)[1])
        for f in corpus_result.findings
        if f.line is None
    }
    assert found == EXPECTED_UNLOCATED


def test_every_rule_is_exercised(corpus_result: CheckResult) -> None:
    reported = {f.rule_id for f in corpus_result.findings}
    assert reported == {rule.id for rule in REGISTRY}


def test_clean_tests_outnumber_findings(corpus_result: CheckResult) -> None:
    # The corpus must hold known-clean tests too, not only bad ones.
    flagged_tests = {
        (f.path, f.line) for f in corpus_result.findings if f.rule_id in {"NC002", "NC003"}
    }
    assert corpus_result.tests - len(flagged_tests) > len(flagged_tests)


def test_dashboard_metrics(corpus_result: CheckResult) -> None:
    metrics = {m.key: m for m in corpus_result.metrics}
    assert metrics["event_coverage"].display == "60% (3/5)"
    assert metrics["test_base_classes"].value == 5
    assert not metrics["NC003"].ok


def test_suppressions_are_counted(corpus_result: CheckResult) -> None:
    assert corpus_result.suppressed == 4


def test_corpus_is_never_collected_by_pytest() -> None:
    # Read the way netra check reads pytest's configuration, which is the way pytest reads it.
    settings = read_settings(CORPUS.parents[2])
    assert settings is not None
    assert "tests/fixtures/check_corpus" in settings["ignore"]
