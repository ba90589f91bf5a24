"""`--netra-real-services`: a missing service fails the tests that need it instead of skipping."""

from __future__ import annotations

import sys

import pytest

NEEDS_POSTGRES = """
def test_needs_postgres(postgres):
    assert postgres.url
"""


@pytest.fixture
def no_postgres(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester project on a machine with no way at all to get PostgreSQL."""
    monkeypatch.setitem(sys.modules, "pgserver", None)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("NETRA_TEST_DATABASE_URL", raising=False)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_plugin_inner_needs_postgres=NEEDS_POSTGRES)
    return pytester


def test_without_the_option_the_test_is_skipped_with_what_to_install(
    no_postgres: pytest.Pytester,
) -> None:
    result = no_postgres.runpytest("-rs")

    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*PostgreSQL is needed*pip install pgserver*"])


def test_with_the_option_the_test_errors_and_says_why(no_postgres: pytest.Pytester) -> None:
    result = no_postgres.runpytest("--netra-real-services")

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*real services are required: PostgreSQL is needed*"])
