"""`--collect-with-pytest`: ask pytest itself which tests it collects.

For collection that a plugin or a conftest hook adds and that cannot be read
from the configuration (SQLAlchemy's plugin, `pytest_collect_file` hooks). It
imports the project's tests, so it needs the project's environment: the
interpreter at `.venv/bin/python` or `venv/bin/python` under the project root
when there is one, else the one running netra check.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from netra_check.errors import CheckError


class CollectError(CheckError):
    """pytest could not be asked, or could not collect; the message says why."""


def project_python(root: Path) -> str:
    """The project's own interpreter, else the current one."""
    for venv in (".venv", "venv"):
        candidate = root / venv / "bin" / "python"
        if candidate.is_file():
            return str(candidate)
    return sys.executable


def collect(root: Path, python: str | None = None) -> tuple[frozenset[str], int]:
    """(test files relative to the root, tests without their parameters) as pytest sees them."""
    interpreter = python or project_python(root)
    # --verbosity sets the level outright (-q would only lower one that addopts may raise).
    command = [
        interpreter,
        "-m",
        "pytest",
        "--collect-only",
        "--verbosity=-1",
        "-p",
        "no:cacheprovider",
    ]
    try:
        done = subprocess.run(
            [*command, f"--rootdir={root}"], cwd=root, capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise CollectError(f"cannot run {interpreter}: {exc}") from exc
    ids = [line.strip() for line in done.stdout.splitlines() if "::" in line]
    # 5: no tests collected, which is an answer too.
    if done.returncode not in (0, 5) or (done.returncode == 0 and not ids):
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        raise CollectError(
            f"`{' '.join(command)}` in {root} exited {done.returncode} with "
            f"{len(ids)} test ids; its last lines:\n{tail}"
        )
    files = frozenset(node.split("::", 1)[0] for node in ids)
    return files, len({node.split("[", 1)[0] for node in ids})
