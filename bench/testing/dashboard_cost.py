"""What the dashboard adds to a `netra test` run: the `netra check` scan of the tests
folder and the HTML page (with the run history update).

The runner pays, once per run, the first scan (which imports netra_check and reads
its result cache), then builds the page. Also timed: a scan without the cache (the
first run in a fresh checkout), and the page alone from the recorded summary.

    .venv/bin/python bench/testing/dashboard_cost.py [--count 20] [--tests tests]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "dashboard"


def timed(function: Callable[[], object], count: int) -> list[float]:
    seconds = []
    for _ in range(count):
        began = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - began)
    return seconds


def report(name: str, seconds: list[float]) -> None:
    p90 = statistics.quantiles(seconds, n=10)[-1] if len(seconds) > 1 else seconds[0]
    print(
        f"{name:52s} median {statistics.median(seconds) * 1000:7.1f} ms"
        f"   p90 {p90 * 1000:7.1f} ms   (n={len(seconds)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--tests", type=Path, default=Path("tests"))
    args = parser.parse_args()

    began = time.perf_counter()
    from netra.testing import dashboard, run_history

    check = dashboard.check_summary(args.tests)
    first = time.perf_counter() - began
    print(f"{'first scan in this process (imports included)':52s} {first * 1000:7.1f} ms")
    print(f"  {check['files']} files, {check['tests']} tests, {check['findings']} finding(s)")

    from netra_check.command import check_paths

    report(
        "scan, result cache warm (what each run pays)",
        timed(lambda: dashboard.check_summary(args.tests), args.count),
    )
    report(
        "scan, no cache (a fresh checkout)",
        timed(lambda: check_paths([args.tests], use_cache=False), args.count),
    )

    summary = json.loads((FIXTURES / "summary.json").read_text())
    runs = run_history.load_runs(FIXTURES / "runs.json")
    page = dashboard.build(summary, runs)
    report(
        f"HTML page from the recorded summary ({len(page)} bytes)",
        timed(lambda: dashboard.build(summary, runs), args.count),
    )
    directory = Path(tempfile.mkdtemp(prefix="dashboard-bench-"))
    try:
        shutil.copy(FIXTURES / "runs.json", directory / run_history.RUNS_FILE)
        report(
            "publish: runs.json updated + index.html written",
            timed(lambda: dashboard.publish(directory, summary), args.count),
        )
    finally:
        shutil.rmtree(directory)


if __name__ == "__main__":
    main()
