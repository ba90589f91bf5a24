"""Benchmark `netra check` against ruff, flake8 and a bare `ast.parse` of the same files.

Usage (see bench/check/README.md for how the tree and flake8 are installed):

    .venv/bin/python bench/check/bench.py TREE [--flake8 PATH] [--repeat N]
    .venv/bin/python bench/check/bench.py TREE --warm-ab TREE_B SRC_A SRC_B --repeat 15

TREE is a folder of Python test files (for example pandas' test suite unpacked
from its wheel). Every tool gets exactly the files `netra check` parses there.
Each measurement is a fresh process, timed from outside (wall clock) together
with the CPU time of that process and its children. Results are printed as a
Markdown table; the median of N runs is reported with the minimum.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR = """
import ast, sys
for name in open(sys.argv[1], encoding="utf-8").read().splitlines():
    with open(name, "rb") as handle:
        ast.parse(handle.read())
"""


def timed(command: list[str], cwd: Path | None = None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of the process tree, exit code) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, completed.returncode


def files_scanned(tree: Path) -> list[str]:
    """The Python files `netra check` parses in TREE (its roles decide, not a glob)."""
    from netra_check.config import load_config
    from netra_check.discovery import discover
    from netra_check.pytest_config import locate

    root = locate([tree], Path.cwd()).rootdir
    sources, _ = discover(root, load_config(root), [tree.resolve().relative_to(root).as_posix()])
    return [source.path for source in sources]


def warm_ab(trees: tuple[Path, Path], sources: tuple[Path, Path], repeat: int) -> int:
    """Warm runs of two code versions (each `src/` on PYTHONPATH, each with its own copy of
    the tree so they never share a cache), interleaved A, B, A, B after one warm-up each."""
    python = sys.executable
    # Run from the folder above each tree, as a user runs `netra-check tests` in a project.
    commands = [
        [python, "-m", "netra_check", tree.name, "--format", "json", "-o", os.devnull]
        for tree in trees
    ]
    folders = [tree.resolve().parent for tree in trees]
    envs = [{**os.environ, "PYTHONPATH": str(src.resolve())} for src in sources]

    def run(index: int) -> tuple[float, float, int]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            commands[index], cwd=folders[index], env=envs[index], capture_output=True, check=False
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu, done.returncode

    run(0), run(1)  # warm-up: fills each tree's cache
    loads = [os.getloadavg()[0]]
    results: list[list[tuple[float, float, int]]] = [[], []]
    for _ in range(repeat):
        results[0].append(run(0))
        results[1].append(run(1))
    loads.append(os.getloadavg()[0])
    print(f"{repeat} warm runs each, interleaved; load average {loads[0]:.2f} before, "
          f"{loads[1]:.2f} after\n")  # fmt: skip
    print("| version | src | wall median (s) | wall min (s) | CPU median (s) | exit codes |")
    print("|---|---|---:|---:|---:|---|")
    for label, src, rows in zip("AB", sources, results, strict=True):
        walls = [w for w, _, _ in rows]
        cpus = [c for _, c, _ in rows]
        print(
            f"| {label} | `{src}` | {statistics.median(walls):.3f} | {min(walls):.3f} | "
            f"{statistics.median(cpus):.3f} | {sorted({c for _, _, c in rows})} |"
        )
    ratio = statistics.median(w for w, _, _ in results[0]) / statistics.median(
        w for w, _, _ in results[1]
    )
    print(f"\nA/B wall (medians): {ratio:.2f}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", type=Path)
    parser.add_argument(
        "--warm-ab",
        nargs=3,
        type=Path,
        metavar=("TREE_B", "SRC_A", "SRC_B"),
        help="only time warm runs of two code versions, interleaved: SRC_A on TREE, "
        "SRC_B on TREE_B (a copy of TREE, so the versions never share a cache)",
    )
    parser.add_argument("--flake8", type=Path, help="flake8 executable from a separate venv")
    parser.add_argument("--ruff", type=Path, default=Path(sys.executable).parent / "ruff")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.warm_ab is not None:
        tree_b, src_a, src_b = args.warm_ab
        return warm_ab((args.tree, tree_b), (src_a, src_b), args.repeat)

    tree = args.tree.resolve()
    files = files_scanned(tree)
    lines = sum(Path(f).read_bytes().count(b"\n") for f in files)
    listing = Path(tempfile.mkstemp(suffix=".txt")[1])
    listing.write_text("\n".join(files), encoding="utf-8")
    python = sys.executable
    netra = [python, "-m", "netra_check", str(tree), "--format", "json", "-o", os.devnull]
    cache = tree / ".netra"

    def cold() -> tuple[float, float, int]:
        shutil.rmtree(cache, ignore_errors=True)
        return timed(netra)

    runs: dict[str, list[tuple[float, float, int]]] = {
        name: [] for name in ("floor", "cold", "warm", "ruff", "flake8")
    }
    for _ in range(args.repeat):
        # Interleaved, so a burst of load on the machine hits every tool alike.
        runs["floor"].append(timed([python, "-c", FLOOR, str(listing)]))
        runs["cold"].append(cold())
        runs["warm"].append(timed(netra))
        runs["ruff"].append(
            timed([str(args.ruff), "check", "--no-cache", "--isolated", "--exit-zero", *files])
        )
        if args.flake8 is not None:
            runs["flake8"].append(timed([str(args.flake8), "--exit-zero", *files]))
    shutil.rmtree(cache, ignore_errors=True)
    listing.unlink()

    floor = statistics.median(w for w, _, _ in runs["floor"])
    print(
        f"{len(files)} files, {lines} lines, {os.cpu_count()} CPUs, "
        f"load average before the last run: {os.getloadavg()[0]:.2f}\n"
    )
    print("| run | wall median (s) | wall min (s) | CPU median (s) | vs floor (median) |")
    print("|---|---:|---:|---:|---:|")
    labels = {
        "floor": "bare `ast.parse`, serial (floor)",
        "cold": "`netra check`, cold (no cache)",
        "warm": "`netra check`, warm (cache, nothing changed)",
        "ruff": "`ruff check` (default rules, no cache)",
        "flake8": "`flake8` (default, --jobs auto)",
    }
    for name, results in runs.items():
        if not results:
            continue
        walls = [w for w, _, _ in results]
        cpus = [c for _, c, _ in results]
        print(
            f"| {labels[name]} | {statistics.median(walls):.2f} | {min(walls):.2f} | "
            f"{statistics.median(cpus):.2f} | {statistics.median(walls) / floor:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
