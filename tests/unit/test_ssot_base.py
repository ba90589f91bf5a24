"""SSotBaseTestCase and SSotAsyncTestCase, exercised by running small suites with pytester."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import pytest

from netra.env import process_environment

ENV_ISOLATION = """
from netra.testing.base import SSotBaseTestCase

class TestEnvironment(SSotBaseTestCase):
    def test_1_sets_a_variable(self):
        self.set_env("NETRA_SSOT_PROBE", "leaked?")
        self.env.push({"NETRA_SSOT_PUSHED": "never popped"})
        assert self.get_env("NETRA_SSOT_PROBE") == "leaked?"

    def test_2_does_not_see_it(self):
        assert self.get_env("NETRA_SSOT_PROBE") is None
        assert self.get_env("NETRA_SSOT_PUSHED") is None

class TestAnotherClass(SSotBaseTestCase):
    def test_3_does_not_see_it_either(self, netra_env):
        assert netra_env.get("NETRA_SSOT_PROBE") is None
"""

LIFECYCLE = """
import pytest
from netra.testing.base import SSotBaseTestCase

LOG = []

class TestLifecycle(SSotBaseTestCase):
    @classmethod
    def setUpClass(cls):
        LOG.append("setUpClass")

    @classmethod
    def tearDownClass(cls):
        LOG.append("tearDownClass")

    def setUp(self):
        LOG.append("setUp")

    def tearDown(self):
        LOG.append("tearDown")

    def test_a_fails_but_cleans_up(self):
        self.add_cleanup(LOG.append, "cleanup 1")
        self.addCleanup(LOG.append, "cleanup 2")
        assert False, "on purpose"

    @pytest.mark.parametrize("n", [1, 2])
    def test_b_parametrised(self, n, tmp_path):
        assert self.temp_dir == tmp_path
        assert self.make_temp_dir("sub").is_dir()
        LOG.append(f"test b{n}")

def test_z_order():
    assert LOG == [
        "setUpClass",
        "setUp", "tearDown", "cleanup 2", "cleanup 1",
        "setUp", "test b1", "tearDown",
        "setUp", "test b2", "tearDown",
        "tearDownClass",
    ]
"""

UNITTEST_ASSERTIONS = """
from netra.testing.base import SSotBaseTestCase

class TestMigratedSuite(SSotBaseTestCase):
    def test_passing_helpers(self):
        self.assertEqual([1, 2], [1, 2])
        self.assertIn("a", "abc")
        self.assertIsNone(None)
        self.assertAlmostEqual(0.1 + 0.2, 0.3)
        self.assertCountEqual([1, 2, 3], [3, 2, 1])
        with self.assertRaises(ZeroDivisionError):
            1 / 0
        with self.assertRaisesRegex(ValueError, "bad"):
            raise ValueError("bad input")

    def test_failing_dict_comparison(self):
        self.assertDictEqual({"seq": 1}, {"seq": 2})

    def test_skip(self):
        self.skipTest("not today")

    def test_unknown_attribute(self):
        self.assertNotARealHelper(1)
"""

ASSERTIONS_IN_A_FIXTURE = """
import pytest
from netra.testing.base import SSotBaseTestCase

class TestFixtureAssertions(SSotBaseTestCase):
    @pytest.fixture(scope="class")
    def checked(self):
        self.assertEqual(1 + 1, 2)
        return hasattr(self, "assertTrue") and not hasattr(self, "assertNoSuchThing")

    def test_uses_it(self, checked):
        assert checked is True
"""

ASYNC_CASE = """
import asyncio
from netra.testing.base import SSotAsyncTestCase

LOG = []

class TestAsync(SSotAsyncTestCase):
    def setUp(self):
        LOG.append("setUp")

    async def asyncSetUp(self):
        self.loop = asyncio.get_running_loop()
        LOG.append("asyncSetUp")

    async def asyncTearDown(self):
        LOG.append("asyncTearDown")

    def tearDown(self):
        LOG.append("tearDown")

    async def _close(self, name):
        assert asyncio.get_running_loop() is self.loop
        LOG.append(f"closed {name}")

    async def test_runs_on_the_same_loop_with_fixtures(self, tmp_path):
        self.add_async_cleanup(self._close, "first")
        self.addCleanup(LOG.append, "sync cleanup")
        self.addAsyncCleanup(self._close, "second")
        assert asyncio.get_running_loop() is self.loop
        assert tmp_path.is_dir()
        self.assertEqual(await asyncio.sleep(0, "done"), "done")

