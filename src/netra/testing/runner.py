"""The unified test runner behind `netra test`.

Runs the categories in order (mission_critical, unit, integration, e2e), each in
its own pytest process, stopping at the first failing one unless told to keep
going. PostgreSQL and Redis are started once, before the first category that
needs them, and handed to every pytest process and xdist worker by URL. Each
category writes JUnit XML; the run writes a JSON summary and keeps a history
of test durations to flag tests that became much slower. Interrupting the
runner (Ctrl-C or SIGTERM) interrupts pytest, then stops the services.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from netra.env import IsolatedEnvironment
from netra.testing import coverage, dashboard, results
from netra.testing.services import ServicePool

CATEGORIES = ("mission_critical", "unit", "integration", "e2e")
REMOTE_CATEGORIES = ("mission_critical", "e2e")  # what --base-url runs against a deployment
LOCAL_ONLY = frozenset({"unit"})  # categories that never touch a real service
INTERRUPTED = 2  # pytest's own exit code for an interrupted run
USAGE_ERROR = 4  # pytest's exit code for bad usage
NO_TESTS = 5  # pytest's exit code when nothing was collected or everything was deselected
PYTEST_GRACE = 30.0  # seconds pytest gets to tear down after an interrupt
SUMMARY_FILE = "summary.json"
HISTORY_FILE = "history.json"
SERVICES_FILE = "services.json"  # present while the run's services are up


@dataclass
class RunOptions:
    """What `netra test` was asked to do."""

    categories: Sequence[str] = ()
    keep_going: bool = False
    parallel: int = 0
    real_services: bool = False
    base_url: str | None = None
    results_dir: Path = Path("test-results")
    tests_dir: Path = Path("tests")
    pytest_args: Sequence[str] = ()
    coverage: bool = False


@dataclass
class CategoryResult:
    name: str
    # passed, failed, interrupted, no_tests (all deselected), missing (no folder) or not_run
    status: str = "not_run"
    exit_code: int | None = None
    duration_s: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)
    junit: str | None = None
    metrics: dict[str, dict[str, float | str]] = field(default_factory=dict)


class _Terminated(BaseException):
    """SIGTERM, turned into an exception so that cleanup runs."""


def run_tests(
    options: RunOptions, env: IsolatedEnvironment, echo: Callable[[str], None] = print
) -> int:
    """Run the selected categories; returns pytest's exit code of the first that failed."""
    requested = set(options.categories or (REMOTE_CATEGORIES if options.base_url else CATEGORIES))
    unknown = sorted(requested.difference(CATEGORIES))
    if unknown:
        echo(f"unknown test category {unknown}; choose from {', '.join(CATEGORIES)}")
        return USAGE_ERROR
    selected = [name for name in CATEGORIES if name in requested]  # always in the fixed order
    results_dir = options.results_dir
    results_dir.mkdir(parents=True, exist_ok=True)
    history_path = results_dir / HISTORY_FILE
    history = results.load_history(history_path)
    try:  # --coverage: every process the categories start is measured
        measured = (
            coverage.Measurement.prepare(results_dir, Path.cwd()) if options.coverage else None
        )
    except coverage.CoverageConfigError as exc:
        echo(f"netra test --coverage: {exc}")
        return USAGE_ERROR
    measured_env = measured.child_env() if measured else {}
    outcomes = [CategoryResult(name) for name in selected]
    all_cases: list[results.TestCaseResult] = []
    pool = ServicePool(env)
    started_at, began, exit_code = datetime.now(UTC), time.perf_counter(), 0
    try:
        with _interrupts_raise():
            for index, outcome in enumerate(outcomes, 1):
                echo(f"\n=== netra test [{index}/{len(outcomes)}]: {outcome.name} ===")
                cases = _run_category(outcome, options, env, pool, echo, measured_env)
                all_cases += cases
                if outcome.status in ("failed", "interrupted"):
                    exit_code = exit_code or outcome.exit_code or 0
                    if not options.keep_going or outcome.status == "interrupted":
                        break
        if not exit_code and _nothing_ran(outcomes):
            exit_code = NO_TESTS  # as pytest says when a selection matches nothing
    except (KeyboardInterrupt, _Terminated):
        exit_code = INTERRUPTED
    finally:
        pool.stop()
        (results_dir / SERVICES_FILE).unlink(missing_ok=True)
    slow = results.flag_slow_tests(history, all_cases)
    results.save_history(history_path, results.updated_history(history, all_cases))
    summary: dict[str, Any] = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "exit_code": exit_code,
        "duration_s": round(time.perf_counter() - began, 3),
        "parallel": options.parallel,
        "real_services_required": options.real_services,
        "base_url": options.base_url,
        "categories": [asdict(outcome) for outcome in outcomes],
        "slow_tests": slow,
        "slowest_tests": results.slowest_tests(all_cases),
        "check": dashboard.check_summary(options.tests_dir),
    }
    if measured is not None:
        summary["coverage"] = measured.finish()
    (results_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    try:
        dashboard.publish(results_dir, summary)  # index.html, and this run in the trend
    except Exception as exc:  # a view of the results: it never costs the run its report
        echo(f"netra test: the dashboard was not written: {type(exc).__name__}: {exc}")
    # Coverage below target is flagged, not failed: see netra.testing.coverage.
    notes = coverage.report_lines(summary["coverage"]) if measured is not None else []
    _report(outcomes, slow, results_dir, echo, notes)
    return exit_code


def _run_category(
    outcome: CategoryResult,
    options: RunOptions,
    env: IsolatedEnvironment,
    pool: ServicePool,
    echo: Callable[[str], None],
    extra_env: Mapping[str, str],
) -> list[results.TestCaseResult]:
    folder = options.tests_dir / outcome.name
    if not folder.is_dir():
        outcome.status = "missing"  # a project need not have every category
        echo(f"netra test: no {folder}/, nothing to run")
        return []
    remote = options.base_url is not None and outcome.name in REMOTE_CATEGORIES
    child_env = {**env.as_dict(), **extra_env}
    if remote:
        outcome.services = {"deployment": {"base_url": options.base_url}}
    elif outcome.name not in LOCAL_ONLY:
        for problem in pool.start_all():
            echo(f"netra test: {problem}")  # the plugin fails or skips the tests that need it
        outcome.services = pool.describe()
        child_env.update(pool.child_env())
        services_file = options.results_dir / SERVICES_FILE
        services_file.write_text(json.dumps(outcome.services, indent=2))
    junit = options.results_dir / f"junit-{outcome.name}.xml"
    junit.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", str(folder)]
    command.append(f"--junitxml={junit}")
    if options.parallel > 1:
        command += ["-n", str(options.parallel)]
    if options.real_services:
        command.append("--netra-real-services")
    if remote:
        command.append(f"--netra-base-url={options.base_url}")
    command += options.pytest_args
    began = time.perf_counter()
    try:
        outcome.exit_code = _run_pytest(command, child_env)
        outcome.status = _STATUS.get(outcome.exit_code, "failed")
    except BaseException:
        outcome.exit_code, outcome.status = INTERRUPTED, "interrupted"
        raise
    finally:
        outcome.duration_s = round(time.perf_counter() - began, 3)
        cases = results.read_junit(junit)
        outcome.counts = asdict(results.count(cases))
        outcome.junit = str(junit) if junit.exists() else None
        outcome.metrics = {case.test_id: case.metrics for case in cases if case.metrics}
    return cases


# `-k tokens` deselects every test of most categories; that is not a failure.
_STATUS = {0: "passed", NO_TESTS: "no_tests"}


def _nothing_ran(outcomes: list[CategoryResult]) -> bool:
    ran = [outcome.status for outcome in outcomes if outcome.status != "missing"]
    return bool(ran) and all(status == "no_tests" for status in ran)


def _run_pytest(command: list[str], env: dict[str, str]) -> int:
    """Run pytest in its own process group; an interrupt reaches the whole group."""
    process = subprocess.Popen(command, env=env, start_new_session=True)
    try:
        code = process.wait()
    except BaseException:
        _interrupt(process)
        raise
    return code if code >= 0 else 128 - code  # killed by a signal: the shell's convention


def _interrupt(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C for pytest (and its workers and servers), then a kill if it hangs.

    A second Ctrl-C or SIGTERM while pytest tears down means "stop now": the
    group is killed before the runner gives up, since pytest runs in a session
    of its own and would otherwise outlive it.
    """
    try:
        _signal_group(process, signal.SIGINT)
        process.wait(timeout=PYTEST_GRACE)
    except subprocess.TimeoutExpired:
        pass
    finally:
        if process.poll() is None:
            _signal_group(process, signal.SIGKILL)
            process.wait()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


@contextmanager
def _interrupts_raise() -> Iterator[None]:
    """SIGTERM raises _Terminated, and SIGINT KeyboardInterrupt, even in a process
    started with SIGINT ignored (a background job, a pytest-xdist worker): Python
    installs no SIGINT handler then, and an interrupt forwarded to us would be lost."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        # None: a handler not installed from Python, which cannot be put back from here.
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _report(
    outcomes: list[CategoryResult],
    slow: list[dict[str, Any]],
    results_dir: Path,
    echo: Callable[[str], None],
    notes: Sequence[str] = (),
) -> None:
    echo("\n=== netra test: summary ===")
    for outcome in outcomes:
        counts = outcome.counts
        detail = (
            f"{counts.get('passed', 0)} passed, {counts.get('failed', 0)} failed, "
            f"{counts.get('errors', 0)} errors, {counts.get('skipped', 0)} skipped"
            if outcome.status not in ("not_run", "missing")
            else "-"
        )
        echo(f"{outcome.name:<17} {outcome.status:<12} {outcome.duration_s:>8.1f} s  {detail}")
    for test in slow:
        echo(
            f"slower than usual: {test['test']} took {test['duration_s']} s "
            f"(median {test['median_s']} s over {test['runs']} runs)"
        )
    for note in notes:
        echo(note)
    page = results_dir / dashboard.DASHBOARD_FILE
    echo(f"results: {results_dir / SUMMARY_FILE}, dashboard: {page}")
    # The last line, in the plain form CI systems read: errors count as failures.
    total = {key: sum(o.counts.get(key, 0) for o in outcomes) for key in ("passed", "failed")}
    failed = total["failed"] + sum(o.counts.get("errors", 0) for o in outcomes)
    skipped = sum(o.counts.get("skipped", 0) for o in outcomes)
    echo(f"total: {total['passed']} passed, {failed} failed, {skipped} skipped")
