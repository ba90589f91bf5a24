#!/usr/bin/env python3
"""The entry of this repository's pre-commit hooks (`.pre-commit-hooks.yaml`).

The hooks are `language: script`: pre-commit runs this file from its clone of the
repository with the `python3` on the PATH and installs nothing. A `language: python`
hook would `pip install` the repository's root, which is the whole `netra` server
(FastAPI, SQLAlchemy, model clients) and not the scanner alone. The scanner needs
only the standard library, so it runs here straight from the clone's `src/`.
Its own distribution, for pip, is this folder's pyproject.toml (`netra-check`).
"""

import sys

if sys.version_info < (3, 11):  # noqa: UP036 - this file must run on old versions to say so
    sys.exit(
        "netra-check needs Python 3.11 or newer, and `python3` here is "
        + sys.version.split()[0]
        + ". Put a newer python3 first on the PATH, or use the netra-check "
        "distribution (packages/netra-check) from a local hook with language_version."
    )

from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from netra_check.command import main

sys.exit(main())
