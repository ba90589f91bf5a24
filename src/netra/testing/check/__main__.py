"""`python -m netra.testing.check`: the same command without the rest of the `netra` CLI."""

from __future__ import annotations

import typer

from netra.testing.check.command import check


def main() -> None:
    """Run `netra check` as a stand-alone program."""
    app = typer.Typer(add_completion=False)
    app.command()(check)
    app()


if __name__ == "__main__":
    main()
