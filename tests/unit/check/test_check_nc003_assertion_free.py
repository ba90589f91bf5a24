"""NC003: assertion-free tests, with helpers followed across the repository."""

from __future__ import annotations

import pytest

ASSERTING = {
    "assert": "def test_x():\n    assert compute() == 1\n",
    "raises": (
        "import pytest\ndef test_x():\n    with pytest.raises(ValueError):\n        compute()\n"
    ),
    "warns": (
        "import pytest\ndef test_x():\n    with pytest.warns(UserWarning):\n        compute()\n"
    ),
    "unittest": (
        "class TestX(Base):\n    def test_x(self):\n        self.assertEqual(compute(), 1)\n"
    ),
    "mock-assert": "def test_x(sink):\n    compute(sink)\n    sink.send.assert_called_once()\n",
    "assert-helper-prefix": "def test_x():\n    assert_frame_equal(compute(), 1)\n",
    "raise-assertion-error": (
        "def test_x():\n    if compute() != 1:\n        raise AssertionError('bad')\n"
    ),
    "pytest-fail": (
        "import pytest\ndef test_x():\n    if compute() != 1:\n        pytest.fail('bad')\n"
    ),
    "nested-in-expression": (
        "def test_x():\n    results = [check_that(compute()) for _ in range(2)]\n"
        "    print([assert_ok(r) for r in results])\n"
    ),
    "awaited-assert-helper": "async def test_x(client):\n    await client.assert_ready()\n",
    "assert-in-loop": "def test_x():\n    for i in range(3):\n        assert compute(i)\n",
}


@pytest.mark.parametrize("source", ASSERTING.values(), ids=ASSERTING.keys())
def test_direct_assertions_count(workspace, source: str) -> None:
    workspace.write("tests/unit/test_sample.py", source)
    assert workspace.findings("NC003") == []


def test_no_assertion_is_reported_on_the_def_line(workspace) -> None:
    workspace.write(
        "tests/unit/test_sample.py",
        """
        import pytest

        @pytest.mark.parametrize("n", [1, 2])
        def test_x(n):
            compute(n)
        """,
    )
    assert workspace.lines("NC003") == [("tests/unit/test_sample.py", 4)]


def test_assert_on_constant_does_not_count_in_a_real_body(workspace) -> None:
    workspace.write("tests/unit/test_sample.py", "def test_x():\n    compute()\n    assert True\n")
    assert workspace.lines("NC003") == [("tests/unit/test_sample.py", 1)]


def test_helpers_are_followed_transitively_across_files(workspace) -> None:
    workspace.write(
        "src/app/testing/checks.py",
        """
        def expect_equal(a, b):
            assert a == b

        def check_reply(reply):
            expect_equal(reply, "ok")
        """,
    )
    workspace.write(
        "tests/helpers.py",
        """
        def verify_flow(reply):
            check_reply(reply)

        def run_only(reply):
            return reply
        """,
    )
    workspace.write(
        "tests/unit/test_flow.py",
        """
        def test_followed():
            verify_flow(compute())

        def test_not_followed():
            run_only(compute())
        """,
    )
    assert workspace.lines("NC003") == [("tests/unit/test_flow.py", 4)]


def test_fixture_that_asserts_counts(workspace) -> None:
    workspace.write(
        "tests/conftest.py",
        """
        import pytest

        @pytest.fixture
        def ready_server():
            server = start()
            assert server.ready
            return server

        @pytest.fixture(name="checked")
        def _checked(ready_server):
            return ready_server

        @pytest.fixture
        def plain():
            return start()
        """,
    )
    workspace.write(
        "tests/unit/test_server.py",
        """
        def test_a(ready_server):
            ready_server.ping()

        def test_b(checked):
            checked.ping()

        def test_c(plain):
            plain.ping()

        import pytest

        @pytest.mark.usefixtures("ready_server")
        def test_d():
            ping()
        """,
    )
    assert workspace.lines("NC003") == [("tests/unit/test_server.py", 7)]


