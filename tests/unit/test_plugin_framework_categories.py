"""Categories follow the innermost folder, and a unit-only xdist run starts no services."""

from __future__ import annotations

import pytest

NO_SERVICES_HANDED_DOWN = """
import pytest

@pytest.mark.parametrize("n", range(2))
def test_no_service_urls(n, netra_env):
    assert netra_env.get("NETRA_TEST_DATABASE_URL") is None
    assert netra_env.get("NETRA_TEST_REDIS_URL") is None
"""


INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


def test_the_innermost_category_folder_is_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    # A checkout inside a folder that happens to be called `unit`.
    tests = pytester.mkpydir("unit") / "project" / "tests" / "e2e"
    tests.mkdir(parents=True)
    (tests / "test_page.py").write_text("def test_page():\n    pass\n")

    pytester.runpytest("-m", "e2e").assert_outcomes(passed=1)
    pytester.runpytest("-m", "unit").assert_outcomes(deselected=1)


def test_a_unit_only_xdist_run_hands_no_services_to_its_workers(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NETRA_TEST_DATABASE_URL", "NETRA_TEST_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)  # as when nobody started any
    pytester.makeini(INI)
    unit = pytester.mkdir("tests") / "unit"
    unit.mkdir()
    (unit / "test_no_services.py").write_text(NO_SERVICES_HANDED_DOWN)

    result = pytester.runpytest_subprocess("-n", "2", "tests/unit")

    result.assert_outcomes(passed=2)
