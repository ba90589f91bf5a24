"""Line and branch coverage for `netra test --coverage`, across every process the tests start.

coverage.py installs a `.pth` file that starts measuring in any Python process
whose environment names a configuration in `COVERAGE_PROCESS_START`. The runner
writes that configuration once per run (`test-results/coverage/coveragerc`,
absolute paths) and puts the variable in the environment of each pytest
process; everything those start inherits it: xdist workers, the `netra serve`
processes of `NetraServer` (which drops only `NETRA_*` variables), the `netra`
commands the tests run. Each process writes its own data file (`parallel`); at
the end of the run they are combined into one, reported by coverage.py as JSON
and summed per area: a top-level package of `src/netra/` (`realtime`, `runs`,
...) and `core` for the modules directly in it.

A process must end normally for its data to be written: at exit, at
`os._exit` (`patch = _exit`), or on SIGTERM (`sigterm = true`: uvicorn restores
the handler it found, coverage's, and raises SIGTERM again once it has shut
down gracefully). A process killed with SIGKILL writes nothing.

coverage.py is imported only by `Measurement`, so the rest works without it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import math
import re
import shutil
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT_AREA = "core"  # the modules directly in the package (cli.py, config.py, ...)
RC_FILE = "coveragerc"
DATA_FILE = ".coverage"
JSON_REPORT = "coverage.json"
ENV_VAR = "COVERAGE_PROCESS_START"
MIN_COVERAGE = (7, 13)  # its .pth file (see check_coverage_version)
# Processes that never import the package (a `python -c` helper, a pytester run) would
# print "No data was collected" on their stderr, which some tests read.
QUIET = ("no-data-collected", "module-not-imported", "module-not-measured")


class CoverageConfigError(ValueError):
    """`[tool.netra.test.coverage]` is not what `netra test --coverage` understands."""


@dataclass(frozen=True)
class CoverageConfig:
    """`[tool.netra.test.coverage]`: what is measured, the areas' order and their targets."""

    package: str = "netra"
    areas: tuple[str, ...] = ()  # reported first, in this order; the others after them
    targets: Mapping[str, float] = field(default_factory=dict)  # percent, lines and branches
    omit: tuple[str, ...] = ()  # file patterns coverage.py leaves out


def load_config(pyproject: Path) -> CoverageConfig:
    """The configuration in `pyproject` (defaults when the file or the table is absent)."""
    if not pyproject.is_file():
        return CoverageConfig()
    try:
        document = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CoverageConfigError(f"{pyproject}: {exc}") from None
    table = document.get("tool", {}).get("netra", {}).get("test", {}).get("coverage", {})
    return parse_config(table, where=f"{pyproject} [tool.netra.test.coverage]")