def test_production_code_asserts_do_not_count(workspace) -> None:
    workspace.write("src/app/service.py", "def process(x):\n    assert x\n    return x\n")
    workspace.write("tests/unit/test_service.py", "def test_x():\n    process(1)\n")
    assert workspace.lines("NC003") == [("tests/unit/test_service.py", 1)]


def test_configured_assertion_helpers(workspace) -> None:
    workspace.write(
        "pyproject.toml",
        """
        [tool.netra.check]
        assertion_helpers = ["expect", "snapshot.match*"]
        """,
    )
    workspace.write(
        "tests/unit/test_custom.py",
        """
        def test_expect(page):
            expect(page.title())

        def test_dotted(snapshot):
            snapshot.match_json(compute())

        def test_neither(page):
            page.goto("/")
        """,
    )
    assert workspace.lines("NC003") == [("tests/unit/test_custom.py", 7)]


def test_helper_calling_a_configured_helper_asserts(workspace) -> None:
    workspace.write("pyproject.toml", '[tool.netra.check]\nassertion-helpers = ["expect"]\n')
    workspace.write(
        "tests/unit/test_custom.py",
        """
        def see_title(page):
            expect(page.title())

        def test_it(page):
            see_title(page)
        """,
    )
    assert workspace.findings("NC003") == []


CANNOT_FAIL = {
    "same-sides": "def test_x():\n    x = compute()\n    assert x == x\n",
    "or-true": "def test_x():\n    compute()\n    assert compute() or True\n",
    "unittest-constant": (
        "class TestX:\n    def test_x(self):\n        compute()\n        self.assertTrue(True)\n"
    ),
    "unittest-same-args": (
        "class TestX:\n    def test_x(self):\n        x = compute()\n"
        "        self.assertEqual(x, x)\n"
    ),
    "bare-raises": ("import pytest\ndef test_x():\n    pytest.raises(ValueError)\n    compute()\n"),
    "bare-raises-match": (
        "import pytest\ndef test_x():\n    pytest.raises(ValueError, match='bad')\n    compute()\n"
    ),
    "bare-assert-raises": (
        "class TestX:\n    def test_x(self):\n        self.assertRaises(ValueError)\n"
        "        compute()\n"
    ),
    "if-false": "def test_x():\n    compute()\n    if False:\n        assert compute() == 1\n",
    "after-return": "def test_x():\n    compute()\n    return\n    assert compute() == 1\n",
    "after-return-in-loop": (
        "def test_x():\n    for i in range(3):\n        compute(i)\n        continue\n"
        "        assert compute(i)\n"
    ),
    "nested-def-never-called": (
        "def test_x():\n    result = compute()\n\n    def check():\n        assert result == 1\n"
    ),
}

CAN_FAIL = {
    "raises-callable": "import pytest\ndef test_x():\n    pytest.raises(ValueError, compute, 1)\n",
    "raises-as-context": (
        "import pytest\ndef test_x():\n    with pytest.raises(ValueError):\n        compute()\n"
    ),
    "if-true-else-dead": (
        "def test_x():\n    if True:\n        assert compute() == 1\n    else:\n        pass\n"
    ),
    "if-runtime": "def test_x():\n    if compute():\n        assert compute() == 1\n",
    "before-return": "def test_x():\n    assert compute() == 1\n    return\n",
    "return-in-branch": (
        "def test_x():\n    if compute() is None:\n        return\n    assert compute() == 1\n"
    ),
    "nested-def-called": (
        "def test_x():\n    result = compute()\n\n    def check():\n        assert result == 1\n\n"
        "    check()\n"
    ),
    "nested-def-passed": (
        "def test_x():\n    def check(r):\n        assert r == 1\n\n    run_with(check)\n"
    ),
    "unittest-real": (
        "class TestX:\n    def test_x(self):\n        self.assertEqual(compute(), compute())\n"
    ),
}


@pytest.mark.parametrize("source", CANNOT_FAIL.values(), ids=CANNOT_FAIL.keys())
def test_assertions_that_cannot_fail_do_not_count(workspace, source: str) -> None:
    workspace.write("tests/unit/test_sample.py", source)
    def_line = source.count("\n", 0, source.index("def test_x")) + 1
    assert workspace.lines("NC003") == [("tests/unit/test_sample.py", def_line)]
    assert workspace.findings("NC002") == []


