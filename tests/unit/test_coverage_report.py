"""netra.testing.coverage: its configuration, the per-area arithmetic and the printed table."""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

import pytest

from netra.testing.coverage import (
    CoverageConfig,
    CoverageConfigError,
    Measurement,
    area_of,
    below_target,
    check_coverage_version,
    installed_coverage,
    load_config,
    parse_config,
    percent,
    rc_text,
    report_lines,
    summarize,
)

PACKAGE = Path("/src/netra")


def entry(lines: int, statements: int, branches: int, num_branches: int) -> dict[str, Any]:
    """A file's entry in coverage.py's JSON report, as far as the areas use it."""
    return {
        "summary": {
            "covered_lines": lines,
            "num_statements": statements,
            "covered_branches": branches,
            "num_branches": num_branches,
            "percent_covered": 0.0,  # lines and branches together: not what areas report
        }
    }


def test_the_configuration_is_read_from_pyproject(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        "[tool.netra.test.coverage]\n"
        'areas = ["runs", "auth"]\n'
        "targets = { runs = 90, auth = 87.5 }\n"
        'omit = ["*/recordings/*"]\n'
    )

    config = load_config(pyproject)

    assert config == CoverageConfig(
        package="netra",
        areas=("runs", "auth"),
        targets={"runs": 90.0, "auth": 87.5},
        omit=("*/recordings/*",),
    )


def test_without_a_table_or_a_file_the_defaults_apply(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")

    assert load_config(tmp_path / "pyproject.toml") == CoverageConfig()
    assert load_config(tmp_path / "missing.toml") == CoverageConfig()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"target": {}}, "unknown key 'target'"),
        ({"targets": {"auth": 101}}, "targets.auth must be a percentage from 0 to 100, got 101"),
        ({"targets": {"auth": True}}, "targets.auth must be a percentage"),
        ({"targets": {"auth": "90"}}, "targets.auth must be a percentage"),
        ({"targets": [90]}, "targets must be a table of area = percent"),
        ({"areas": "auth"}, "areas must be a list of strings"),
        ({"areas": ["auth", "auth"]}, "areas lists an area twice"),
        ({"omit": [1]}, "omit must be a list of strings"),
        ({"package": "not a name"}, "package must be an importable name"),
    ],
)
def test_a_wrong_configuration_names_the_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(CoverageConfigError, match=r"^x\.toml: ") as raised:
        parse_config(table, where="x.toml")

    assert message in str(raised.value)


def test_a_configuration_that_does_not_parse_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.netra.test.coverage\n")

    with pytest.raises(CoverageConfigError, match=r"pyproject\.toml"):
        load_config(tmp_path / "pyproject.toml")


@pytest.mark.parametrize(
    ("covered", "total", "expected"),
    [(0, 0, 100.0), (0, 7, 0.0), (7, 7, 100.0), (2, 3, 66.66), (8999, 10000, 89.99)],
)
def test_percent_rounds_down_and_counts_nothing_to_cover_as_covered(
    covered: int, total: int, expected: float
) -> None:
    assert percent(covered, total) == expected


def test_89_995_percent_does_not_meet_a_target_of_90() -> None:
    areas = summarize(
        {"/src/netra/auth/tokens.py": entry(17999, 20000, 1, 1)},
        PACKAGE,
        CoverageConfig(targets={"auth": 90}),
        Path("/"),
    )["areas"]

    assert areas["auth"]["lines_pct"] == 89.99
    assert areas["auth"]["ok"] is False


@pytest.mark.parametrize(
    ("path", "area"),
    [
        ("/src/netra/realtime/log.py", "realtime"),
        ("/src/netra/api/agui/service.py", "api"),
        ("/src/netra/cli.py", "core"),
        ("/src/netra_check/engine.py", None),
        ("/elsewhere/netra/runs/start.py", None),
    ],
)
def test_a_file_belongs_to_its_top_level_package(path: str, area: str | None) -> None:
    assert area_of(Path(path), PACKAGE) == area


def test_areas_sum_their_files_in_the_configured_order_then_the_others() -> None:
    files = {
        "src/netra/runs/start.py": entry(40, 50, 9, 10),
        "src/netra/runs/end.py": entry(50, 50, 10, 10),
        "src/netra/auth/tokens.py": entry(30, 30, 3, 4),
        "src/netra/web/markdown.py": entry(5, 10, 0, 0),
        "src/netra/cli.py": entry(10, 20, 1, 2),
        "src/netra_check/engine.py": entry(1, 100, 0, 50),  # not the measured package
    }
    config = CoverageConfig(areas=("runs", "auth", "state"), targets={"runs": 90, "auth": 80})

    summary = summarize(files, PACKAGE, config, base=Path("/"))

    areas = summary["areas"]
    assert list(areas) == ["runs", "auth", "state", "core", "web"]
    assert areas["runs"] == {
        "lines": [90, 100],
        "branches": [19, 20],
        "lines_pct": 90.0,
        "branches_pct": 95.0,
        "target": 90.0,
        "ok": True,
    }
    # Lines meet the target, branches (75%) do not: below target.
    assert areas["auth"]["branches_pct"] == 75.0
    assert areas["auth"]["ok"] is False
    # Configured but with no file measured: nothing to cover.
    assert areas["state"] == {
        "lines": [0, 0],
        "branches": [0, 0],
        "lines_pct": 100.0,
        "branches_pct": 100.0,
        "target": None,
        "ok": True,
    }
    assert areas["web"]["target"] is None
    assert areas["web"]["lines_pct"] == 50.0
    assert summary["total"] == {
        "lines": [135, 160],
        "branches": [23, 26],
        "lines_pct": 84.37,
        "branches_pct": 88.46,
    }
    assert below_target({"areas": areas}) == ["auth"]