def test_order():
    # unittest.IsolatedAsyncioTestCase's: one stack of cleanups, after tearDown.
    assert LOG == [
        "setUp", "asyncSetUp", "asyncTearDown", "tearDown",
        "closed second", "sync cleanup", "closed first",
    ]
"""

SAME_AS_UNITTEST = """
import asyncio
import unittest

from netra.testing.base import SSotAsyncTestCase

LOGS = {}
FAILURES = ("", "setUp", "asyncSetUp", "test", "asyncTearDown", "tearDown", "cleanup")


def loop_state():
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return "no loop running"
    return "loop running"


class Hooks:
    FAIL = ""
    KIND = ""

    def log(self, what):
        LOGS.setdefault((self.KIND, self.FAIL), []).append(what)

    def boom(self, where):
        if self.FAIL == where:
            raise RuntimeError(where)

    def setUp(self):
        self.log("setUp: " + loop_state())
        # unittest allows this: the test's loop is current, and not running yet
        asyncio.get_event_loop().run_until_complete(asyncio.sleep(0))
        self.addCleanup(self.log, "cleanup from setUp")
        self.addAsyncCleanup(self.alog, "async cleanup from setUp")
        self.boom("setUp")

    async def alog(self, what):
        self.log(what + ": " + loop_state())

    async def asyncSetUp(self):
        self.log("asyncSetUp")
        self.addAsyncCleanup(self.alog, "async cleanup from asyncSetUp")
        self.boom("asyncSetUp")

    async def test_it(self):
        self.addCleanup(lambda: self.log("sync cleanup: " + loop_state()))
        self.addCleanup(self.boom, "cleanup")
        self.addAsyncCleanup(self.alog, "async cleanup")
        self.log("test")
        self.boom("test")

    async def asyncTearDown(self):
        self.log("asyncTearDown")
        self.boom("asyncTearDown")

    def tearDown(self):
        self.log("tearDown: " + loop_state())
        self.boom("tearDown")


for fail in FAILURES:
    for kind, base in (("unittest", unittest.IsolatedAsyncioTestCase), ("ssot", SSotAsyncTestCase)):
        name = f"Test_{kind}_{fail or 'none'}"
        globals()[name] = type(name, (Hooks, base), {"FAIL": fail, "KIND": kind})


def test_z_same_as_unittest():
    for fail in FAILURES:
        assert LOGS[("ssot", fail)] == LOGS[("unittest", fail)], fail
"""

METRICS = """
from netra.testing.base import SSotBaseTestCase

class TestMetrics(SSotBaseTestCase):
    def test_records(self):
        self.record_metric("rows", 3)
        self.record_metric("latency_ms", 1.5)
        assert self.metrics == {"rows": 3, "latency_ms": 1.5}

    def test_rejects_non_numbers(self):
        try:
            self.record_metric("flag", True)
        except TypeError as exc:
            assert "must be a number" in str(exc)
        else:
            raise AssertionError("a bool was accepted as a metric")
"""


@pytest.fixture
def pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    """pytester with the ini settings this project's own runs have."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester


def test_a_variable_set_in_one_test_is_gone_in_the_next(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ssot_inner_env=ENV_ISOLATION)

    result = pytester.runpytest()

    result.assert_outcomes(passed=3)
    assert process_environment().get("NETRA_SSOT_PROBE") is None


def test_hooks_and_cleanups_run_in_unittest_order_even_after_a_failure(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_ssot_inner_lifecycle=LIFECYCLE)

    result = pytester.runpytest()

    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*on purpose*"])


def test_unittest_assertions_work_and_explain_failures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ssot_inner_migrated=UNITTEST_ASSERTIONS)

    result = pytester.runpytest()

    result.assert_outcomes(passed=1, failed=2, skipped=1)
    result.stdout.fnmatch_lines(["*{'seq': 1} != {'seq': 2}*", "*assertNotARealHelper*"])


def test_unittest_assertions_work_in_a_class_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ssot_inner_fixture_asserts=ASSERTIONS_IN_A_FIXTURE)

    result = pytester.runpytest()

    result.assert_outcomes(passed=1)


def test_async_case_runs_hooks_and_cleanups_on_the_test_loop(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ssot_inner_async=ASYNC_CASE)

    result = pytester.runpytest()

    result.assert_outcomes(passed=2)