@pytest.mark.parametrize("source", CAN_FAIL.values(), ids=CAN_FAIL.keys())
def test_assertions_that_can_fail_count(workspace, source: str) -> None:
    workspace.write("tests/unit/test_sample.py", source)
    assert workspace.findings("NC003") == []
    assert workspace.findings("NC002") == []


def test_repository_helper_named_assert_is_judged_by_its_body(workspace) -> None:
    workspace.write(
        "tests/helpers.py",
        """
        import logging

        def assert_ready(server):
            logging.info("server %s is up", server)

        def assert_ok(reply):
            assert reply.ok

        def assert_all(replies):
            for reply in replies:
                assert_ok(reply)

        def assert_logged(server):
            assert_ready(server)
        """,
    )
    workspace.write(
        "tests/unit/test_helpers.py",
        """
        def test_only_logs(server):
            assert_ready(server)

        def test_real_helper(server):
            assert_ok(server.get())

        def test_transitive_helper(server):
            assert_all(server.get_all())

        def test_helper_calling_fake_assert(server):
            assert_logged(server)

        def test_library_helper():
            assert_frame_equal(compute(), 1)
        """,
    )
    assert workspace.lines("NC003") == [
        ("tests/unit/test_helpers.py", 1),
        ("tests/unit/test_helpers.py", 10),
    ]


def test_repository_wrapper_of_a_library_assertion_counts(workspace) -> None:
    workspace.write(
        "tests/helpers.py",
        """
        import hamcrest

        def assert_that(actual, matcher):
            hamcrest.assert_that(actual, matcher)
        """,
    )
    workspace.write(
        "tests/unit/test_wrapped.py",
        "def test_x():\n    assert_that(compute(), equal_to(1))\n",
    )
    assert workspace.findings("NC003") == []


def test_an_imported_helper_is_judged_by_its_own_module(workspace) -> None:
    workspace.write("tests/checks.py", "def check_reply(reply):\n    assert reply['ok']\n")
    workspace.write("tests/logs.py", "def check_reply(reply):\n    print('reply', reply)\n")
    workspace.write(
        "tests/test_replies.py",
        """
        from tests.checks import check_reply as verified
        from tests.logs import check_reply

        def test_logged_only():
            check_reply(send())

        def test_verified():
            verified(send())
        """,
    )
    assert workspace.lines("NC003") == [("tests/test_replies.py", 4)]


def test_a_module_attribute_is_followed_to_that_modules_function(workspace) -> None:
    workspace.write("tests/checks.py", "def check_reply(reply):\n    assert reply['ok']\n")
    workspace.write("tests/logs.py", "def check_reply(reply):\n    print('reply', reply)\n")
    workspace.write(
        "tests/test_replies.py",
        """
        import tests.logs
        from tests import checks, logs

        def test_logged_only():
            logs.check_reply(send())

        def test_logged_through_the_package():
            tests.logs.check_reply(send())

        def test_verified():
            checks.check_reply(send())
        """,
    )
    assert workspace.lines("NC003") == [
        ("tests/test_replies.py", 4),
        ("tests/test_replies.py", 7),
    ]


def test_a_module_function_named_like_a_list_method_is_followed(workspace) -> None:
    # `session.pop()` on an unknown object is not followed, but `checks.count()` names a
    # function of a scanned module.
    workspace.write("tests/checks.py", "def count(rows, n):\n    assert len(rows) == n\n")
    workspace.write(
        "tests/test_rows.py",
        """
        from tests import checks

        def test_counted():
            checks.count(load(), 3)

        def test_popped():
            rows = load()
            rows.pop()
        """,
    )
    assert workspace.lines("NC003") == [("tests/test_rows.py", 6)]


def test_a_method_of_an_imported_class_is_followed_to_that_class(workspace) -> None:
    workspace.write(
        "tests/helpers.py",
        """
        class Checker:
            def verify(self, reply):
                assert reply["ok"]

        class Recorder:
            def verify(self, reply):
                self.seen = reply
        """,
    )
    workspace.write(
        "tests/test_replies.py",
        """
        from tests.helpers import Checker, Recorder

        def test_checked():
            Checker().verify(send())

        def test_recorded_only():
            Recorder().verify(send())

        def test_checked_unbound():
            Checker.verify(None, send())
        """,
    )
    assert workspace.lines("NC003") == [("tests/test_replies.py", 6)]


