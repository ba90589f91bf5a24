"""Reporters: text dashboard, JSON, SARIF 2.1.0, Markdown and GitHub annotations."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from netra_check.baseline import compare, fingerprints
from netra_check.reporters import FORMATS, render
from netra_check.reporters.github import escape_data, escape_property
from netra_check.rules import REGISTRY


@pytest.fixture
def result(workspace):
    workspace.write(
        "tests/unit/test_a.py",
        """
        import os

        def test_placeholder():
            pass

        def test_env():
            assert os.environ["HOME"]
        """,
    )
    workspace.write("tests/mission_critical/test_golden.py", "def test_x():\n    assert go()\n")
    return workspace.scan()


def test_text_dashboard_lists_every_metric_then_findings(result) -> None:
    text = render("text", result, None)
    for rule in REGISTRY:
        assert rule.id in text
    assert "Critical-event coverage (tests/mission_critical)" in text
    assert "tests/unit/test_a.py:3: NC002 [error]" in text
    assert "tests/unit/test_a.py:7: NC007 [error]" in text
    assert "tests/mission_critical: NC010" in text
    assert text.rstrip().endswith("FAILED: 7 error(s).")


def test_json_document(result) -> None:
    document = json.loads(render("json", result, None))
    assert document["tool"] == "netra check"
    assert {f["rule"] for f in document["findings"]} == {"NC002", "NC007", "NC010"}
    first = document["findings"][0]
    assert set(first) >= {"rule", "name", "severity", "path", "line", "message", "fingerprint"}
    coverage = next(m for m in document["metrics"] if m["key"] == "event_coverage")
    assert coverage["display"] == "0% (0/5)"


def test_sarif_is_structurally_valid_2_1_0(result) -> None:
    log = json.loads(render("sarif", result, None))
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert [r["id"] for r in driver["rules"]] == [r.id for r in REGISTRY]
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"]
        assert rule["fullDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in {"error", "warning", "note"}
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"].startswith("file://")
    assert len(run["results"]) == len(result.findings)
    for entry in run["results"]:
        assert driver["rules"][entry["ruleIndex"]]["id"] == entry["ruleId"]
        assert entry["level"] in {"error", "warning", "note"}
        assert entry["message"]["text"]
        location = entry["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uriBaseId"] == "SRCROOT"
        assert not location["artifactLocation"]["uri"].startswith("/")
        if "region" in location:
            assert location["region"]["startLine"] >= 1
        assert entry["partialFingerprints"]["netraCheck/v1"]


def test_sarif_marks_baseline_state(result, tmp_path) -> None:
    known = Counter(fingerprints(result.findings[:1]))
    comparison = compare(tmp_path / "b.json", result.findings, known)
    log = json.loads(render("sarif", result, comparison))
    states = [r["baselineState"] for r in log["runs"][0]["results"]]
    assert states.count("unchanged") == 1
    assert states.count("new") == len(result.findings) - 1


def test_github_annotations(result) -> None:
    lines = render("github", result, None).splitlines()
    # A finding about a folder is shown on the folder's first test file.
    assert lines[0].startswith(
        "::error file=tests/mission_critical/test_golden.py,line=1,title=NC010 "
    )
    placeholder = next(line for line in lines if "NC002" in line)
    assert placeholder.startswith("::error file=tests/unit/test_a.py,line=3,title=NC002 ")
    assert "::test 'test_placeholder' has an empty body" in placeholder
    assert any(line.startswith("::notice title=Critical-event coverage") for line in lines)


def test_github_escaping() -> None:
    assert escape_data("50% done\nnext") == "50%25 done%0Anext"
    assert escape_property("a:b,c") == "a%3Ab%2Cc"


def test_markdown(result) -> None:
    text = render("markdown", result, None)
    assert text.startswith("## netra check")
    assert "| ❌ | NC002 " in text
    assert "| `tests/unit/test_a.py:3` | NC002 placeholder-test |" in text


def test_every_format_renders(result) -> None:
    for name in FORMATS:
        assert render(name, result, None).endswith("\n")


def test_sarif_locations_are_encoded_files_with_lines(workspace) -> None:
    workspace.write("pyproject.toml", '[project]\nname = "x"\n')
    workspace.write("tests/unit/test_100% sure #1.py", "def test_x():\n    pass\n")
    workspace.write("tests/mission_critical/test_b.py", "def test_b():\n    assert go()\n")
    workspace.write("tests/mission_critical/test_a.py", "def test_a():\n    assert go()\n")
    log = json.loads(render("sarif", workspace.scan(), None))
    locations = {
        (r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]): r[
            "locations"
        ][0]["physicalLocation"]["region"]["startLine"]
        for r in log["runs"][0]["results"]
    }
    assert locations == {
        ("NC002", "tests/unit/test_100%25%20sure%20%231.py"): 1,
        ("NC010", "tests/mission_critical/test_a.py"): 1,
    }


def test_unlocated_finding_falls_back_to_pyproject(workspace) -> None:
    from netra_check.model import Finding
    from netra_check.reporters import file_location

    workspace.write("pyproject.toml", '[project]\nname = "x"\n')
    workspace.write("tests/mission_critical/helpers.py", "X = 1\n")
    result = workspace.scan()
    finding = Finding("NC010", "tests/mission_critical", None, "m", "event|x")
    assert file_location(result, finding) == ("pyproject.toml", 1)
    located = Finding("NC002", "tests/unit/test_a.py", 4, "m", "a")
    assert file_location(result, located) == ("tests/unit/test_a.py", 4)
