"""`python -m netra_check`: the same as the `netra-check` command."""

from __future__ import annotations

from netra_check.command import console

if __name__ == "__main__":
    console()