def test_a_helper_of_the_test_module_is_its_own_not_one_elsewhere(workspace) -> None:
    workspace.write("tests/checks.py", "def check(reply):\n    assert reply['ok']\n")
    workspace.write(
        "tests/test_replies.py",
        """
        def check(reply):
            print(reply)

        def test_logged_only():
            check(send())
        """,
    )
    assert workspace.lines("NC003") == [("tests/test_replies.py", 4)]


def test_helpers_that_call_each_other_are_judged_through_the_cycle(workspace) -> None:
    # retry() and attempt() call each other; only attempt() reaches validate() (followed
    # last). Asked about attempt() first, retry() is met on the way round: it must not be
    # remembered as checking nothing.
    workspace.write(
        "tests/helpers.py",
        """
        def attempt(reply, tries):
            if tries:
                retry(reply, tries - 1)
            validate(reply)

        def retry(reply, tries):
            attempt(reply, tries)

        def validate(reply):
            assert reply["ok"]

        def loop_a(reply):
            loop_b(reply)

        def loop_b(reply):
            loop_a(reply)
        """,
    )
    workspace.write(
        "tests/test_retries.py",
        """
        from tests.helpers import attempt, loop_a, retry

        def test_attempt():
            attempt(send(), 2)

        def test_retry():
            retry(send(), 2)

        def test_loop_only():
            loop_a(send())
        """,
    )
    assert workspace.lines("NC003") == [("tests/test_retries.py", 9)]


def test_self_helpers_of_classes_collected_by_base(workspace) -> None:
    # SQLAlchemy: classes collected as subclasses of fixtures.TestBase, whatever their name,
    # calling a helper of a mixin in the testing package (self.assert_compile).
    workspace.write(
        "pyproject.toml",
        '[tool.netra.check]\nextra-python-bases = ["shop.testing.fixtures.TestBase"]\n',
    )
    workspace.write("lib/shop/testing/fixtures.py", "class TestBase:\n    pass\n")
    workspace.write(
        "lib/shop/testing/assertions.py",
        """
        class CompilesSQL:
            def check_compiles(self, statement, expected):
                assert str(statement) == expected

            def compile_only(self, statement):
                return str(statement)
        """,
    )
    workspace.write(
        "tests/test_compiler.py",
        """
        from shop.testing import fixtures
        from shop.testing.assertions import CompilesSQL

        class CompileChecks(fixtures.TestBase, CompilesSQL):
            def test_checked(self):
                self.check_compiles(select(), "SELECT")

            def test_only_compiled(self):
                self.compile_only(select())
        """,
    )
    assert workspace.lines("NC003") == [("tests/test_compiler.py", 8)]


def test_a_base_picked_among_several_of_its_name_is_not_trusted(workspace) -> None:
    # The base comes from a module the scan does not see; two scanned classes share its
    # name, one whose `check` asserts: which one it is cannot be told, so `self.check`
    # is followed by name (asserting), not through the first class of that name.
    workspace.write(
        "tests/helpers_a.py",
        "class Checks:\n    def check(self, value):\n        return value\n",
    )
    workspace.write(
        "tests/helpers_b.py",
        "class Checks:\n    def check(self, value):\n        assert value\n",
    )
    workspace.write(
        "tests/test_orders.py",
        """
        from vendor.bases import Checks

        class TestOrders(Checks):
            def test_order(self):
                self.check(place())
        """,
    )
    assert workspace.findings("NC003") == []