def test_the_table_flags_the_areas_below_target() -> None:
    measured = {
        "measured": True,
        "data_file": "test-results/coverage/.coverage",
        "json_report": "test-results/coverage.json",
        **summarize(
            {"/src/netra/runs/a.py": entry(9, 10, 1, 2), "/src/netra/auth/b.py": entry(1, 1, 0, 0)},
            PACKAGE,
            CoverageConfig(areas=("runs", "auth"), targets={"runs": 90, "auth": 90}),
            Path("/"),
        ),
    }

    lines = report_lines(measured)

    rows = {line.split()[0]: line for line in lines[2:5]}
    assert rows["runs"].endswith("90%  BELOW TARGET")  # 50% of branches
    assert "90.00% (9/10)" in rows["runs"]
    assert rows["auth"].endswith("90%")
    assert rows["total"].endswith("-")
    assert "below target: runs" in lines
    assert lines[-1] == (
        "coverage reports: test-results/coverage.json, test-results/coverage/.coverage"
    )


def test_a_run_that_measured_nothing_says_so() -> None:
    assert report_lines({"measured": False, "reason": "No data to combine"}) == [
        "coverage: not measured (No data to combine)"
    ]


def test_every_process_measures_branches_into_its_own_file_and_saves_on_sigterm() -> None:
    config = CoverageConfig(package="netra", omit=("*/recordings/*", "*/fake_*.py"))

    parsed = configparser.ConfigParser()
    parsed.read_string(rc_text(config, Path("/results/coverage/.coverage")))

    run = parsed["run"]
    assert run.getboolean("branch") is True
    assert run.getboolean("parallel") is True
    assert run.getboolean("sigterm") is True
    # SQLAlchemy's asyncio runs in greenlets (a dependency of netra): traced as such.
    assert run["concurrency"] == "thread, greenlet"
    assert run["patch"] == "_exit"
    assert run["source_pkgs"] == "netra"
    assert run["data_file"] == "/results/coverage/.coverage"
    assert run["omit"].split() == ["*/recordings/*", "*/fake_*.py"]
    assert "no-data-collected" in run["disable_warnings"]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('package = "no_such_package"', "cannot measure 'no_such_package'"),
        ('areas = ["realtime", "realtme"]', "areas: 'realtme' is not an area of 'netra'"),
        ("targets = { auht = 90 }", "targets: 'auht' is not an area of 'netra'"),
    ],
)
def test_a_configuration_that_names_nothing_measurable_fails_before_any_test_runs(
    tmp_path: Path, table: str, message: str
) -> None:
    # Otherwise a misspelt area reads as 100% covered (nothing to cover), its target is
    # never checked, and a missing package only shows, after the run, as "no data".
    (tmp_path / "pyproject.toml").write_text(f"[tool.netra.test.coverage]\n{table}\n")

    with pytest.raises(CoverageConfigError, match=message):
        Measurement.prepare(tmp_path / "results", tmp_path)
    assert not (tmp_path / "results" / "coverage" / "coveragerc").exists()


def test_the_project_areas_and_core_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.netra.test.coverage]\n"
        'areas = ["realtime", "core"]\ntargets = { realtime = 90, core = 50 }\n'
    )

    measurement = Measurement.prepare(tmp_path / "results", tmp_path)

    assert measurement.config.targets == {"realtime": 90.0, "core": 50.0}
    assert measurement.rc_file.is_file()


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (None, "coverage.py is not installed"),
        ("7.12.1", "coverage.py 7.12.1 cannot measure the processes the tests start: 7.13"),
        ("6.5.0", "coverage.py 6.5.0 cannot measure"),
    ],
)
def test_a_coverage_py_that_cannot_measure_every_process_is_refused(
    version: str | None, message: str
) -> None:
    with pytest.raises(CoverageConfigError, match=message):
        check_coverage_version(version)


@pytest.mark.parametrize(
    ("version", "parsed"),
    [("7.13.0", (7, 13)), ("7.17.5", (7, 17)), ("8.0.0b1", (8, 0)), ("10.1", (10, 1))],
)
def test_coverage_py_7_13_and_later_is_accepted(version: str, parsed: tuple[int, int]) -> None:
    assert check_coverage_version(version) == parsed


def test_the_installed_coverage_py_is_accepted() -> None:
    installed = installed_coverage()

    assert installed is not None
    assert check_coverage_version(installed) >= (7, 13)


def test_data_that_cannot_be_combined_is_reported_not_raised(tmp_path: Path) -> None:
    # Raised, it would cost the run its summary.json and its exit code.
    from coverage import CoverageData

    (tmp_path / "pyproject.toml").write_text("[tool.netra.test.coverage]\n")
    measurement = Measurement.prepare(tmp_path / "results", tmp_path)
    statements = CoverageData(basename=str(measurement.folder / ".coverage.host.1.a"))
    statements.add_lines({str(tmp_path / "x.py"): [1, 2]})
    statements.write()
    branches = CoverageData(basename=str(measurement.folder / ".coverage.host.2.b"))
    branches.add_arcs({str(tmp_path / "x.py"): [(1, 2)]})
    branches.write()

    summary = measurement.finish()

    assert summary["measured"] is False
    assert summary["reason"].startswith("DataError: Can't combine branch coverage data")
    assert report_lines(summary)[0].startswith("coverage: not measured")
