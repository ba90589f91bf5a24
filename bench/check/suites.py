"""netra check on public test suites: download sdists, scan them, sample findings to judge.

    python bench/check/suites.py download            # sdists from PyPI into CACHE (not committed)
    python bench/check/suites.py scan                # netra-check on each; findings to CACHE/*.json
    python bench/check/suites.py sample --n 160      # a seeded random sample of findings, with code
    python bench/check/suites.py collect NAME...     # pytest --collect-only in a throwaway venv

CACHE is $NETRA_SUITES or /tmp/netra-check-suites. The judged sample and the
results are in bench/check/SUITES.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

SUITES = {
    "httpx": "0.28.1",
    "requests": "2.32.3",
    "flask": "3.1.0",
    "attrs": "24.3.0",
    "pytest": "8.3.4",
    "SQLAlchemy": "2.0.36",
    "s3transfer": "0.10.4",
    "virtualenv": "20.28.0",
    # Held out: added after the rules were tuned on the eight above, to check for overfitting.
    "click": "8.1.8",
    "jinja2": "3.1.5",
}
# What each suite's tests need beyond the sdist itself, for `collect` (pytest's own extras).
TEST_DEPS = {
    "flask": ["pytest<8.4", "asgiref", "python-dotenv"],  # its test_cli imports _pytest internals
    "attrs": ["pytest", "hypothesis", "pympler", "cloudpickle"],
    "requests": ["pytest", "pytest-httpbin", "pytest-mock", "trustme", "pysocks"],
    "pytest": ["hypothesis", "xmlschema", "pygments", "requests", "nose2", "attrs"],
    "s3transfer": ["pytest", "botocore"],
    "httpx": [
        "pytest",
        "trustme",
        "uvicorn",
        "chardet",
        "brotli",
        "zstandard",
        "socksio",
        "h2",
        "trio",
        "anyio",
        "rich",
        "click",
        "pygments",
    ],
    "SQLAlchemy": ["pytest", "typing_extensions", "greenlet"],
    "virtualenv": ["pytest", "pytest-mock", "pytest-env", "flaky", "time-machine", "setuptools"],
    "click": ["pytest<8.4"],  # click 8.1 tests use a pytest API that 8.4 removed
    "jinja2": ["pytest", "trio"],
}
# Collection a suite's own pytest plugin adds, told to netra check the documented way.
NETRA_CONFIG = {
    # sqlalchemy.testing.plugin.pytestplugin collects every public subclass of
    # fixtures.TestBase whatever its name, and nothing else (its pytest_pycollect_makeitem
    # returns [] for any other class or function: plugin_base.want_class), and makes a copy
    # of a class per argument of a class-level @testing.combinations.
    "SQLAlchemy": (
        'extra-python-bases = ["sqlalchemy.testing.fixtures.TestBase"]\n'
        'class-parametrizers = ["sqlalchemy.testing.combinations"]\n'
        "conventions = false\n"
    ),
}
# SQLAlchemy's addopts has -v: one more -q to get one node id per line.
COLLECT_ARGS = {"SQLAlchemy": ["-q"]}
CACHE = Path(os.environ.get("NETRA_SUITES", "/tmp/netra-check-suites"))
HERE = Path(__file__).resolve().parents[2]


def tree(name: str) -> Path:
    """The extracted sdist of a suite."""
    version = SUITES[name]
    matches = [
        p
        for p in (CACHE / "src").glob("*")
        if p.is_dir() and p.name.lower().replace("_", "-") == f"{name}-{version}".lower()
    ]
    if not matches:
        raise SystemExit(f"{name} {version} is not downloaded; run `download` first")
    return matches[0]


# Backends to read the sdists' metadata with. With build isolation, `--no-binary :all:`
# would also build every backend (and Cython, for SQLAlchemy) from source.
BACKENDS = ["setuptools", "wheel", "hatchling", "hatch-vcs", "hatch-fancy-pypi-readme",
            "flit_core", "setuptools_scm"]  # fmt: skip


def download() -> None:
    (CACHE / "dl").mkdir(parents=True, exist_ok=True)
    (CACHE / "src").mkdir(parents=True, exist_ok=True)
    tools = CACHE / "tools" / "bin" / "python"
    if not tools.exists():
        subprocess.run([sys.executable, "-m", "venv", str(CACHE / "tools")], check=True)
        subprocess.run([str(tools), "-m", "pip", "install", "-q", *BACKENDS], check=True)
    for name, version in SUITES.items():
        if any((CACHE / "dl").glob(f"{name.lower()}-{version}.tar.gz")):
            continue
        subprocess.run(
            [str(tools), "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "--no-build-isolation", "-d", str(CACHE / "dl"), f"{name}=={version}"],
            check=True,
        )  # fmt: skip
    for archive in sorted((CACHE / "dl").glob("*.tar.gz")):
        with tarfile.open(archive) as handle:
            handle.extractall(CACHE / "src", filter="data")


def scan() -> None:
    command = [sys.executable, "-m", "netra_check", "--no-cache", "--format", "json"]
    print(f"command (in each tree): {' '.join(command)}")
    for name in SUITES:
        root = tree(name)
        extra: list[str] = []
        if name in NETRA_CONFIG:
            config = CACHE / f"{name}.netra.toml"
            config.write_text(NETRA_CONFIG[name], encoding="utf-8")
            extra = ["--config", str(config)]
            print(f"{name}: {' '.join(extra)} ({NETRA_CONFIG[name]!r})")
        done = subprocess.run(
            [*command, *extra], cwd=root, capture_output=True, text=True, check=False
        )
        if done.returncode not in (0, 1):
            print(f"{name}: exit {done.returncode}: {done.stderr.strip()}")
            continue
        report = json.loads(done.stdout)
        (CACHE / f"{name}.json").write_text(done.stdout, encoding="utf-8")
        counts: dict[str, int] = {}
        for finding in report["findings"]:
            counts[finding["rule"]] = counts.get(finding["rule"], 0) + 1
        print(f"{name}: {report['files']} files, {report['tests']} tests, findings {counts}")


def _snippet(root: Path, path: str, line: int | None, context: int) -> str:
    if not line:
        return ""
    lines = (root / path).read_text(encoding="utf-8", errors="replace").splitlines()
    start, end = max(line - 1, 0), min(line - 1 + context, len(lines))
    return "\n".join(f"    {n + 1:5} {lines[n]}" for n in range(start, end))


def sample(n: int, seed: int, context: int, only: list[str]) -> None:
    findings = []
    for name in only or SUITES:
        report = json.loads((CACHE / f"{name}.json").read_text(encoding="utf-8"))
        findings.extend((name, f) for f in report["findings"])
    chosen = random.Random(seed).sample(findings, min(n, len(findings)))
    for index, (name, f) in enumerate(chosen, start=1):
        print(f"[{index}] {name} {f['rule']} {f['path']}:{f['line']} {f['message']}")
        print(_snippet(tree(name), f["path"], f["line"], context))
        print()


def collect(names: list[str]) -> None:
    """pytest's count against netra check's, in a venv made for the suite (kept for reruns).

    pytest counts items (one per parametrized case, one per inherited method in each
    subclass); netra check counts test functions as written. The fair comparison is
    pytest's node ids with the `[params]` part removed.
    """
    for name in names:
        root = tree(name)
        venv = CACHE / "venvs" / name
        python = str(venv / "bin" / "python")
        if not venv.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            installed = subprocess.run(
                [python, "-m", "pip", "install", "-q", str(root), *TEST_DEPS[name]], check=False
            )
            if installed.returncode != 0:
                shutil.rmtree(venv)
                print(f"{name}: its test dependencies did not install")
                continue
        done = subprocess.run(
            [python, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
             *COLLECT_ARGS.get(name, [])],
            cwd=root, capture_output=True, text=True, check=False,
        )  # fmt: skip
        ids = [line for line in done.stdout.splitlines() if "::" in line]
        (CACHE / f"{name}.collected.txt").write_text("\n".join(ids), encoding="utf-8")
        functions = {i.split("[", 1)[0] for i in ids}
        tail = (done.stdout.strip().splitlines() or [done.stderr.strip()])[-1]
        report = json.loads((CACHE / f"{name}.json").read_text(encoding="utf-8"))
        print(
            f"{name}: pytest {tail!r}: {len(ids)} items, {len(functions)} without parameters; "
            f"netra check: {report['tests']} tests"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("download")
    sub.add_parser("scan")
    sampling = sub.add_parser("sample")
    sampling.add_argument("--n", type=int, default=160)
    sampling.add_argument("--seed", type=int, default=13)
    sampling.add_argument("--context", type=int, default=12)
    sampling.add_argument("--only", nargs="*", default=[], choices=list(SUITES))
    collecting = sub.add_parser("collect")
    collecting.add_argument("names", nargs="+", choices=list(SUITES))
    args = parser.parse_args()
    if args.command == "download":
        download()
    elif args.command == "scan":
        scan()
    elif args.command == "sample":
        sample(args.n, args.seed, args.context, args.only)
    else:
        collect(args.names)


if __name__ == "__main__":
    main()