def test_a_method_of_an_attribute_of_self_is_followed_through_the_attributes_class(
    workspace,
) -> None:
    workspace.write(
        "tests/helpers.py",
        """
        class Checker:
            def verify(self, reply):
                self._compare(reply, "ok")

            def _compare(self, reply, expected):
                assert reply == expected

        class Recorder:
            def verify(self, reply):
                self._compare(reply, "ok")

            def _compare(self, reply, expected):
                self.seen = (reply, expected)
        """,
    )
    workspace.write(
        "tests/test_replies.py",
        """
        import unittest

        from tests import helpers
        from tests.helpers import Checker, Recorder

        class TestSetUp:
            def setup_method(self):
                self.checker = Checker()
                self.recorder = helpers.Recorder()

            def test_checked(self):
                self.checker.verify(send())

            def test_recorded_only(self):
                self.recorder.verify(send())

        class TestAnnotated:
            recorder: Checker | Recorder = Recorder()  # built from Recorder, whatever it says

            def test_recorded_only(self):
                self.recorder.verify(send())

        class Base(unittest.TestCase):
            def setUp(self):
                self.tool = Recorder()

        class TestInheritsTheAttribute(Base):
            def test_recorded_only(self):
                self.tool.verify(send())

        class TestOverridesTheAttribute(Base):
            def setUp(self):
                self.tool = Checker()

            def test_checked(self):
                self.tool.verify(send())

        class TestUnknownClass:
            def setup_method(self):
                self.tool = make_tool()

            def test_followed_by_name(self):
                self.tool.verify(send())

        class TestTwoClasses:
            def setup_method(self):
                self.tool = Recorder()

            def test_followed_by_name(self):
                self.tool = Checker()
                self.tool.verify(send())
        """,
    )
    assert workspace.lines("NC003") == [
        ("tests/test_replies.py", 14),
        ("tests/test_replies.py", 20),
        ("tests/test_replies.py", 28),
    ]


def test_a_function_passed_to_a_helper_that_calls_it_is_followed(workspace) -> None:
    workspace.write(
        "tests/helpers.py",
        """
        def assert_valid(order):
            assert order["ok"]

        def log_order(order):
            print(order)

        def run_case(data, check=None):
            result = place(data)
            if check is not None:
                check(result)
            return result

        def retry(action, /, times=3):
            for _ in range(times):
                action()

        def store(data, callback):
            save(data, callback)
        """,
    )
    workspace.write(
        "tests/test_cases.py",
        """
        from tests import helpers
        from tests.helpers import assert_valid, log_order, retry, run_case, store

        def ready():
            assert server_up()

        def test_checked_by_keyword():
            run_case({"id": 1}, check=assert_valid)

        def test_checked_by_position():
            run_case({"id": 1}, helpers.assert_valid)

        def test_retried():
            retry(ready)

        def test_logged_only():
            run_case({"id": 1}, check=log_order)

        def test_stored_only():
            store({"id": 1}, assert_valid)

        def test_retried_by_keyword_only():
            retry(action=ready)

        class TestCases:
            def verify(self, result):
                assert result

            def test_method_passed(self):
                run_case({}, check=self.verify)

            def test_helper_method_runs_it(self):
                self.run(self.verify)

            def run(self, step):
                step(place({}))
        """,
    )
    assert workspace.lines("NC003") == [
        ("tests/test_cases.py", 16),
        ("tests/test_cases.py", 19),
        ("tests/test_cases.py", 22),
    ]


def test_a_helper_imported_from_the_projects_own_package_is_followed(workspace) -> None:
    # src/shop is neither test code nor a testing package: its modules that the tests
    # import (and those they import) are indexed by their dotted names only.
    workspace.write("src/shop/__init__.py", "")
    workspace.write(
        "src/shop/checks.py",
        """
        from shop.compare import same

        class Checker:
            def verify(self, reply):
                same(reply, "ok")

        class Recorder:
            def verify(self, reply):
                self.seen = reply
        """,
    )
    # A bare `assert` there would be an invariant of production code (see the test below).
    workspace.write(
        "src/shop/compare.py",
        "def same(a, b):\n    if a != b:\n        raise AssertionError((a, b))\n",
    )
    workspace.write("src/shop/unrelated.py", "def broken(:\n")
    workspace.write(
        "tests/test_replies.py",
        """
        from shop.checks import Checker, Recorder
        from shop.compare import same

        def test_checked():
            Checker().verify(send())

        def test_recorded_only():
            Recorder().verify(send())

        def test_some_other_verify(reply):
            reply.verify()

        def test_production_function_only():
            same(send(), "ok")
        """,
    )
    result = workspace.scan()
    # A function of the package called directly is production code (its assert is an
    # invariant); only the methods of its classes, and what they call, are followed.
    assert [(f.path, f.line) for f in result.findings if f.rule_id == "NC003"] == [
        ("tests/test_replies.py", 7),
        ("tests/test_replies.py", 10),
        ("tests/test_replies.py", 13),
    ]
    # The test module and the two modules it reaches; nothing else of the package is read.
    assert (result.files, result.tests) == (3, 4)


