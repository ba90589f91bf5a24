"""The `netra check` command: exit codes, formats, --explain, --baseline, --changed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from netra.env import IsolatedEnvironment
from netra_check.rules import REGISTRY

CLEAN = "def test_ok():\n    assert sum([1, 2]) == 3\n"
PLACEHOLDER = "def test_todo():\n    pass\n"


@pytest.fixture
def repo(workspace):
    workspace.write("pyproject.toml", '[project]\nname = "demo"\n')
    workspace.write("tests/unit/test_ok.py", CLEAN)
    return workspace


def test_clean_project_exits_0(cli, repo) -> None:
    result = cli(str(repo.root), "--no-cache")
    assert result.exit_code == 0, result.output
    assert "OK: no errors." in result.output


def test_findings_exit_1(cli, repo) -> None:
    repo.write("tests/unit/test_todo.py", PLACEHOLDER)
    result = cli(str(repo.root), "--no-cache")
    assert result.exit_code == 1
    assert "tests/unit/test_todo.py:1: NC002" in result.output


def test_warnings_do_not_fail(cli, repo) -> None:
    repo.write("pyproject.toml", '[tool.netra.check]\nseverity = { NC002 = "warning" }\n')
    repo.write("tests/unit/test_todo.py", PLACEHOLDER)
    result = cli(str(repo.root), "--no-cache")
    assert result.exit_code == 0
    assert "NC002 [warning]" in result.output


def test_path_inside_project_limits_the_report(cli, repo) -> None:
    repo.write("tests/unit/test_todo.py", PLACEHOLDER)
    assert cli(str(repo.root / "tests/unit/test_ok.py"), "--no-cache").exit_code == 0
    assert cli(str(repo.root / "tests/unit"), "--no-cache").exit_code == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--explain", "NC999"], "unknown rule id 'NC999'"),
        (["does/not/exist"], "path does not exist"),
        (["--update-baseline"], "--update-baseline needs --baseline FILE"),
        (["--config", "missing.toml"], "does not exist"),
    ],
)
def test_usage_errors_exit_2(cli, repo, monkeypatch, args: list[str], message: str) -> None:
    monkeypatch.chdir(repo.root)
    result = cli(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_bad_config_exits_2(cli, repo) -> None:
    repo.write("pyproject.toml", "[tool.netra.check]\nwhatever = 1\n")
    result = cli(str(repo.root))
    assert result.exit_code == 2
    assert "unknown key 'whatever'" in result.output


def test_bad_format_exits_2(cli, repo) -> None:
    assert cli(str(repo.root), "--format", "xml").exit_code == 2


def test_explain_prints_the_four_part_doc(cli) -> None:
    for rule in REGISTRY:
        result = cli("--explain", rule.id.lower())
        assert result.exit_code == 0
        for part in ("What it does:", "Why is this bad?", "Example:", "Use instead:"):
            assert part in result.output, (rule.id, part)
    listing = cli("--explain", "all")
    assert [line.split()[0] for line in listing.output.splitlines()] == [r.id for r in REGISTRY]


@pytest.mark.parametrize("fmt", ["json", "sarif", "markdown", "github", "text"])
def test_formats(cli, repo, fmt: str) -> None:
    repo.write("tests/unit/test_todo.py", PLACEHOLDER)
    result = cli(str(repo.root), "--format", fmt, "--no-cache")
    assert result.exit_code == 1
    if fmt in {"json", "sarif"}:
        assert json.loads(result.stdout)
    assert "test_todo" in result.stdout


def test_output_file(cli, repo, tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.sarif"
    result = cli(str(repo.root), "--format", "sarif", "--output", str(target), "--no-cache")
    assert result.exit_code == 0
    assert json.loads(target.read_text(encoding="utf-8"))["version"] == "2.1.0"


def test_baseline_ratchet(cli, repo, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    repo.write("tests/unit/test_todo.py", PLACEHOLDER)
    written = cli(str(repo.root), "--baseline", str(baseline), "--no-cache")
    assert written.exit_code == 0
    assert "wrote baseline" in written.output
    assert len(json.loads(baseline.read_text(encoding="utf-8"))["findings"]) == 1

    repo.write("tests/unit/test_todo.py", "import json\n\n" + PLACEHOLDER)
    assert cli(str(repo.root), "--baseline", str(baseline), "--no-cache").exit_code == 0

    repo.write("tests/unit/test_more.py", PLACEHOLDER.replace("todo", "more"))
    failing = cli(str(repo.root), "--baseline", str(baseline), "--no-cache")
    assert failing.exit_code == 1
    assert "test_more.py:1" in failing.output
    assert "test_todo.py" not in failing.output.split("New findings")[1]

    updated = cli(str(repo.root), "--baseline", str(baseline), "--update-baseline", "--no-cache")
    assert updated.exit_code == 0
    assert cli(str(repo.root), "--baseline", str(baseline), "--no-cache").exit_code == 0


def test_fixed_findings_suggest_ratcheting(cli, repo, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    repo.write("tests/unit/test_todo.py", PLACEHOLDER)
    cli(str(repo.root), "--baseline", str(baseline), "--no-cache")
    repo.write("tests/unit/test_todo.py", CLEAN.replace("test_ok", "test_done"))
    result = cli(str(repo.root), "--baseline", str(baseline), "--no-cache")
    assert result.exit_code == 0
    assert "1 fixed" in result.output
    assert "--update-baseline" in result.output


def git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=root,
        check=True,
        capture_output=True,
    )


def test_changed_reports_only_changed_files(cli, repo) -> None:
    repo.write("tests/unit/test_old.py", PLACEHOLDER)
    git(repo.root, "init", "-q")
    git(repo.root, "add", ".")
    git(repo.root, "commit", "-q", "-m", "init")
    assert cli(str(repo.root), "--changed", "--no-cache").exit_code == 0

    repo.write("tests/unit/test_new.py", PLACEHOLDER.replace("todo", "new"))
    result = cli(str(repo.root), "--changed", "--no-cache")
    assert result.exit_code == 1
    assert "test_new.py:1" in result.output
    assert "test_old.py" not in result.output

    git(repo.root, "add", ".")
    git(repo.root, "commit", "-q", "-m", "second")
    assert cli(str(repo.root), "--changed", "--no-cache").exit_code == 0
    assert cli(str(repo.root), "--base", "HEAD~1", "--no-cache").exit_code == 1


def test_changed_errors(cli, repo) -> None:
    outside = cli(str(repo.root), "--changed")
    assert outside.exit_code == 2
    assert "git repository" in outside.output
    git(repo.root, "init", "-q")
    fresh = cli(str(repo.root), "--changed", "--no-cache")
    assert fresh.exit_code == 0
    bad_ref = cli(str(repo.root), "--base", "no-such-ref")
    assert bad_ref.exit_code == 2
    assert "no-such-ref" in bad_ref.output


def test_docs_catalogue_is_generated_from_the_rules() -> None:
    from netra_check.catalogue import catalogue_markdown

    docs = Path(__file__).resolve().parents[3] / "docs" / "check.md"
    assert docs.read_text(encoding="utf-8").endswith(catalogue_markdown())


def test_command_module_imports_cheaply() -> None:
    import sys

    probe = (
        "import sys, netra_check.command\n"
        "heavy = [m for m in ('netra_check.engine', 'netra_check.rules', 'rich')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == ""


def test_warm_run_skips_modules_it_does_not_need(
    tmp_path: Path, netra_env: IsolatedEnvironment
) -> None:
    # Start-up is most of a warm run: no OpenSSL bindings (hashlib), no TOML parser when
    # there is no TOML file, no shutil (argparse's help formatter imports it).
    import sys

    # Under `netra test --coverage`, coverage.py would start in the probe and import both.
    unmeasured = {k: v for k, v in netra_env.as_dict().items() if k != "COVERAGE_PROCESS_START"}

    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(
        "def test_x():\n    assert sorted([2, 1]) == [1, 2]\n"
    )
    probe = (
        "import sys\n"
        "from netra_check.command import main\n"
        "code = main(['tests', '--format', 'json', '-o', '/dev/null'])\n"
        "print(code, ','.join(m for m in ('hashlib', 'tomllib', 'shutil') if m in sys.modules))\n"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", probe],
            cwd=tmp_path,
            env=unmeasured,
            capture_output=True,
            text=True,
            check=True,
        )
        for _ in range(2)  # cold, then warm
    ]
    assert runs[1].stdout.split() == ["0"], runs[1].stdout


def test_module_entry_point(repo) -> None:
    import sys

    completed = subprocess.run(
        [sys.executable, "-m", "netra_check", str(repo.root), "--no-cache"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "OK: no errors." in completed.stdout


def baseline_paths(path: Path) -> list[str]:
    return sorted(e["path"] for e in json.loads(path.read_text(encoding="utf-8"))["findings"])


def test_scoped_baseline_run_leaves_other_paths_alone(cli, repo, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    repo.write("tests/unit/test_todo.py", PLACEHOLDER)
    repo.write("tests/other/test_later.py", PLACEHOLDER.replace("todo", "later"))
    assert cli(str(repo.root), "--baseline", str(baseline), "--no-cache").exit_code == 0
    both = ["tests/other/test_later.py", "tests/unit/test_todo.py"]
    assert baseline_paths(baseline) == both

    scoped = cli(str(repo.root / "tests/unit"), "--baseline", str(baseline), "--no-cache")
    assert scoped.exit_code == 0
    assert "0 fixed" in scoped.output
    assert "--update-baseline" not in scoped.output

    updated = cli(
        str(repo.root / "tests/unit"),
        "--baseline",
        str(baseline),
        "--update-baseline",
        "--no-cache",
    )
    assert updated.exit_code == 0
    assert baseline_paths(baseline) == both

    repo.write("tests/unit/test_todo.py", CLEAN.replace("test_ok", "test_done"))
    fixed = cli(str(repo.root / "tests/unit"), "--baseline", str(baseline), "--no-cache")
    assert "1 fixed" in fixed.output
    cli(
        str(repo.root / "tests/unit"),
        "--baseline",
        str(baseline),
        "--update-baseline",
        "--no-cache",
    )
    assert baseline_paths(baseline) == ["tests/other/test_later.py"]
    full = cli(str(repo.root), "--baseline", str(baseline), "--no-cache")
    assert full.exit_code == 0
    assert "0 fixed" in full.output


def test_changed_baseline_run_counts_only_changed_files(cli, repo, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    repo.write("tests/unit/test_todo.py", PLACEHOLDER)
    git(repo.root, "init", "-q")
    git(repo.root, "add", ".")
    git(repo.root, "commit", "-q", "-m", "init")
    assert cli(str(repo.root), "--baseline", str(baseline), "--no-cache").exit_code == 0
    repo.write("tests/unit/test_new.py", CLEAN.replace("test_ok", "test_new"))
    result = cli(str(repo.root), "--changed", "--baseline", str(baseline), "--no-cache")
    assert result.exit_code == 0
    assert "0 fixed" in result.output
    cli(str(repo.root), "--changed", "--baseline", str(baseline), "--update-baseline", "--no-cache")
    assert baseline_paths(baseline) == ["tests/unit/test_todo.py"]


def test_base_compares_with_the_merge_base(repo) -> None:
    from netra_check.changed import changed_files

    repo.write("tests/unit/test_shared.py", CLEAN)
    git(repo.root, "init", "-q", "-b", "main")
    git(repo.root, "add", ".")
    git(repo.root, "commit", "-q", "-m", "init")
    git(repo.root, "checkout", "-q", "-b", "feature")
    repo.write("tests/unit/test_feature.py", CLEAN.replace("test_ok", "test_feature"))
    git(repo.root, "add", ".")
    git(repo.root, "commit", "-q", "-m", "feature")
    git(repo.root, "checkout", "-q", "main")
    repo.write("tests/unit/test_shared.py", "import os\n\n" + CLEAN)
    git(repo.root, "commit", "-q", "-am", "main moves on")
    git(repo.root, "checkout", "-q", "feature")

    assert changed_files(repo.root, "main") == ["tests/unit/test_feature.py"]
    assert changed_files(repo.root, "HEAD") == []
    repo.write("tests/unit/test_wip.py", CLEAN.replace("test_ok", "test_wip"))
    assert changed_files(repo.root, "main") == [
        "tests/unit/test_feature.py",
        "tests/unit/test_wip.py",
    ]
    assert changed_files(repo.root, "HEAD") == ["tests/unit/test_wip.py"]


def test_non_table_tool_netra_exits_2(cli, repo) -> None:
    repo.write("pyproject.toml", "[tool]\nnetra = 3\n")
    result = cli(str(repo.root), "--no-cache")
    assert result.exit_code == 2
    assert "must be a table" in result.output


def test_a_foreign_repository_fails_only_on_rules_for_any_pytest_suite(cli, workspace) -> None:
    workspace.write("pyproject.toml", '[project]\nname = "foreign"\n')
    workspace.write(
        "tests/test_env.py",
        """
        import os
        import unittest

        class LoginTests(unittest.TestCase):
            def test_home(self):
                self.assertEqual(os.environ.get("HOME", "/"), os.environ.get("HOME", "/"))

        def test_todo():
            pass
        """,
    )
    result = cli(str(workspace.root), "--no-cache", "--format", "json")
    assert result.exit_code == 1
    rules = {f["rule"] for f in json.loads(result.stdout)["findings"]}
    assert rules == {"NC002"}  # no NC005 (base), NC007 (os.environ) or NC010 (events)
    workspace.write("pyproject.toml", '[project]\nname = "foreign"\n[tool.netra.check]\n')
    opted_in = cli(str(workspace.root), "--no-cache", "--format", "json")
    assert {f["rule"] for f in json.loads(opted_in.stdout)["findings"]} >= {
        "NC002",
        "NC005",
        "NC007",
    }


def test_the_console_script_leaves_what_the_run_made_to_the_exit(
    workspace, monkeypatch, capsys
) -> None:
    # The interpreter's last collection runs even with the collector off; what the run
    # leaves is frozen so that it does not walk every file's facts once more on exit.
    import gc
    import sys

    from netra_check.command import console

    workspace.write("tests/unit/test_a.py", "def test_a():\n    pass\n")
    monkeypatch.setattr(
        sys, "argv", ["netra-check", str(workspace.root), "--no-cache", "-f", "json"]
    )
    enabled = gc.isenabled()
    try:
        with pytest.raises(SystemExit) as exited:
            console()
        frozen = gc.get_freeze_count()
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()
    report = json.loads(capsys.readouterr().out)
    assert (exited.value.code, [f["rule"] for f in report["findings"]]) == (1, ["NC002"])
    assert frozen > 0
