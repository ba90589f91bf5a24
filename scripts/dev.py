"""Set up the repository's `.venv` from the lock file, then run a `netra` command in it.

Usage: python3 scripts/dev.py serve | test | setup | <any netra subcommand>

Only the Python standard library is used here, so a fresh clone needs nothing
but Python 3.11+. The venv is rebuilt only when the lock file or pyproject.toml
changed since the last setup.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".netra-setup"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("requirements.lock", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def _run(*args: str | os.PathLike[str]) -> None:
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT)


def ensure_venv() -> None:
    """Create or refresh `.venv` so that it matches requirements.lock exactly."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script must run to say so
        sys.exit(f"Netra needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    fingerprint = _fingerprint()
    if STAMP.exists() and STAMP.read_text() == fingerprint:
        return
    print(f"Setting up {VENV} from requirements.lock ...", flush=True)
    if not (BIN / "python").exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = (BIN / "python", "-m", "pip", "--disable-pip-version-check", "-q")
    _run(*pip, "install", "--require-hashes", "-r", "requirements.lock")
    _run(*pip, "install", "--no-deps", "--no-build-isolation", "-e", ".")
    STAMP.write_text(fingerprint)


def main() -> None:
    ensure_venv()
    args = sys.argv[1:] or ["--help"]
    if args == ["setup"]:
        return
    netra = BIN / "netra"
    os.execv(netra, [str(netra), *args])


if __name__ == "__main__":
    main()