def test_only_the_package_modules_the_analysis_reaches_are_read(workspace) -> None:
    # A module the tests import is read when a call of a test needs a class of it, not
    # because it is imported: neither models.py (the tests only build an Order, or assert
    # themselves) nor report.py (imported by checks.py, but not by what verify calls).
    workspace.write("src/shop/__init__.py", "")
    workspace.write(
        "src/shop/models.py",
        """
        class Order:
            def total(self):
                return 0
        """,
    )
    workspace.write(
        "src/shop/checks.py",
        """
        from shop.compare import same
        from shop.report import render

        class Checker:
            def verify(self, reply):
                same(reply, "ok")

            def show(self, reply):
                return render(reply)
        """,
    )
    workspace.write(
        "src/shop/compare.py",
        "def same(a, b):\n    if a != b:\n        raise AssertionError((a, b))\n",
    )
    workspace.write("src/shop/report.py", "def render(reply):\n    return str(reply)\n")
    workspace.write(
        "tests/test_shop.py",
        """
        from shop.checks import Checker
        from shop.models import Order

        def test_total():
            assert Order().total() == 0

        def test_created_only():
            Order()

        def test_checked():
            Checker().verify(send())
        """,
    )
    result = workspace.scan()
    assert [(f.path, f.line) for f in result.findings if f.rule_id == "NC003"] == [
        ("tests/test_shop.py", 7)
    ]
    # The test module, checks.py and compare.py: what Checker().verify() runs.
    assert (result.files, result.analysed) == (3, 3)
    # The modules read on demand are cached like the others: a second run parses none.
    cold, warm = workspace.scan(use_cache=True), workspace.scan(use_cache=True)
    assert [(r.files, r.analysed, len(r.findings)) for r in (cold, warm)] == [(3, 3, 1), (3, 0, 1)]


def test_a_method_a_package_class_inherits_is_followed_to_its_base(workspace) -> None:
    workspace.write(
        "src/shop/base.py",
        """
        class BaseChecker:
            def verify(self, reply):
                if not reply["ok"]:
                    raise AssertionError(reply)

            def record(self, reply):
                self.seen = reply
        """,
    )
    workspace.write(
        "src/shop/checks.py",
        "from shop.base import BaseChecker\n\nclass Checker(BaseChecker):\n    pass\n",
    )
    workspace.write(
        "tests/test_replies.py",
        """
        from shop.checks import Checker

        def test_checked():
            Checker().verify(send())

        def test_recorded_only():
            Checker().record(send())
        """,
    )
    assert workspace.lines("NC003") == [("tests/test_replies.py", 6)]


def test_an_assert_in_a_method_of_a_package_class_is_an_invariant_not_a_check(
    workspace,
) -> None:
    # Production code asserts its invariants: reaching such an `assert` through a method
    # of a class the tests import (directly or through an attribute) checks nothing, as
    # for a function of the package that a test calls.
    workspace.write("src/shop/__init__.py", "")
    workspace.write(
        "src/shop/orders.py",
        """
        class Order:
            def __init__(self):
                self.items = []

            def process(self):
                assert self.items is not None, "invariant"
                return _total(self.items)

            def check_total(self, expected):
                if _total(self.items) != expected:
                    raise AssertionError(expected)

        def _total(items):
            assert all(i >= 0 for i in items)
            return sum(items)
        """,
    )
    workspace.write(
        "tests/test_orders.py",
        """
        from shop.orders import Order

        def test_processed_only():
            Order().process()

        def test_checked():
            Order().check_total(0)

        class TestOrders:
            def setup_method(self):
                self.order = Order()

            def test_processed_only(self):
                self.order.process()
        """,
    )
    assert workspace.lines("NC003") == [
        ("tests/test_orders.py", 3),
        ("tests/test_orders.py", 13),
    ]


