"""A unittest suite runs with the same outcomes before and after `netra migrate --write`."""

from __future__ import annotations

import textwrap

import pytest

from netra_check.migrate.command import main

SUITE = """
import os
import unittest

from .helpers import EXPECTED

LOG = []


class Base(unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls):
        LOG.append("setUpClass")

    def setUp(self):
        os.environ["MIGRATED_PROBE"] = "set in setUp"
        self.addCleanup(LOG.append, "cleanup")

    def tearDown(self):
        del os.environ["MIGRATED_PROBE"]


class TestBehaviour(Base):
    def test_environment_reaches_code_under_test(self):
        self.assertEqual(os.environ["MIGRATED_PROBE"], "set in setUp")
        self.assertEqual(os.getenv("MIGRATED_PROBE"), EXPECTED)
        self.assertIn("MIGRATED_PROBE", os.environ)

    def test_subtests(self):
        for n in range(2):
            with self.subTest(n=n):
                self.assertLess(n, 2)

    @unittest.skip("skipped")
    def test_skipped(self):
        self.fail("ran")

    @unittest.expectedFailure
    def test_expected_failure(self):
        self.assertEqual(1, 2)

    def test_failing(self):
        self.assertEqual([1, 2], [1, 3])


class NamedOtherwiseTests(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.ready = True

    async def test_async(self):
        self.assertTrue(self.ready)


def test_hooks_ran_as_unittest_runs_them():
    assert LOG == ["setUpClass"] + ["cleanup"] * 4


if __name__ == "__main__":
    unittest.main()
"""


def test_a_migrated_suite_has_the_same_outcomes_and_no_unittest_base(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    package = pytester.mkpydir("suite")
    (package / "helpers.py").write_text('EXPECTED = "set in setUp"\n', encoding="utf-8")
    test_file = package / "test_suite.py"
    test_file.write_text(textwrap.dedent(SUITE), encoding="utf-8")
    # Subtests all pass here: on a failing one pytest 9.2 passes a unittest.TestCase's test
    # (only the subtest fails) but fails an SSot test too (tests/unit/test_ssot_base.py).
    expected = {"passed": 4, "failed": 1, "skipped": 1, "xfailed": 1}

    before = pytester.runpytest("-p", "no:randomly").parseoutcomes()
    monkeypatch.chdir(pytester.path)
    assert main(["suite", "--write"]) == 0
    after = pytester.runpytest("-p", "no:randomly").parseoutcomes()

    migrated = test_file.read_text(encoding="utf-8")
    assert "(unittest.TestCase)" not in migrated
    assert "(unittest.IsolatedAsyncioTestCase)" not in migrated
    assert "os.environ" not in migrated
    assert "from suite.helpers import EXPECTED" in migrated
    assert "__main__" not in migrated
    assert {k: before.get(k) for k in expected} == expected
    assert {k: after.get(k) for k in expected} == expected
    assert before == after, (before, after)
