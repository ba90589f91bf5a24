"""`python -m netra_check`: the same as the `netra-check` command."""

from __future__ import annotations

import sys

from netra_check.command import main

if __name__ == "__main__":
    sys.exit(main())
