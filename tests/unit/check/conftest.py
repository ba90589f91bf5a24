"""Fixtures for the `netra check` tests: throw-away projects written to tmp_path."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import pytest

from netra_check.command import main
from netra_check.config import load_config
from netra_check.engine import CheckResult, run_check
from netra_check.model import Finding


class Workspace:
    """A project on disk: write files into it, scan it, read the findings."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # Most rule tests model a repository that follows Netra's conventions (NC005-NC010).
        self.conventions = True

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def scan(self, **options: object) -> CheckResult:
        options.setdefault("use_cache", False)
        options.setdefault("jobs", 1)
        config = load_config(self.root)
        if self.conventions:
            config = replace(config, conventions=True)
        return run_check(self.root, config, **options)  # type: ignore[arg-type]

    def findings(self, rule_id: str | None = None, **options: object) -> list[Finding]:
        return [f for f in self.scan(**options).findings if rule_id in (None, f.rule_id)]

    def lines(self, rule_id: str, **options: object) -> list[tuple[str, int | None]]:
        return [(f.path, f.line) for f in self.findings(rule_id, **options)]


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "project")


class Invocation(NamedTuple):
    """What one run of the command line gave."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Invocation]:
    """Run `netra-check ARGS...` in this process (the function both commands call)."""

    def invoke(*args: str) -> Invocation:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Invocation(code, captured.out, captured.err)

    return invoke
