"""`netra check --format html`: the metrics table and findings as one self-contained page."""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

import pytest

from netra_check.baseline import compare, fingerprints
from netra_check.reporters import render
from netra_check.rules import REGISTRY


class Cells(HTMLParser):
    """The page's rows as lists of cell text, and every tag and attribute name."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(name, value or "") for name, value in attrs]
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None and data.strip():
            self._cell.append(data.strip())


@pytest.fixture
def result(workspace):
    workspace.write(
        "tests/unit/test_a&<b>.py",
        """
        def test_placeholder():
            pass

        def test_ok():
            assert compute() == 2
        """,
    )
    workspace.write("tests/mission_critical/test_golden.py", "def test_x():\n    assert go()\n")
    return workspace.scan()


def test_every_metric_with_its_target_and_status_in_words(result) -> None:
    rows = Cells(render("html", result, None)).rows
    metrics = {row[1]: row for row in rows if len(row) == 4 and row[0] != "Status"}
    for rule in REGISTRY:
        assert any(label.startswith(rule.id) for label in metrics)
    placeholder = next(row for label, row in metrics.items() if label.startswith("NC002"))
    assert placeholder[0] == "✘ off target"
    assert placeholder[2:] == ["1", "0"]
    coverage = metrics["Critical-event coverage (tests/mission_critical)"]
    assert coverage[0] == "✘ off target"
    assert coverage[2:] == ["0% (0/5)", "100%"]
    mocks = next(row for label, row in metrics.items() if label.startswith("NC004"))
    assert mocks[0] == "✔ ok"


def test_findings_are_listed_with_their_location_and_escaped(result) -> None:
    html = render("html", result, None)
    rows = Cells(html).rows
    finding = next(row for row in rows if row[0].startswith("tests/unit/"))
    assert finding[0] == "tests/unit/test_a&<b>.py:1"
    assert finding[2] == "error"
    assert "test_placeholder" in finding[3]
    assert "tests/unit/test_a&amp;&lt;b&gt;.py:1" in html
    assert "b" not in Cells(html).tags
    assert "netra check --explain NC002" in html  # how to fix each rule found
    assert "netra check --explain NC004" not in html


def test_the_page_is_self_contained(result) -> None:
    html = render("html", result, None)
    assert html.startswith("<!DOCTYPE html>")
    page = Cells(html)
    assert {"script", "link", "img", "iframe"}.isdisjoint(page.tags)
    assert [v for name, v in page.attributes if name in ("src", "href")] == []
    assert not re.search(r"https?:|url\(|@import", html)


def test_with_a_baseline_only_new_findings_are_listed(result, tmp_path) -> None:
    placeholder = [f for f in result.findings if f.rule_id == "NC002"]
    comparison = compare(tmp_path / "b.json", result.findings, Counter(fingerprints(placeholder)))
    rows = Cells(render("html", result, comparison)).rows
    listed = [row[1].split()[0] for row in rows if len(row) == 4 and row[0].startswith("tests/")]
    # The placeholder is known; the critical events no test asserts are new.
    assert listed == ["NC010"] * 5
    assert "Baseline" in render("html", result, comparison)


def test_the_command_writes_the_page(workspace, cli, monkeypatch) -> None:
    workspace.write("tests/unit/test_a.py", "def test_placeholder():\n    pass\n")
    monkeypatch.chdir(workspace.root)  # else the rootdir is the common folder of both
    target = workspace.root / "reports" / "check.html"

    done = cli(str(workspace.root), "--format", "html", "--output", str(target), "--no-cache")

    assert done.exit_code == 1  # the placeholder is an error
    assert f"report written to {target}" in done.stderr
    rows = Cells(target.read_text()).rows
    # Paths are shown from where the command ran, as in the other formats.
    assert any(
        row[0].endswith("tests/unit/test_a.py:1") and row[1] == "NC002 placeholder-test"
        for row in rows
    )
