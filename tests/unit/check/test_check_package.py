"""netra_check stands alone: it imports nothing from netra and no web, database or model library."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# A full run (every rule, every report format) in a fresh interpreter, then the modules it loaded.
PROGRAM = """
import json, sys
from netra_check.command import main
codes = [main([sys.argv[1], "--no-cache", "-f", f, "-o", sys.argv[2]])
         for f in ("text", "json", "sarif", "markdown", "github")]
print(json.dumps({"codes": codes, "modules": sorted(sys.modules)}))
"""
FORBIDDEN = ("netra", "fastapi", "starlette", "sqlalchemy", "pydantic", "typer", "openai", "httpx")


def test_a_full_run_imports_nothing_from_netra_or_its_dependencies(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_x.py").write_text("def test_x():\n    pass\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(project), str(tmp_path / "report")],
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(done.stdout)
    assert report["codes"] == [1, 1, 1, 1, 1]  # the placeholder test was found in every format
    loaded = {name.split(".")[0] for name in report["modules"]}
    assert "netra_check" in loaded
    assert sorted(loaded.intersection(FORBIDDEN)) == []


@pytest.mark.parametrize("command", [["netra", "check"], ["netra-check"]])
def test_both_commands_run_the_same_scanner(command: list[str], tmp_path: Path) -> None:
    executable = shutil.which(command[0], path=str(Path(sys.executable).parent))
    assert executable is not None, f"{command[0]} is not installed next to {sys.executable}"
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("def test_x():\n    pass\n", encoding="utf-8")
    done = subprocess.run(
        [executable, *command[1:], "tests", "--no-cache", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    findings = json.loads(done.stdout)["findings"]
    assert [(f["rule"], f["path"], f["line"]) for f in findings] == [
        ("NC002", "tests/test_x.py", 1)
    ]
    helped = subprocess.run([executable, *command[1:], "--help"], capture_output=True, text=True)
    assert helped.returncode == 0
    assert "--explain ID" in helped.stdout
