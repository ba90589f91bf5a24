"""What `netra test` costs on top of plain pytest, on the same selection.

Runs `python -m pytest tests/CATEGORY` and `netra test -c CATEGORY` alternately,
`--repeat` times each, and prints the medians of their wall times. The runner's
extra work is its own start-up, the JUnit XML, the JSON summary and the history.
Use a category that needs no services (unit) to see the runner alone.

    .venv/bin/python bench/testing/runner_overhead.py [--category unit] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time


def wall_time(command: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def main(category: str, repeat: int) -> None:
    quiet = ["-q", "-p", "no:cacheprovider"]
    plain = [sys.executable, "-m", "pytest", f"tests/{category}", *quiet]
    with tempfile.TemporaryDirectory() as results:
        runner = [sys.executable, "-m", "netra", "test", "-c", category]
        runner += ["--results-dir", results, *quiet]
        wall_time(plain)  # warm the file cache and bytecode for both
        timings: dict[str, list[float]] = {"pytest": [], "netra test": []}
        for _ in range(repeat):
            timings["pytest"].append(wall_time(plain))
            timings["netra test"].append(wall_time(runner))
    base = statistics.median(timings["pytest"])
    for name, seconds in timings.items():
        median = statistics.median(seconds)
        print(
            f"{name:12s} median {median:6.2f} s   min {min(seconds):6.2f}   "
            f"overhead {(median - base) / base * 100:+5.1f}%"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", default="unit")
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    main(arguments.category, arguments.repeat)