def parse_config(
    table: Mapping[str, Any], where: str = "[tool.netra.test.coverage]"
) -> CoverageConfig:
    """Validate the table's keys and values; errors name the key and what it needs."""
    known = {"package", "areas", "targets", "omit"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise CoverageConfigError(f"{where}: unknown key {unknown[0]!r}; use {sorted(known)}")
    package = table.get("package", "netra")
    if not isinstance(package, str) or not package.isidentifier():
        raise CoverageConfigError(f"{where}: package must be an importable name, got {package!r}")
    areas = _strings(table.get("areas", []), f"{where}: areas")
    if len(set(areas)) != len(areas):
        raise CoverageConfigError(f"{where}: areas lists an area twice")
    omit = _strings(table.get("omit", []), f"{where}: omit")
    raw_targets = table.get("targets", {})
    if not isinstance(raw_targets, Mapping):
        raise CoverageConfigError(f"{where}: targets must be a table of area = percent")
    targets: dict[str, float] = {}
    for area, value in raw_targets.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            raise CoverageConfigError(
                f"{where}: targets.{area} must be a percentage from 0 to 100, got {value!r}"
            )
        targets[area] = float(value)
    return CoverageConfig(package, tuple(areas), targets, tuple(omit))


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CoverageConfigError(f"{where} must be a list of strings, got {value!r}")
    return list(value)


def percent(covered: int, total: int) -> float:
    """`covered` of `total` in percent, rounded down to 2 decimals; 100.0 when there is
    nothing to cover (coverage.py's convention). Rounding down never shows a missed
    target as met."""
    if total == 0:
        return 100.0
    return math.floor(covered * 10000 / total) / 100


def area_of(path: Path, package_dir: Path) -> str | None:
    """The area of a measured file: its top-level package, ROOT_AREA for a module
    directly in the package, None outside it."""
    try:
        parts = path.relative_to(package_dir).parts
    except ValueError:
        return None
    return parts[0] if len(parts) > 1 else ROOT_AREA


def summarize(
    files: Mapping[str, Mapping[str, Any]],
    package_dir: Path,
    config: CoverageConfig,
    base: Path,
) -> dict[str, Any]:
    """Per-area and total line and branch counts from coverage.py's JSON report's `files`
    (paths relative to `base`, or absolute), as `summary.json` holds them."""
    sums: dict[str, list[int]] = {}
    for name, entry in files.items():
        area = area_of((base / name).resolve(), package_dir.resolve())
        if area is None:
            continue
        counts = entry["summary"]
        sums.setdefault(area, [0, 0, 0, 0])
        for index, key in enumerate(
            ("covered_lines", "num_statements", "covered_branches", "num_branches")
        ):
            sums[area][index] += int(counts.get(key, 0))
    order = list(config.areas) + sorted(set(sums) - set(config.areas))
    areas = {name: _area(sums.get(name, [0, 0, 0, 0]), config.targets.get(name)) for name in order}
    total = [sum(values[index] for values in sums.values()) for index in range(4)]
    whole = _area(total, None)
    del whole["target"], whole["ok"]
    return {"areas": areas, "total": whole}


def _area(counts: Sequence[int], target: float | None) -> dict[str, Any]:
    lines_pct, branches_pct = percent(counts[0], counts[1]), percent(counts[2], counts[3])
    return {
        "lines": [counts[0], counts[1]],
        "branches": [counts[2], counts[3]],
        "lines_pct": lines_pct,
        "branches_pct": branches_pct,
        "target": target,
        "ok": target is None or (lines_pct >= target and branches_pct >= target),
    }


def below_target(coverage: Mapping[str, Any]) -> list[str]:
    """The areas of a `summary.json` coverage entry that missed their target."""
    return [name for name, area in coverage.get("areas", {}).items() if not area["ok"]]


def report_lines(coverage: Mapping[str, Any]) -> list[str]:
    """The per-area table printed at the end of `netra test --coverage`."""
    if not coverage.get("measured"):
        return [f"coverage: not measured ({coverage.get('reason', 'no data')})"]
    lines = [
        "coverage, every process the tests started (lines, branches):",
        f"{'area':<17}{'lines':>26}{'branches':>26}  target",
    ]
    rows = [*coverage["areas"].items(), ("total", coverage["total"])]
    for name, area in rows:
        target = area.get("target")
        flag = "" if area.get("ok", True) else "  BELOW TARGET"
        lines.append(
            f"{name:<17}{_cell(area['lines'], area['lines_pct']):>26}"
            f"{_cell(area['branches'], area['branches_pct']):>26}"
            f"  {'-' if target is None else f'{target:g}%'}{flag}"
        )
    missed = below_target(coverage)
    if missed:
        lines.append(f"below target: {', '.join(missed)}")
    lines.append(f"coverage reports: {coverage['json_report']}, {coverage['data_file']}")
    return lines


def _cell(counts: Sequence[int], pct: float) -> str:
    return f"{pct:6.2f}% ({counts[0]}/{counts[1]})"


def package_dir(package: str) -> Path:
    """Where `package` is imported from (the source tree with an editable install)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise CoverageConfigError(f"cannot measure {package!r}: it is not an importable package")
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def check_coverage_version(version: str | None) -> tuple[int, int]:
    """coverage.py is installed, and recent enough to measure every process: the `.pth`
    file that starts it in each process whose environment has `COVERAGE_PROCESS_START`
    is installed with it since 7.13. Checked before any test runs: without it, the run
    would end with an import error (no summary), or measure no process at all."""
    if version is None:
        raise CoverageConfigError(
            "coverage.py is not installed: install netra[test] (coverage>=7.13)"
        )
    found = re.match(r"(\d+)\.(\d+)", version)
    if found is None or (int(found[1]), int(found[2])) < MIN_COVERAGE:
        raise CoverageConfigError(
            f"coverage.py {version} cannot measure the processes the tests start: "
            f"{'.'.join(map(str, MIN_COVERAGE))} or later installs the .pth file that "
            "starts it in each of them"
        )
    return int(found[1]), int(found[2])


def installed_coverage() -> str | None:
    """The installed coverage.py's version, None without it."""
    try:
        return importlib.metadata.version("coverage")
    except importlib.metadata.PackageNotFoundError:
        return None


def check_areas(config: CoverageConfig, package_root: Path) -> None:
    """Every configured area and target names an area of the package: its top-level
    packages and ROOT_AREA. A misspelt name would otherwise be reported with nothing to
    cover (100%), or its target never checked."""
    known = {ROOT_AREA} | {
        entry.name
        for entry in package_root.iterdir()
        if entry.is_dir() and entry.name.isidentifier() and entry.name != "__pycache__"
    }
    for key, names in (("areas", config.areas), ("targets", tuple(config.targets))):
        unknown = sorted(set(names) - known)
        if unknown:
            raise CoverageConfigError(
                f"[tool.netra.test.coverage] {key}: {unknown[0]!r} is not an area of "
                f"{config.package!r} (areas: {', '.join(sorted(known))})"
            )


def concurrency() -> str:
    """coverage.py's `concurrency`: threads, and greenlets when they are installed.

    SQLAlchemy's asyncio layer runs the ORM in greenlets; traced as threads only, the
    switches make the tracer record jumps between lines of different files, and the
    branches of every async function that awaits the database come out missed."""
    return "thread, greenlet" if importlib.util.find_spec("greenlet") else "thread"


def rc_text(config: CoverageConfig, data_file: Path) -> str:
    """The coverage.py configuration every measured process reads."""
    lines = [
        "[run]",
        "branch = true",
        f"concurrency = {concurrency()}",
        "parallel = true",
        f"source_pkgs = {config.package}",
        f"data_file = {data_file}",
        "sigterm = true",
        "patch = _exit",
        f"disable_warnings = {', '.join(QUIET)}",
    ]
    if config.omit:
        lines.append("omit =")
        lines += [f"    {pattern}" for pattern in config.omit]
    return "\n".join(lines) + "\n"


class Measurement:
    """One run's coverage: the configuration its processes read, then the combined report."""

    def __init__(self, config: CoverageConfig, results_dir: Path, base: Path) -> None:
        self.config = config
        self.results_dir = results_dir
        self.base = base  # the project's folder, where the reports' relative paths start
        self.folder = results_dir / "coverage"
        self.rc_file = (self.folder / RC_FILE).resolve()
        self.data_file = self.folder / DATA_FILE
        self.json_report = results_dir / JSON_REPORT

    @classmethod
    def prepare(cls, results_dir: Path, project_dir: Path) -> Measurement:
        """Read and check the project's configuration (before any test runs), clear the
        last run's data and write the rc file."""
        check_coverage_version(installed_coverage())
        config = load_config(project_dir / "pyproject.toml")
        check_areas(config, package_dir(config.package))
        measurement = cls(config, results_dir, project_dir)
        shutil.rmtree(measurement.folder, ignore_errors=True)
        measurement.json_report.unlink(missing_ok=True)
        measurement.folder.mkdir(parents=True)
        measurement.rc_file.write_text(rc_text(config, measurement.data_file.resolve()))
        return measurement

    def child_env(self) -> dict[str, str]:
        """What a process needs in its environment to be measured (and its children too)."""
        return {ENV_VAR: str(self.rc_file)}

    def finish(self) -> dict[str, Any]:
        """Combine every process's data, write the JSON report; the `coverage` entry of
        `summary.json`."""
        from coverage import Coverage
        from coverage.exceptions import CoverageException, NoDataError

        cov = Coverage(data_file=str(self.data_file.resolve()), config_file=str(self.rc_file))
        try:
            cov.combine([str(self.folder.resolve())])
            cov.save()
            cov.json_report(outfile=str(self.json_report), ignore_errors=True)
        except NoDataError as exc:
            return {"measured": False, "reason": str(exc)}
        except (CoverageException, OSError) as exc:  # the report is lost, not the run's
            return {"measured": False, "reason": f"{type(exc).__name__}: {exc}"}
        report = json.loads(self.json_report.read_text())
        areas = summarize(report["files"], package_dir(self.config.package), self.config, self.base)
        return {
            "measured": True,
            "package": self.config.package,
            "data_file": str(self.data_file),
            "json_report": str(self.json_report),
            **areas,
        }