def test_an_attribute_annotated_with_a_base_or_protocol_is_not_typed_by_its_annotation(
    workspace,
) -> None:
    # An annotation bounds the class, it does not name it: the object may be any subclass
    # (or, for a Protocol, any class at all), whose method is the one that runs.
    workspace.write(
        "tests/helpers.py",
        """
        from typing import Protocol

        class Verifier(Protocol):
            def verify(self, reply) -> None: ...

        class BaseVerifier:
            def verify(self, reply):
                raise NotImplementedError

        class StrictVerifier(BaseVerifier):
            def verify(self, reply):
                assert reply == "ok"
        """,
    )
    workspace.write(
        "tests/test_replies.py",
        """
        import pytest

        from tests.helpers import BaseVerifier, StrictVerifier, Verifier

        class TestProtocol:
            verifier: Verifier

            def setup_method(self):
                self.verifier = StrictVerifier()

            def test_verified(self):
                self.verifier.verify("ok")

        class TestBaseSetByAFixture:
            verifier: BaseVerifier

            @pytest.fixture(autouse=True)
            def _verifier(self, request):
                request.instance.verifier = StrictVerifier()

            def test_verified(self):
                self.verifier.verify("ok")
        """,
    )
    assert workspace.lines("NC003") == []


def test_a_helper_module_outside_the_paths_is_read_before_the_rules_run(workspace) -> None:
    # tests/support is test code that `paths` leaves out: found because a test imports
    # it, it keeps its role, so its helpers count by their names as if it were walked
    # (a function of a production module called directly would not be followed).
    workspace.write(
        "pyproject.toml", '[project]\nname = "shop"\n\n[tool.netra.check]\npaths = ["tests/unit"]\n'
    )
    workspace.write("tests/__init__.py", "")
    workspace.write("tests/support/__init__.py", "")
    workspace.write(
        "tests/support/checks.py",
        "def check_reply(reply):\n    assert reply == 'ok'\n",
    )
    workspace.write(
        "tests/unit/test_replies.py",
        """
        from tests.support.checks import check_reply

        def test_checked():
            check_reply(send())

        def test_unchecked():
            send()
        """,
    )
    assert workspace.lines("NC003") == [("tests/unit/test_replies.py", 6)]


def test_a_testing_module_read_through_a_production_one_counts_for_every_test(
    workspace,
) -> None:
    # shop/testing is support code that only a production module imports: it is read when
    # a call reaches it (Checker().verify()), which may come after another test's lookup by
    # name. Its assert_shown, which asserts nothing, is judged by its body for both files,
    # as when every module the tests import was read first: not only for the file that
    # comes after the first Checker().verify().
    workspace.write(
        "pyproject.toml", '[project]\nname = "shop"\n\n[tool.netra.check]\npaths = ["tests"]\n'
    )
    workspace.write("src/shop/__init__.py", "")
    workspace.write("src/shop/testing/__init__.py", "")
    workspace.write(
        "src/shop/testing/checks.py",
        """
        def check_total(total):
            assert total

        def assert_shown(value):
            print(value)
        """,
    )
    workspace.write(
        "src/shop/orders.py",
        """
        from shop.testing.checks import check_total

        class Checker:
            def verify(self):
                check_total(1)
        """,
    )
    workspace.write(
        "tests/test_a.py",
        """
        import reporting

        from shop.orders import Checker

        def test_shown():
            reporting.assert_shown(1)

        def test_checked():
            Checker().verify()
        """,
    )
    workspace.write(
        "tests/test_b.py",
        """
        import reporting

        from shop.orders import Checker

        def test_checked():
            Checker().verify()

        def test_shown():
            reporting.assert_shown(1)
        """,
    )
    assert workspace.lines("NC003") == [("tests/test_a.py", 5), ("tests/test_b.py", 8)]
