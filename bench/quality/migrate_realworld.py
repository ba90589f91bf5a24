"""Real-world check of `netra migrate`: a public suite before and after `--write`.

Usage (from this repository, with its .venv):
    .venv/bin/python bench/quality/migrate_realworld.py CHECKOUT [TESTS]

CHECKOUT is a clean git checkout of an outside project (kept outside this
repository, e.g. /tmp/more-itertools) and TESTS its test folder (default
`tests`). The script runs the suite with pytest in this interpreter, migrates
it with `netra migrate TESTS --write`, runs it again, and compares each test's
outcome and the totals; it then runs `netra check` with the convention rules
on (a `--config` file holding `conventions = true`, so the checkout's own
pyproject.toml is left as it is) before and after, and counts NC005 findings.
It leaves the checkout migrated (`git -C CHECKOUT checkout .` undoes it).
Exit 0 when outcomes and totals match and no NC005 finding is left.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path

SUMMARY = re.compile(r"^=*\s*(\d+ (?:passed|failed|error|skipped).*?) in [\d.]+s", re.MULTILINE)


def _pytest(checkout: Path, tests: str, junit: Path) -> tuple[str, Counter[tuple[str, str, str]]]:
    command = [
        sys.executable, "-m", "pytest", tests, "-q", "-p", "no:cacheprovider",
        "-p", "no:randomly", f"--junitxml={junit}",
    ]  # fmt: skip
    run = subprocess.run(command, cwd=checkout, capture_output=True, text=True, check=False)
    found = SUMMARY.findall(run.stdout)
    totals = found[-1] if found else f"(no summary; exit {run.returncode})"
    outcomes: Counter[tuple[str, str, str]] = Counter()
    for case in ElementTree.parse(junit).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcome = ",".join(kinds) or "passed"
        outcomes[(case.get("classname", ""), case.get("name", ""), outcome)] += 1
    return totals, outcomes


def _nc005(checkout: Path, tests: str, config: Path) -> int:
    command = [
        sys.executable, "-m", "netra_check", tests, "--config", str(config),
        "--format", "json", "--no-cache",
    ]  # fmt: skip
    run = subprocess.run(command, cwd=checkout, capture_output=True, text=True, check=False)
    findings = json.loads(run.stdout)["findings"]
    return sum(1 for f in findings if f.get("rule_id", f.get("rule")) == "NC005")


def main() -> int:
    checkout = Path(sys.argv[1]).resolve()
    tests = sys.argv[2] if len(sys.argv) > 2 else "tests"
    commit = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        config = work / "conventions.toml"
        config.write_text("conventions = true\n", encoding="utf-8")
        nc005_before = _nc005(checkout, tests, config)
        totals_before, before = _pytest(checkout, tests, work / "before.xml")
        migrate = subprocess.run(
            [sys.executable, "-m", "netra_check.migrate", tests, "--write"],
            cwd=checkout, capture_output=True, text=True, check=False,
        )  # fmt: skip
        again = subprocess.run(
            [sys.executable, "-m", "netra_check.migrate", tests],
            cwd=checkout, capture_output=True, text=True, check=False,
        )  # fmt: skip
        totals_after, after = _pytest(checkout, tests, work / "after.xml")
        nc005_after = _nc005(checkout, tests, config)
    changed = subprocess.run(
        ["git", "-C", str(checkout), "diff", "--shortstat"], capture_output=True, text=True
    ).stdout.strip()
    print(f"suite:            {checkout} at {commit}")
    print(f"before:           {totals_before}")
    print(f"migrate --write:  exit {migrate.returncode}; {migrate.stderr.strip().splitlines()[-1]}")
    print(f"                  {changed}")
    print(f"second run:       exit {again.returncode}; diff of {len(again.stdout)} characters")
    print(f"after:            {totals_after}")
    same = before == after
    print(f"per-test outcomes: {sum(before.values())} before, {sum(after.values())} after, "
          f"{'identical' if same else 'DIFFERENT'}")  # fmt: skip
    for key in sorted((before - after) + (after - before)):
        print(f"  differs: {key}")
    print(f"NC005 findings:   {nc005_before} before, {nc005_after} after")
    ok = same and totals_before == totals_after and nc005_after == 0 and not again.stdout
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
