"""`netra test` itself, run as a real process on small projects made for each test."""

from __future__ import annotations

import inspect
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import netra.cli
import netra.testing.server
from netra.env import IsolatedEnvironment
from netra.testing.server import NetraServer
from netra.testing.services import PostgresService, RedisService
from netra.testing.services.process import port_is_open

RUN_TIMEOUT = 240
PYTEST_INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"

PASSING = "def test_passes():\n    assert 1 + 1 == 2\n"
FAILING = "def test_fails():\n    assert 1 + 1 == 3\n"

WITH_METRICS = """
from netra.testing.base import SSotBaseTestCase

class TestMeasured(SSotBaseTestCase):
    def test_records_a_metric(self):
        self.record_metric("answer", 42)
        self.assertEqual(self.metrics["answer"], 42)
"""

ISOLATION = """
import asyncpg
import pytest
from netra.testing.base import SSotAsyncTestCase

class TestIsolation(SSotAsyncTestCase):
    @pytest.mark.parametrize("n", range(4))
    async def test_own_database_and_keys(
        self, n, postgres, postgres_url, redis_client, redis_prefix
    ):
        connection = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
        try:
            await connection.execute("CREATE TABLE probe (n int)")
            await connection.execute("INSERT INTO probe VALUES ($1)", n)
            assert await connection.fetchval("SELECT count(*) FROM probe") == 1
            database = await connection.fetchval(
                "SELECT oid FROM pg_database WHERE datname = current_database()"
            )
        finally:
            await connection.close()
        await redis_client.set(f"{redis_prefix}probe", n)
        keys = [key async for key in redis_client.scan_iter(match="netra-test:*probe")]
        assert f"{redis_prefix}probe" in keys
        self.record_metric("database", database)
        self.record_metric("postgres_port", postgres.port)
        self.record_metric("worker", int(self.get_env("PYTEST_XDIST_WORKER", "gw-1")[2:]))
"""

BLOCKING = """
import os
import threading
from pathlib import Path

def test_blocks_until_interrupted(postgres, redis_service):
    Path("{ready}.tmp").write_text(str(os.getpid()))
    os.replace("{ready}.tmp", "{ready}")  # whole when it appears: the test polls for it
    threading.Event().wait(120)
    assert False, "was never interrupted"
"""

SLOW = """
import time

def test_became_slow():
    began = time.monotonic()
    time.sleep(0.6)
    assert time.monotonic() - began >= 0.6
"""

STUBBORN = """
import os
import signal
import threading
from pathlib import Path

def test_slow_to_stop():
    signal.signal(signal.SIGINT, lambda *_: Path("{got_sigint}").write_text("1"))
    Path("{ready}.tmp").write_text(str(os.getpid()))
    os.replace("{ready}.tmp", "{ready}")  # whole when it appears: the test polls for it
    threading.Event().wait(120)
"""

TICKS = """
import time
from datetime import UTC, datetime
from pathlib import Path

def test_records_when_it_ran():
    second = int(time.time())
    while int(time.time()) == second:  # into the next second, so the order is unambiguous
        pass
    Path("{ran_at}").write_text(datetime.now(UTC).isoformat())
"""

REMOTE = """
async def test_talks_to_the_deployment(netra_server, http):
    assert netra_server.base_url == "{url}"
    assert (await http.get("/health")).status_code == 200

def test_needs_its_own_server(netra_server_factory):
    assert netra_server_factory() is not None
"""


