"""netra_check stands alone: it imports nothing from netra and no web, database or model library."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
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
        cwd=project,  # pytest's rootdir is also under the invocation folder: keep it the project
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


REPO = Path(__file__).resolve().parents[3]
DISTRIBUTION = REPO / "packages" / "netra-check"


def _hooks() -> list[dict[str, str]]:
    """The hooks of .pre-commit-hooks.yaml (a flat list of `- id:` mappings of strings)."""
    hooks: list[dict[str, str]] = []
    for line in (REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8").splitlines():
        if line.startswith("- "):
            hooks.append({})
            line = "  " + line[2:]
        if hooks and line.startswith("  ") and not line.startswith("   ") and ":" in line:
            key, _, value = line.strip().partition(":")
            hooks[-1][key] = value.strip()
    return hooks


def test_the_pre_commit_hooks_install_nothing_and_run_on_the_standard_library(
    tmp_path: Path,
) -> None:
    hooks = _hooks()
    assert [h["id"] for h in hooks] == ["netra-check", "netra-check-github"]
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_x.py").write_text("def test_x():\n    pass\n", encoding="utf-8")
    for hook in hooks:
        # `script`: pre-commit runs the entry from its clone and installs no environment.
        assert hook["language"] == "script", hook
        entry, *args = hook["entry"].split()
        script = REPO / entry
        assert os.access(script, os.X_OK), f"{entry} must be executable"
        assert script.read_text(encoding="utf-8").startswith("#!/usr/bin/env python3\n")
        # -S -I: no site-packages and no PYTHONPATH, so only the standard library and the
        # clone's own src/ are importable, as in a bare python3.
        done = subprocess.run(
            [sys.executable, "-S", "-I", str(script), *args, "--no-cache", "tests/test_x.py"],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 1, done.stderr
        assert "tests/test_x.py" in done.stdout
        assert "NC002" in done.stdout


def test_the_netra_check_distribution_is_the_scanner_alone(tmp_path: Path) -> None:
    pytest.importorskip("hatchling")
    import netra_check

    build = (
        "import sys, hatchling.build as b; "
        "print(b.build_wheel(sys.argv[1])); print(b.build_sdist(sys.argv[1]))"
    )
    out = tmp_path / "dist"
    done = subprocess.run(
        [sys.executable, "-c", build, str(out)],
        cwd=DISTRIBUTION,
        capture_output=True,
        text=True,
        check=True,
    )
    wheel_name, sdist_name = done.stdout.split()
    with zipfile.ZipFile(out / wheel_name) as wheel:
        names = set(wheel.namelist())
        info = f"netra_check-{netra_check.__version__}.dist-info"
        metadata = wheel.read(f"{info}/METADATA").decode()
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert "Name: netra-check\n" in metadata
    assert f"Version: {netra_check.__version__}\n" in metadata
    assert "Requires-Dist" not in metadata  # nothing beyond the standard library
    assert "netra-check = netra_check.command:console" in entry_points
    package = REPO / "src" / "netra_check"
    sources = {f"netra_check/{p.relative_to(package).as_posix()}" for p in package.rglob("*.py")}
    assert {n for n in names if not n.startswith(info)} == sources  # no netra, no caches

    # A wheel built from the sdist (as `python -m build` does) holds the same files.
    unpacked = tmp_path / "sdist"
    with tarfile.open(out / sdist_name) as sdist:
        sdist.extractall(unpacked, filter="data")
    (root,) = unpacked.iterdir()
    again = subprocess.run(
        [sys.executable, "-c", build, str(tmp_path / "again")],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    with zipfile.ZipFile(tmp_path / "again" / again.stdout.split()[0]) as rebuilt:
        assert set(rebuilt.namelist()) == names

    # The wheel's files run with the standard library alone.
    installed = tmp_path / "installed"
    with zipfile.ZipFile(out / wheel_name) as wheel:
        wheel.extractall(installed)
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_x.py").write_text("def test_x():\n    ...\n", encoding="utf-8")
    program = "import sys; sys.path.insert(0, sys.argv[1]); from netra_check.command import main; "
    program += "sys.exit(main(['--no-cache', '-f', 'json', 'tests']))"
    ran = subprocess.run(
        [sys.executable, "-S", "-I", "-c", program, str(installed)],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 1, ran.stderr
    assert [f["rule"] for f in json.loads(ran.stdout)["findings"]] == ["NC002"]


def test_the_distribution_declares_the_package_version() -> None:
    import tomllib

    import netra_check

    project = tomllib.loads((DISTRIBUTION / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["version"] == netra_check.__version__
    assert project["project"]["dependencies"] == []
