"""Baselines: fingerprints survive moved code; only new findings fail."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from netra_check.baseline import (
    BaselineError,
    compare,
    fingerprints,
    load_baseline,
    write_baseline,
)

TWO_PLACEHOLDERS = "def test_a():\n    pass\n\ndef test_b():\n    pass\n"


def test_fingerprints_ignore_line_shifts(workspace) -> None:
    workspace.write("tests/unit/test_a.py", TWO_PLACEHOLDERS)
    before = fingerprints(workspace.findings())
    workspace.write("tests/unit/test_a.py", "import json\n\n\n" + TWO_PLACEHOLDERS)
    moved = workspace.findings()
    assert [f.line for f in moved] == [4, 7]
    assert fingerprints(moved) == before


def test_repeated_anchors_get_distinct_fingerprints(workspace) -> None:
    workspace.write("tests/unit/test_a.py", "import os\nA = os.environ\nA = os.environ\n")
    prints = fingerprints(workspace.findings("NC007"))
    assert len(prints) == 2
    assert len(set(prints)) == 2


def test_round_trip_and_new_findings(workspace, tmp_path: Path) -> None:
    workspace.write("tests/unit/test_a.py", TWO_PLACEHOLDERS)
    baseline = tmp_path / "baseline.json"
    write_baseline(baseline, workspace.findings())
    workspace.write("tests/unit/test_a.py", TWO_PLACEHOLDERS + "\ndef test_c():\n    ...\n")
    findings = workspace.findings()
    comparison = compare(baseline, findings, load_baseline(baseline))
    assert [f.line for f in comparison.new] == [7]
    assert len(comparison.known) == 2
    assert comparison.fixed == 0


def test_fixed_findings_are_counted(workspace, tmp_path: Path) -> None:
    workspace.write("tests/unit/test_a.py", TWO_PLACEHOLDERS)
    findings = workspace.findings()
    comparison = compare(tmp_path / "b.json", findings[:1], Counter(fingerprints(findings)))
    assert (len(comparison.new), comparison.fixed) == (0, 1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read baseline"),
        ('{"version": 99, "findings": []}', "not a netra check baseline"),
        ('{"version": 1, "findings": {}}', "must be a list"),
        ('{"version": 1, "findings": [{"rule": "NC001"}]}', "needs a 'fingerprint'"),
    ],
)
def test_bad_baseline_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "baseline.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(BaselineError, match=message):
        load_baseline(path)
