"""The engine: discovery, roles, suppression, cache, parallel runs, report scope."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from netra_check import engine
from netra_check.config import CheckConfig, load_config
from netra_check.discovery import Classifier, discover
from netra_check.engine import run_check

PLACEHOLDER = "def test_x():\n    pass\n"


def test_roles_follow_the_design_layout() -> None:
    classifier = Classifier(CheckConfig())
    unit = classifier.role("tests/unit/test_a.py")
    assert (unit.is_test_file, unit.category) == (True, "unit")
    helper = classifier.role("tests/integration/helpers.py")
    assert (helper.is_test_code, helper.is_test_file, helper.category) == (
        True,
        False,
        "integration",
    )
    support = classifier.role("src/netra/testing/base.py")
    assert (support.is_support, support.is_test_code) == (True, False)
    assert classifier.role("scripts/dev.py").is_script
    assert not classifier.role("src/netra/app.py").needs_parse


def test_discovery_skips_junk_excludes_and_nested_projects(workspace) -> None:
    workspace.write("tests/unit/test_a.py", PLACEHOLDER)
    workspace.write(".venv/lib/tests/test_vendored.py", PLACEHOLDER)
    workspace.write("node_modules/x/tests/test_js.py", PLACEHOLDER)
    workspace.write("tests/fixtures/data/test_sample.py", PLACEHOLDER)
    workspace.write("tests/fixtures/corpus/pyproject.toml", "[tool.netra.check]\n")
    workspace.write("tests/fixtures/corpus/tests/test_bad.py", PLACEHOLDER)
    workspace.write("pyproject.toml", '[tool.netra.check]\nexclude = ["tests/fixtures/data"]\n')
    sources, _ = discover(workspace.root, load_config(workspace.root))
    assert [s.rel for s in sources] == ["tests/unit/test_a.py"]


def test_suppression_comments(workspace) -> None:
    workspace.write(
        "tests/unit/test_a.py",
        """
        import os

        def test_a():  # netra: ignore[NC002]
            pass

        def test_b():  # netra: ignore[nc003, NC002]
            pass

        def test_c():  # netra: ignore[NC003]
            pass

        def test_d():
            assert os.environ["A"]  # netra: ignore
        """,
    )
    result = workspace.scan()
    assert [(f.rule_id, f.line) for f in result.findings] == [("NC002", 9)]
    assert result.suppressed == 3


def test_multi_line_signature_suppression(workspace) -> None:
    workspace.write(
        "tests/unit/test_a.py",
        """
        def test_a(
            client,
        ):  # netra: ignore[NC003]
            client.ping()
        """,
    )
    assert workspace.findings() == []


def test_only_limits_reporting_not_analysis(workspace) -> None:
    workspace.write("tests/helpers.py", "def check(x):\n    assert x\n")
    workspace.write("tests/unit/test_a.py", "def test_a():\n    check(1)\n")
    workspace.write("tests/unit/test_b.py", PLACEHOLDER)
    assert workspace.findings(only=["tests/unit/test_a.py"]) == []
    assert workspace.lines("NC002", only=["tests/unit"]) == [("tests/unit/test_b.py", 1)]


def test_severity_off_and_warning(workspace) -> None:
    workspace.write(
        "pyproject.toml",
        '[tool.netra.check]\nseverity = { NC002 = "off", NC007 = "warning" }\n',
    )
    workspace.write("tests/unit/test_a.py", "import os\n" + PLACEHOLDER)
    workspace.write("tests/unit/test_b.py", "import os\nX = os.environ\n")
    result = workspace.scan()
    assert [(f.rule_id, f.severity) for f in result.findings] == [("NC007", "warning")]
    assert "NC002" not in {m.key for m in result.metrics}


def test_warm_run_reads_only_changed_files(workspace, tmp_path: Path) -> None:
    workspace.write("tests/unit/test_a.py", PLACEHOLDER)
    workspace.write("tests/unit/test_b.py", "def test_b():\n    assert 1 + 1 == 2\n")
    config = replace(load_config(workspace.root), cache_dir=str(tmp_path / "cache"))
    cold = run_check(workspace.root, config, jobs=1)
    assert cold.analysed == 2
    warm = run_check(workspace.root, config, jobs=1)
    assert (warm.analysed, warm.findings) == (0, cold.findings)
    workspace.write("tests/unit/test_b.py", PLACEHOLDER.replace("test_x", "test_b"))
    changed = run_check(workspace.root, config, jobs=1)
    assert changed.analysed == 1
    assert [f.path for f in changed.findings] == ["tests/unit/test_a.py", "tests/unit/test_b.py"]


def test_touched_but_unchanged_file_is_not_reanalysed(workspace, tmp_path: Path) -> None:
    path = workspace.write("tests/unit/test_a.py", PLACEHOLDER)
    config = replace(load_config(workspace.root), cache_dir=str(tmp_path / "cache"))
    run_check(workspace.root, config, jobs=1)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert run_check(workspace.root, config, jobs=1).analysed == 0


def test_config_change_invalidates_the_cache(workspace, tmp_path: Path) -> None:
    workspace.write("tests/unit/test_a.py", PLACEHOLDER)
    config = replace(load_config(workspace.root), cache_dir=str(tmp_path / "cache"))
    run_check(workspace.root, config, jobs=1)
    other = replace(config, canonical_bases=("Other",))
    assert run_check(workspace.root, other, jobs=1).analysed == 1


def test_corrupt_cache_is_ignored(workspace, tmp_path: Path) -> None:
    workspace.write("tests/unit/test_a.py", PLACEHOLDER)
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    (cache_dir / "results.pickle").write_bytes(b"not a pickle")
    config = replace(load_config(workspace.root), cache_dir=str(cache_dir))
    result = run_check(workspace.root, config, jobs=1)
    assert [f.rule_id for f in result.findings] == ["NC002"]


def test_parallel_and_serial_runs_agree(workspace, monkeypatch) -> None:
    for index in range(40):
        body = PLACEHOLDER if index % 3 == 0 else "def test_x():\n    assert run() == 1\n"
        workspace.write(f"tests/unit/test_{index:02}.py", body.replace("test_x", f"test_{index}"))
    serial = workspace.scan(jobs=1)
    monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 0)
    parallel = workspace.scan(jobs=2)
    assert parallel.findings == serial.findings
    assert len(serial.findings) == 14


def test_deleted_files_leave_the_cache(workspace, tmp_path: Path) -> None:
    path = workspace.write("tests/unit/test_a.py", PLACEHOLDER)
    config = replace(load_config(workspace.root), cache_dir=str(tmp_path / "cache"))
    assert len(run_check(workspace.root, config, jobs=1).findings) == 1
    path.unlink()
    assert run_check(workspace.root, config, jobs=1).findings == []


def test_planted_cache_cannot_run_code(workspace, tmp_path: Path, capsys) -> None:
    import pickle

    class Exploit:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("this must never run",))

    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    (cache_dir / "results.pickle").write_bytes(pickle.dumps({"key": "x", "entries": Exploit()}))
    workspace.write("tests/unit/test_a.py", PLACEHOLDER)
    config = replace(load_config(workspace.root), cache_dir=str(cache_dir))
    result = run_check(workspace.root, config, jobs=1)
    assert (result.analysed, [f.rule_id for f in result.findings]) == (1, ["NC002"])
    assert "this must never run" not in capsys.readouterr().out


def test_concurrent_runs_share_the_cache_safely(workspace, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    for index in range(20):
        workspace.write(f"tests/unit/test_{index}.py", PLACEHOLDER.replace("x", str(index)))
    config = replace(load_config(workspace.root), cache_dir=str(tmp_path / "cache"))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: run_check(workspace.root, config, jobs=1), range(4)))
    assert {len(r.findings) for r in results} == {20}
    assert run_check(workspace.root, config, jobs=1).analysed == 0
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.suffix == ".tmp"] == []


def test_cache_in_an_existing_folder_does_not_ignore_it(workspace) -> None:
    workspace.write("tests/unit/test_a.py", PLACEHOLDER)
    workspace.write("tests/notes.txt", "kept in git\n")
    config = replace(load_config(workspace.root), cache_dir="tests")
    run_check(workspace.root, config, jobs=1)
    assert (workspace.root / "tests" / "results.pickle").is_file()
    assert not (workspace.root / "tests" / ".gitignore").exists()


def test_cache_folder_it_creates_ignores_itself(workspace) -> None:
    workspace.write("tests/unit/test_a.py", PLACEHOLDER)
    run_check(workspace.root, load_config(workspace.root), jobs=1)
    gitignore = workspace.root / ".netra" / "check-cache" / ".gitignore"
    assert gitignore.read_text(encoding="utf-8") == "*\n"
    assert not (workspace.root / ".netra" / ".gitignore").exists()


def test_testing_modules_are_support_code_by_default() -> None:
    classifier = Classifier(CheckConfig())
    for rel in ("src/app/testing.py", "testutils.py"):
        role = classifier.role(rel)
        assert (role.is_support, role.is_test_code) == (True, False), rel
    # test_utils.py matches pytest's default test_*.py, so it is test code anyway.
    assert classifier.role("src/app/test_utils.py").is_support
    custom = Classifier(CheckConfig(test_file_patterns=("check_*.py",)))
    assert custom.role("src/app/test_utils.py").is_support
    assert not classifier.role("src/app/testing_tools.py").needs_parse


def test_helpers_in_a_testing_module_are_followed(workspace) -> None:
    workspace.write("src/app/testing.py", "def check_reply(reply):\n    assert reply.ok\n")
    workspace.write(
        "tests/unit/test_reply.py",
        "def test_checked():\n    check_reply(send())\n\ndef test_unchecked():\n    send()\n",
    )
    assert workspace.lines("NC003") == [("tests/unit/test_reply.py", 4)]