def test_async_hooks_and_cleanups_run_as_under_isolated_asyncio_test_case(
    pytester: pytest.Pytester,
) -> None:
    # The same hooks under unittest.IsolatedAsyncioTestCase and SSotAsyncTestCase, each
    # step failing in turn: the same steps run, in the same order, with the loop running
    # only for the async ones.
    pytester.makepyfile(test_ssot_inner_same_as_unittest=SAME_AS_UNITTEST)

    result = pytester.runpytest("-p", "no:randomly", "-v")

    result.stdout.fnmatch_lines(["*test_z_same_as_unittest PASSED*"])


def test_metrics_land_in_the_junit_xml(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ssot_inner_metrics=METRICS)

    result = pytester.runpytest("--junitxml=junit.xml")

    result.assert_outcomes(passed=2)
    root = ElementTree.parse(pytester.path / "junit.xml").getroot()
    properties = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert properties == {"metric:rows": "3", "metric:latency_ms": "1.5"}


UNITTEST_FEATURES = """
import unittest
from netra.testing.base import SSotBaseTestCase

LOG = []

class TestSubtests(SSotBaseTestCase):
    def test_one_subtest_fails_the_rest_run(self):
        for n in range(4):
            with self.subTest("parity", n=n):
                LOG.append(n)
                self.assertEqual(n % 2, 0)

class TestDiffAttributes(SSotBaseTestCase):
    maxDiff = 10

    def test_long_diff_is_cut(self):
        self.assertEqual("a" * 50, "b" * 50)

    def test_long_message_off_keeps_only_mine(self):
        self.longMessage = False
        self.assertEqual(1, 2, "mine alone")

    def test_failure_exception_is_the_tests(self):
        with self.assertRaises(self.failureException):
            self.fail("expected")

class TestDecorators(SSotBaseTestCase):
    @unittest.skip("skipped method")
    def test_skip(self):
        LOG.append("ran a skipped test")

    @unittest.skipIf(True, "condition true")
    def test_skip_if(self):
        LOG.append("ran a skipIf test")

    @unittest.skipUnless(True, "runs")
    def test_skip_unless_runs(self):
        LOG.append("skipUnless ran")

    @unittest.expectedFailure
    def test_expected_failure(self):
        self.assertEqual(1, 2)

    @unittest.expectedFailure
    def test_unexpected_success(self):
        self.assertEqual(1, 1)

@unittest.skip("whole class")
class TestSkippedClass(SSotBaseTestCase):
    @classmethod
    def setUpClass(cls):
        LOG.append("setUpClass of a skipped class")

    def test_never_runs(self):
        LOG.append("ran in a skipped class")

class TestClassCleanups(SSotBaseTestCase):
    @classmethod
    def setUpClass(cls):
        cls.addClassCleanup(LOG.append, "class cleanup")

    @classmethod
    def tearDownClass(cls):
        LOG.append("tearDownClass")

    def test_id(self):
        self.assertEqual(self.id(), f"{__name__}.TestClassCleanups.test_id")
        self.assertEqual(self._testMethodName, "test_id")

def test_z_log():
    assert LOG == [0, 1, 2, 3, "skipUnless ran", "tearDownClass", "class cleanup"]
"""


def test_unittest_subtests_attributes_and_decorators_work_under_pytest(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_ssot_inner_unittest_features=UNITTEST_FEATURES)

    result = pytester.runpytest("-p", "no:randomly")

    # failed: two subtests and their test, the cut diff, longMessage, the unexpected success
    result.assert_outcomes(passed=4, failed=6, skipped=3, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "*fails_the_rest_run ?parity? (n=1)*",
            "*fails_the_rest_run ?parity? (n=3)*",
            "*Diff is * characters long. Set self.maxDiff to None to see it.*",
            "*AssertionError: mine alone",
            "*XPASS(strict)*",
        ],
    )


EXPECTED_FAILURE_CLASS = """
import unittest
from netra.testing.base import SSotBaseTestCase

@unittest.expectedFailure
class TestKnownBroken(SSotBaseTestCase):
    def test_fails(self):
        self.assertEqual(1, 2)

    def test_passes(self):
        self.assertEqual(1, 1)
"""


def test_expected_failure_on_the_class_applies_to_each_of_its_tests(
    pytester: pytest.Pytester,
) -> None:
    # unittest reads __unittest_expecting_failure__ on the test case as well as on the
    # method, so `@expectedFailure` on a class marks every test of it.
    pytester.makepyfile(test_ssot_inner_expected_failure_class=EXPECTED_FAILURE_CLASS)

    result = pytester.runpytest("-p", "no:randomly")

    result.assert_outcomes(xfailed=1, failed=1)
    result.stdout.fnmatch_lines(["*XPASS(strict)*"])