def make_project(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text(PYTEST_INI)
    for name, text in files.items():
        path = root / "tests" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def netra_test(
    project: Path, env: dict[str, str], *args: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "netra", "test", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    summary_path = project / "test-results" / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return done, summary


def statuses(summary: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["name"], c["status"]) for c in summary["categories"]]


def process_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def child_env(netra_env: IsolatedEnvironment) -> dict[str, str]:
    """The environment for `netra test`, without this run's own service URLs."""
    hidden = (
        "NETRA_TEST_DATABASE_URL",
        "NETRA_TEST_REDIS_URL",
        "NETRA_TEST_CLICKHOUSE_URL",
        "PYTEST_XDIST_WORKER",
        "CI",
    )
    return {k: v for k, v in netra_env.as_dict().items() if k not in hidden}


@pytest.fixture
def shared_services_env(
    child_env: dict[str, str], postgres: PostgresService, redis_service: RedisService
) -> dict[str, str]:
    """An environment that hands this run's services to `netra test`, so it starts none."""
    return {
        **child_env,
        "NETRA_TEST_DATABASE_URL": postgres.url,
        "NETRA_TEST_REDIS_URL": redis_service.url,
    }


def test_categories_run_in_order_and_stop_at_the_first_failure(
    tmp_path: Path, shared_services_env: dict[str, str]
) -> None:
    project = make_project(
        tmp_path,
        {
            "mission_critical/test_mc.py": WITH_METRICS,
            "unit/test_unit.py": PASSING + "\n\n" + FAILING,
            "integration/test_integration.py": PASSING,
            "e2e/test_e2e.py": PASSING,
        },
    )

    stopped, summary = netra_test(project, shared_services_env)

    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    assert statuses(summary) == [
        ("mission_critical", "passed"),
        ("unit", "failed"),
        ("integration", "not_run"),
        ("e2e", "not_run"),
    ]
    headers = [line for line in stopped.stdout.splitlines() if line.startswith("=== netra test [")]
    assert [h.split(": ")[-1].rstrip(" =") for h in headers] == ["mission_critical", "unit"]
    assert stopped.stdout.rstrip().endswith("total: 2 passed, 1 failed, 0 skipped")

    kept_going, summary = netra_test(project, shared_services_env, "--keep-going")

    assert kept_going.returncode == 1
    assert statuses(summary) == [
        ("mission_critical", "passed"),
        ("unit", "failed"),
        ("integration", "passed"),
        ("e2e", "passed"),
    ]


def test_the_json_summary_describes_each_category(
    tmp_path: Path, shared_services_env: dict[str, str]
) -> None:
    project = make_project(
        tmp_path,
        {"mission_critical/test_mc.py": WITH_METRICS, "unit/test_unit.py": PASSING},
    )

    done, summary = netra_test(project, shared_services_env, "-c", "unit", "-c", "mission_critical")

    assert done.returncode == 0, done.stdout + done.stderr
    assert summary["exit_code"] == 0
    mission_critical, unit = summary["categories"]  # the fixed order, not the order asked
    assert mission_critical["name"] == "mission_critical"
    assert mission_critical["counts"] == {
        "tests": 1,
        "passed": 1,
        "failed": 0,
        "errors": 0,
        "skipped": 0,
    }
    assert mission_critical["duration_s"] > 0
    assert mission_critical["services"]["postgres"]["source"] == "url"
    assert mission_critical["services"]["redis"]["started_by_this_run"] is False
    assert mission_critical["metrics"] == {
        "tests.mission_critical.test_mc.TestMeasured::test_records_a_metric": {"answer": 42}
    }
    assert (project / mission_critical["junit"]).is_file()
    assert unit["services"] == {}  # unit tests never get real services
    assert unit["counts"]["passed"] == 1
    assert "coverage" not in summary  # only with --coverage


def test_parallel_workers_share_the_services_and_get_their_own_databases(
    tmp_path: Path, child_env: dict[str, str]
) -> None:
    project = make_project(tmp_path, {"integration/test_isolation.py": ISOLATION})

    done, summary = netra_test(project, child_env, "-c", "integration", "--parallel", "2")

    assert done.returncode == 0, done.stdout + done.stderr
    (category,) = summary["categories"]
    measured = list(category["metrics"].values())
    assert len(measured) == 4
    assert {m["worker"] for m in measured} == {0, 1}
    assert len({m["database"] for m in measured}) == 4
    assert len({m["postgres_port"] for m in measured}) == 1  # one server for both workers
    services = category["services"]
    assert services["postgres"]["started_by_this_run"] is True
    assert services["redis"]["started_by_this_run"] is True
    for service in services.values():  # and nothing is left once the run is over
        assert not process_alive(service["pid"])
        assert not Path(service["data_dir"]).exists()
        assert not port_is_open(service["port"])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_run_leaves_no_process_dir_or_port_behind(
    tmp_path: Path, child_env: dict[str, str], sig: signal.Signals
) -> None:
    ready = tmp_path / "ready"
    project = make_project(
        tmp_path / "project",
        {"integration/test_blocking.py": BLOCKING.format(ready=ready)},
    )
    runner = subprocess.Popen(
        [sys.executable, "-m", "netra", "test", "-c", "integration"],
        cwd=project,
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while not ready.exists() and runner.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), runner.stdout.read() if runner.stdout else ""
        services = json.loads((project / "test-results" / "services.json").read_text())
        pytest_pid = int(ready.read_text())

        runner.send_signal(sig)
        output, _ = runner.communicate(timeout=RUN_TIMEOUT)
    finally:
        if runner.poll() is None:
            runner.kill()

    assert runner.returncode == 2, output
    assert not process_alive(pytest_pid)
    assert set(services) == {"postgres", "redis", "clickhouse"}
    for service in services.values():
        assert not process_alive(service["pid"])
        assert not Path(service["data_dir"]).exists()
        assert not port_is_open(service["port"])
    summary = json.loads((project / "test-results" / "summary.json").read_text())
    assert statuses(summary) == [("integration", "interrupted")]


def test_a_second_interrupt_kills_a_pytest_that_is_slow_to_stop(
    tmp_path: Path, child_env: dict[str, str]
) -> None:
    ready, got_sigint = tmp_path / "ready", tmp_path / "got-sigint"
    project = make_project(
        tmp_path / "project",
        {"unit/test_stubborn.py": STUBBORN.format(ready=ready, got_sigint=got_sigint)},
    )
    runner = subprocess.Popen(
        [sys.executable, "-m", "netra", "test", "-c", "unit"],
        cwd=project,
        env=child_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pytest_pid = 0
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while not ready.exists() and runner.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        pytest_pid = int(ready.read_text())
        runner.send_signal(signal.SIGINT)  # forwarded to pytest, which keeps running
        while not got_sigint.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        runner.send_signal(signal.SIGINT)  # the user insists
        runner.wait(timeout=RUN_TIMEOUT)
    finally:
        if runner.poll() is None:
            runner.kill()
        alive = pytest_pid and process_alive(pytest_pid)
        if alive:
            os.kill(pytest_pid, signal.SIGKILL)

    assert runner.returncode == 2
    assert not alive, "pytest outlived the runner"


def test_a_category_whose_tests_are_all_deselected_does_not_stop_the_run(
    tmp_path: Path, child_env: dict[str, str]
) -> None:
    project = make_project(
        tmp_path,
        {"mission_critical/test_mc.py": PASSING, "unit/test_tokens.py": PASSING},
    )

    selected, summary = netra_test(project, child_env, "-k", "tokens")

    assert selected.returncode == 0, selected.stdout + selected.stderr
    assert statuses(summary)[:2] == [("mission_critical", "no_tests"), ("unit", "passed")]
    assert summary["categories"][1]["counts"]["passed"] == 1

    nothing, summary = netra_test(project, child_env, "-k", "no_such_test")

    assert nothing.returncode == 5  # pytest's "no tests collected"
    assert summary["exit_code"] == 5


def test_the_summary_says_when_the_run_started(tmp_path: Path, child_env: dict[str, str]) -> None:
    ran_at = tmp_path / "ran_at"
    project = make_project(
        tmp_path / "project", {"unit/test_ticks.py": TICKS.format(ran_at=ran_at)}
    )

    done, summary = netra_test(project, child_env, "-c", "unit")

    assert done.returncode == 0, done.stdout + done.stderr
    test_ran = datetime.fromisoformat(ran_at.read_text()).replace(microsecond=0)
    assert datetime.fromisoformat(summary["started_at"]) < test_ran


def test_a_test_much_slower_than_its_history_is_flagged(
    tmp_path: Path, child_env: dict[str, str]
) -> None:
    project = make_project(tmp_path, {"unit/test_slow.py": SLOW})
    results = project / "test-results"
    results.mkdir()
    test_id = "tests.unit.test_slow::test_became_slow"
    (results / "history.json").write_text(json.dumps({"tests": {test_id: [0.01, 0.01, 0.01]}}))

    done, summary = netra_test(project, child_env, "-c", "unit")

    assert done.returncode == 0, done.stdout + done.stderr
    (flagged,) = summary["slow_tests"]
    assert flagged["test"] == test_id
    assert flagged["median_s"] == 0.01
    assert flagged["duration_s"] >= 0.6
    assert f"slower than usual: {test_id}" in done.stdout
    history = json.loads((results / "history.json").read_text())["tests"][test_id]
    assert len(history) == 4


def test_the_run_scans_its_tests_and_writes_the_dashboard_with_its_history(
    tmp_path: Path, child_env: dict[str, str]
) -> None:
    placeholder = "def test_placeholder():\n    pass\n"
    project = make_project(tmp_path, {"unit/test_unit.py": PASSING + "\n\n" + placeholder})

    netra_test(project, child_env, "-c", "unit")
    done, summary = netra_test(project, child_env, "-c", "unit")

    assert done.returncode == 0, done.stdout + done.stderr
    check = summary["check"]
    assert check["paths"] == ["tests"]
    assert check["findings"] == 1  # the placeholder passes, and netra check says why it is bad
    nc002 = next(m for m in check["metrics"] if m["key"] == "NC002")
    assert (nc002["display"], nc002["target_display"], nc002["ok"]) == ("1", "0", False)
    assert {t["test"] for t in summary["slowest_tests"]} == {
        "tests.unit.test_unit::test_passes",
        "tests.unit.test_unit::test_placeholder",
    }
    assert "coverage" not in summary
    results = project / "test-results"
    runs = json.loads((results / "runs.json").read_text())["runs"]
    assert [r["totals"]["passed"] for r in runs] == [2, 2]
    assert runs[-1]["started_at"] == summary["started_at"]
    page = (results / "index.html").read_text()
    assert "The last 2 of 2 recorded run(s)" in page
    assert "NC002 placeholder tests" in page
    assert "not measured" in page
    assert "dashboard: test-results/index.html" in done.stdout


def test_base_url_runs_server_tests_against_a_running_deployment(
    tmp_path: Path, child_env: dict[str, str], netra_server: NetraServer
) -> None:
    project = make_project(
        tmp_path, {"e2e/test_remote.py": REMOTE.format(url=netra_server.base_url)}
    )

    done, summary = netra_test(project, child_env, "--base-url", netra_server.base_url)

    assert done.returncode == 0, done.stdout + done.stderr
    assert statuses(summary) == [("mission_critical", "missing"), ("e2e", "passed")]
    (_, e2e) = summary["categories"]
    assert e2e["counts"]["passed"] == 1
    assert e2e["counts"]["skipped"] == 1  # it would start a server of its own
    assert e2e["services"] == {"deployment": {"base_url": netra_server.base_url}}


def test_an_unknown_category_is_a_usage_error(tmp_path: Path, child_env: dict[str, str]) -> None:
    project = make_project(tmp_path, {"unit/test_unit.py": PASSING})

    done, _ = netra_test(project, child_env, "-c", "smoke")

    assert done.returncode == 4
    assert "unknown test category ['smoke']" in done.stdout


SERVED = """
import httpx

def test_the_server_answers(netra_server_factory):
    server = netra_server_factory()
    assert httpx.get(f"{server.base_url}/health").status_code == 200
"""

COVERAGE_CONFIG = """
[tool.netra.test.coverage]
areas = ["auth", "core"]
targets = { auth = 100, core = 1 }
"""


def line_of(function: Callable[..., object], text: str) -> int:
    """The line number of the one line of `function` that contains `text`."""
    lines, first = inspect.getsourcelines(function)
    (found,) = [first + i for i, line in enumerate(lines) if text in line]
    return found


def test_coverage_combines_the_server_processes_the_tests_start(
    tmp_path: Path, child_env: dict[str, str]
) -> None:
    project = make_project(tmp_path, {"unit/test_served.py": SERVED})
    (project / "pyproject.toml").write_text(COVERAGE_CONFIG)

    done, summary = netra_test(project, child_env, "-c", "unit", "--coverage")

    assert done.returncode == 0, done.stdout + done.stderr  # below target is flagged, not failed
    measured = summary["coverage"]
    assert measured["measured"] is True
    assert (project / measured["data_file"]).is_file()
    report = json.loads((project / measured["json_report"]).read_text())
    files = {Path(name).resolve(): entry for name, entry in report["files"].items()}
    served = files[Path(netra.cli.__file__).resolve()]
    # Only the `netra serve` process runs serve(); its shutdown runs on the SIGTERM that
    # stopped it, so its data was written after that.
    assert line_of(netra.cli.serve, "netra_app = create_app(settings)") in served["executed_lines"]
    on_sigterm = line_of(netra.cli._server, "if platform is not None:")
    assert on_sigterm in served["executed_lines"]
    assert any(start == on_sigterm for start, _ in served["executed_branches"])
    # ...and the pytest process, which waited for it, is in the same report.
    waited = files[Path(netra.testing.server.__file__).resolve()]
    assert line_of(NetraServer._wait_until_healthy, "deadline =") in waited["executed_lines"]
    areas = measured["areas"]
    assert list(areas)[:2] == ["auth", "core"]  # the configured order, then the others
    assert list(areas)[2:] == sorted(list(areas)[2:])
    assert {"api", "realtime", "testing"} <= set(areas)
    assert areas["auth"]["target"] == 100.0
    assert areas["auth"]["ok"] is False
    assert areas["core"]["ok"] is True
    assert areas["api"]["target"] is None
    assert areas["api"]["ok"] is True
    covered, total = areas["api"]["lines"]
    assert 0 < covered < total
    assert measured["total"]["lines"][0] == sum(area["lines"][0] for area in areas.values())
    auth_row = next(line for line in done.stdout.splitlines() if line.startswith("auth "))
    assert auth_row.endswith("BELOW TARGET")
    assert "below target: auth" in done.stdout
    assert done.stdout.rstrip().endswith("total: 1 passed, 0 failed, 0 skipped")


def test_a_wrong_coverage_configuration_is_a_usage_error(
    tmp_path: Path, child_env: dict[str, str]
) -> None:
    project = make_project(tmp_path, {"unit/test_unit.py": PASSING})
    (project / "pyproject.toml").write_text(
        "[tool.netra.test.coverage]\ntargets = { auth = 190 }\n"
    )

    done, summary = netra_test(project, child_env, "-c", "unit", "--coverage")

    assert done.returncode == 4
    assert "targets.auth must be a percentage from 0 to 100, got 190" in done.stdout
    assert summary == {}  # nothing ran


KILLED = """
import os
import signal

def test_pytest_is_killed():
    os.kill(os.getpid(), signal.SIGKILL)
    assert False, "still alive"
"""


def test_a_pytest_killed_by_a_signal_exits_as_a_shell_would_report_it(
    tmp_path: Path, child_env: dict[str, str]
) -> None:
    project = make_project(tmp_path, {"unit/test_killed.py": KILLED})

    done, summary = netra_test(project, child_env, "-c", "unit")

    assert done.returncode == 128 + signal.SIGKILL, done.stdout + done.stderr
    assert statuses(summary) == [("unit", "failed")]
    assert summary["exit_code"] == 128 + signal.SIGKILL
