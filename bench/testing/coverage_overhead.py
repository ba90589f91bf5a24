"""What `netra test --coverage` costs, next to what coverage.py itself costs.

Runs four commands on the same category, interleaved, `--repeat` times each:

    python -m pytest tests/CATEGORY                                     (the floor)
    python -m coverage run --branch --source=netra -m pytest tests/CATEGORY
    netra test -c CATEGORY
    netra test -c CATEGORY --coverage

and prints the median wall time of each and the two ratios that matter:
coverage.py's own cost on plain pytest, and `--coverage`'s cost on `netra test`
(which also combines the processes' data and writes the JSON report). The floor
measures the same files as `--coverage` (`--source=netra`). Use a category that
needs no services (unit). The load average is printed before and after: the
machine may be shared.

    .venv/bin/python bench/testing/coverage_overhead.py [--category unit] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HUNG_AFTER = 600.0  # seconds: a run this long is stopped and reported, not timed


def wall_time(command: list[str], env: dict[str, str]) -> float | None:
    """The command's wall time; None if it hung (stopped with SIGTERM, which `netra test`
    passes on to its pytest) or failed."""
    began = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=env)
    try:
        code = process.wait(timeout=HUNG_AFTER)
    except subprocess.TimeoutExpired:
        process.terminate()
        process.wait()
        print(f"hung, stopped after {HUNG_AFTER:g} s: {' '.join(command)}", flush=True)
        return None
    if code != 0:
        print(f"exit code {code}: {' '.join(command)}", flush=True)
        return None
    return time.perf_counter() - began


def main(category: str, repeat: int) -> None:
    quiet = ["-q", "-p", "no:cacheprovider"]
    pytest = ["-m", "pytest", f"tests/{category}", *quiet]
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "COVERAGE_FILE": str(Path(scratch) / ".coverage")}
        results = str(Path(scratch) / "results")
        runner = [sys.executable, "-m", "netra", "test", "-c", category, "--results-dir", results]
        commands = {
            "pytest": [sys.executable, *pytest],
            "coverage run --branch": [
                sys.executable,
                "-m",
                "coverage",
                "run",
                "--branch",
                "--source=netra",
                *pytest,
            ],
            "netra test": [*runner, *quiet],
            "netra test --coverage": [*runner, "--coverage", *quiet],
        }
        print(f"load average before: {os.getloadavg()}")
        wall_time(commands["pytest"], env)  # warm the file cache and bytecode for all
        timings: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(repeat):
            for name, command in commands.items():
                measured = wall_time(command, env)
                if measured is not None:
                    timings[name].append(measured)
        print(f"load average after: {os.getloadavg()}")
    medians = {name: statistics.median(seconds) for name, seconds in timings.items()}
    for name, runs in timings.items():
        print(
            f"{name:24s} median {medians[name]:6.2f} s   runs {', '.join(f'{s:.2f}' for s in runs)}"
        )
    floor = medians["coverage run --branch"] / medians["pytest"]
    ours = medians["netra test --coverage"] / medians["netra test"]
    print(f"coverage.py on pytest:        x{floor:.2f}")
    print(f"--coverage on netra test:     x{ours:.2f}")
    versus = medians["netra test --coverage"] / medians["coverage run --branch"]
    print(f"netra test --coverage / coverage run --branch: x{versus:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", default="unit")
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    main(arguments.category, arguments.repeat)
