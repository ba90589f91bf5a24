"""`python -m netra_check.migrate`: the same as `netra migrate`."""

from __future__ import annotations

import sys

from netra_check.migrate.command import main

if __name__ == "__main__":
    sys.exit(main())
