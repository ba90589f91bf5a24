"""The tests netra check analyses are the ones pytest collects, from pytest's own configuration."""

from __future__ import annotations

import json

PLACEHOLDER = "def test_todo():\n    pass\n"


def test_testpaths_and_norecursedirs_decide_what_is_a_test(workspace) -> None:
    workspace.write(
        "pyproject.toml",
        """
        [tool.pytest.ini_options]
        testpaths = ["testing"]
        norecursedirs = ["testing/example_scripts", ".*"]
        """,
    )
    workspace.write("testing/example_scripts/test_input.py", PLACEHOLDER)  # an input, not a test
    workspace.write("doc/en/example/test_doc.py", PLACEHOLDER)  # outside testpaths
    workspace.write("testing/test_real.py", PLACEHOLDER)
    assert workspace.lines("NC002") == [("testing/test_real.py", 1)]
    assert workspace.scan().tests == 1


def test_python_files_with_a_path_match_the_path_like_pytest(workspace) -> None:
    workspace.write(
        "pyproject.toml",
        """
        [tool.pytest.ini_options]
        python_files = ["test_*.py", "testing/python/*.py"]
        """,
    )
    workspace.write("testing/python/approx.py", PLACEHOLDER)
    workspace.write("testing/approx.py", "def test_x():\n    assert 1 + 1 == 2\n")
    assert workspace.lines("NC002") == [("testing/python/approx.py", 1)]
    # testing/approx.py is not collected: pytest never runs its test, and NC001 says so.
    assert workspace.lines("NC001") == [("testing/approx.py", 1)]


def test_conftest_collect_ignore_and_ignore_in_addopts(workspace) -> None:
    workspace.write("setup.cfg", "[tool:pytest]\naddopts = -ra --ignore=test/py2\n")
    workspace.write(
        "test/conftest.py",
        """
        import sys

        collect_ignore = ["typing/plain_files"]
        collect_ignore_glob = ["*_async_only.py"]
        if sys.version_info < (3, 12):
            collect_ignore.append("test_new_syntax.py")
        """,
    )
    workspace.write("test/typing/plain_files/test_mypy_input.py", "def test_x(:\n")
    workspace.write("test/test_views_async_only.py", PLACEHOLDER)
    workspace.write("test/test_new_syntax.py", PLACEHOLDER)
    workspace.write("test/py2/test_old.py", "print 'x'\n")
    workspace.write("test/test_kept.py", PLACEHOLDER)
    assert workspace.lines("NC001") == []
    assert workspace.lines("NC002") == [("test/test_kept.py", 1)]


def test_python_classes_python_functions_and_extra_classes_a_plugin_adds(workspace) -> None:
    workspace.write(
        "pytest.ini",
        "[pytest]\npython_classes = *Suite\npython_functions = check_* test_*\n",
    )
    workspace.write(
        "tests/test_a.py",
        """
        class UtilsSuite:
            def check_stub(self):
                pass

        class TestIgnored:
            def test_stub(self):
                pass

        class UtilsTest:
            def test_stub(self):
                pass  # TODO
        """,
    )
    assert workspace.lines("NC002") == [("tests/test_a.py", 2)]
    workspace.write("pyproject.toml", '[tool.netra.check]\nextra-python-classes = ["*Test"]\n')
    assert workspace.lines("NC002") == [("tests/test_a.py", 2), ("tests/test_a.py", 10)]


def test_fixtures_named_test_are_not_tests(workspace) -> None:
    workspace.write(
        "tests/test_fixtures.py",
        """
        import pytest

        @pytest.fixture
        def test_data():
            return {"a": 1}

        def test_uses_it(test_data):
            assert test_data["a"] == 1
        """,
    )
    result = workspace.scan()
    assert [f.rule_id for f in result.findings] == []
    assert result.tests == 1


def test_only_pytest_and_unittest_skips_are_unconditional(workspace) -> None:
    workspace.write(
        "tests/test_skips.py",
        """
        import unittest
        from unittest import skip as unittest_skip

        from sqlalchemy.testing import skip

        @skip("sqlite")
        def test_conditional_on_the_database():
            assert run() == 1

        @unittest_skip("broken")
        def test_always_skipped():
            assert run() == 1

        class TestX(unittest.TestCase):
            @unittest.skip("later")
            def test_later(self):
                self.assertEqual(run(), 1)
        """,
    )
    assert workspace.lines("NC002") == [("tests/test_skips.py", 11), ("tests/test_skips.py", 16)]


def test_inherited_tests_are_counted_in_every_collected_subclass(workspace) -> None:
    workspace.write(
        "tests/bases.py",
        """
        class UploadChecks:
            def test_upload(self):
                assert upload() == 1
        """,
    )
    workspace.write(
        "tests/test_transfers.py",
        """
        from tests.bases import UploadChecks

        class TestDisk(UploadChecks):
            def test_disk(self):
                assert disk() == 1

        class TestMemory(UploadChecks):
            pass

        class TestBase:
            def test_shared(self):
                assert shared() == 1

        class TestChild(TestBase):
            def test_shared(self):  # overrides: still one test in TestChild
                assert shared() == 2
        """,
    )
    # pytest: TestDisk 2, TestMemory 1, TestBase 1, TestChild 1.
    assert workspace.scan().tests == 5


def test_test_classes_a_module_imports_are_collected_there_too(workspace) -> None:
    # SQLAlchemy's test/dialect/test_suite.py is `from sqlalchemy.testing.suite import *`:
    # pytest collects every test class that puts in the module's namespace.
    workspace.write(
        "lib/shop/testing/suite/__init__.py",
        """
        from .test_orders import *
        from .test_stock import *
        """,
    )
    workspace.write(
        "lib/shop/testing/suite/test_orders.py",
        """
        class OrdersBase:
            def test_listed(self):
                assert listed()

        class TestOrders(OrdersBase):
            def test_placed(self):
                assert placed()

        class _TestHidden:
            def test_hidden(self):
                assert hidden()
        """,
    )
    workspace.write(
        "lib/shop/testing/suite/test_stock.py",
        """
        __all__ = ["TestStock"]

        class TestStock:
            def test_counted(self):
                assert counted()

        class TestNotExported:
            def test_left_out(self):
                assert left_out()
        """,
    )
    workspace.write(
        "lib/shop/testing/shared.py",
        """
        class TestShared:
            def test_one(self):
                assert one()

            def test_two(self):
                assert two()
        """,
    )
    workspace.write("tests/test_suite.py", "from shop.testing.suite import *\n")
    workspace.write(
        "tests/test_explicit.py",
        """
        from shop.testing.shared import TestShared
        from shop.testing.shared import TestShared as _Kept
        """,
    )
    # tests/test_suite.py: TestOrders 2 (one inherited), TestStock 1; tests/test_explicit.py:
    # TestShared 2; a private alias, a private class and a name not in __all__ are not taken.
    # The suite's own modules are not test files (not under testpaths' python_files).
    workspace.write("pyproject.toml", '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
    assert workspace.scan().tests == 5


def test_collect_with_pytest_finds_what_a_conftest_hook_adds(workspace, cli) -> None:
    # Real pytest in a subprocess: a conftest hook collects spec_*.py, which no setting says.
    workspace.write(
        "tests/conftest.py",
        """
        import pytest

        def pytest_collect_file(file_path, parent):
            if file_path.name.startswith("spec_") and file_path.suffix == ".py":
                return pytest.Module.from_parent(parent, path=file_path)
        """,
    )
    workspace.write("tests/spec_orders.py", PLACEHOLDER)
    workspace.write("tests/test_real.py", "def test_sum():\n    assert sum([1, 2]) == 3\n")
    workspace.write("pytest.ini", "[pytest]\ntestpaths = tests\naddopts = -v\n")  # -v as SQLAlchemy
    static = cli(str(workspace.root), "--no-cache", "--format", "json")
    assert json.loads(static.stdout)["findings"] == []
    asked = cli(str(workspace.root), "--no-cache", "--format", "json", "--collect-with-pytest")
    report = json.loads(asked.stdout)
    assert [(f["rule"], f["line"]) for f in report["findings"]] == [("NC002", 1)]
    assert report["tests"] == 2


def test_collect_with_pytest_reports_a_collection_error(workspace, cli) -> None:
    workspace.write("pytest.ini", "[pytest]\naddopts = --no-such-option\n")
    workspace.write("tests/test_a.py", PLACEHOLDER)
    result = cli(str(workspace.root), "--no-cache", "--collect-with-pytest")
    assert result.exit_code == 2
    assert "pytest --collect-only" in result.output


def test_a_base_imported_under_another_name_gives_its_tests(workspace) -> None:
    # SQLAlchemy's test_tm_future_annotations.py:
    # `from .test_typed_mapping import MappedColumnTest as _MappedColumnTest`, then
    # `class MappedColumnTest(_MappedColumnTest)` runs the base's tests and its own.
    workspace.write(
        "tests/test_typed.py",
        """
        class TestMapped:
            def test_column(self):
                assert column()

            def test_type(self):
                assert type_()
        """,
    )
    workspace.write(
        "tests/test_future.py",
        """
        from tests.test_typed import TestMapped as _TestMapped

        class TestMapped(_TestMapped):
            def test_future(self):
                assert future()
        """,
    )
    # tests/test_typed.py: 2; tests/test_future.py: 2 inherited + 1 of its own.
    assert workspace.scan().tests == 5


def test_class_parametrizers_make_a_copy_of_the_class_per_argument(workspace) -> None:
    source = """
        from sqlalchemy import testing

        @testing.combinations(("joins",), ("unions",), ("none",), argnames="style")
        @testing.combinations((True,), (False,), argnames="lazy")
        class TestRoundTrip:
            def test_roundtrip(self):
                assert roundtrip()

        @testing.combinations(*STYLES)
        class TestUnknown:
            def test_unknown(self):
                assert unknown()
        """
    workspace.write("tests/test_poly.py", source)
    assert workspace.scan().tests == 2  # without the setting: one class each
    workspace.write(
        "pyproject.toml",
        '[tool.netra.check]\nclass-parametrizers = ["sqlalchemy.testing.combinations"]\n',
    )
    # SQLAlchemy's plugin: 3 x 2 copies of TestRoundTrip; a starred argument list is unknown.
    assert workspace.scan().tests == 7


def test_extra_python_bases_collect_subclasses_whatever_their_name(workspace) -> None:
    # SQLAlchemy's plugin collects every public subclass of fixtures.TestBase.
    workspace.write(
        "lib/shop/testing/fixtures.py",
        """
        class TestBase:
            pass

        class MappedTest(TestBase):
            def test_mapped(self):
                assert mapped()
        """,
    )
    workspace.write(
        "tests/test_cascade.py",
        """
        from shop.testing import fixtures

        class O2MCascadeDeleteOrphan(fixtures.MappedTest):
            def test_orphan(self):
                assert orphan()

        class _Hidden(fixtures.TestBase):
            def test_hidden(self):
                assert hidden()

        class Unrelated:
            def test_unrelated(self):
                assert unrelated()
        """,
    )
    assert workspace.scan().tests == 0  # no class is named Test*
    workspace.write(
        "pyproject.toml",
        '[tool.netra.check]\nextra-python-bases = ["shop.testing.fixtures.TestBase"]\n',
    )
    # O2MCascadeDeleteOrphan: its own test and the one it inherits; _Hidden is private.
    assert workspace.scan().tests == 2


def test_extra_python_bases_through_a_re_export_and_a_star_import(workspace) -> None:
    # SQLAlchemy: TestBase lives in fixtures/base.py and is re-exported by fixtures/__init__.py;
    # MappedTest (fixtures/orm.py) derives from it through `from .base import TestBase`, and
    # test/dialect/test_suite.py collects the suite's classes with `from ...suite import *`.
    workspace.write("lib/shop/testing/fixtures/__init__.py", "from .base import TestBase\n")
    workspace.write("lib/shop/testing/fixtures/base.py", "class TestBase:\n    pass\n")
    workspace.write(
        "lib/shop/testing/fixtures/orm.py",
        """
        from .base import TestBase

        class MappedTest(TestBase):
            pass
        """,
    )
    workspace.write(
        "lib/shop/testing/suite/test_rows.py",
        """
        from ..fixtures.base import TestBase

        class RowCountChecks(TestBase):
            def test_rowcount(self):
                assert rowcount() == 1
        """,
    )
    workspace.write("lib/shop/testing/suite/__init__.py", "from .test_rows import *\n")
    workspace.write("tests/test_suite.py", "from shop.testing.suite import *\n")
    workspace.write(
        "tests/test_cascade.py",
        """
        from shop.testing.fixtures.orm import MappedTest

        class CascadeDeleteOrphan(MappedTest):
            def test_orphan(self):
                assert orphan()

        class NotCollected:
            def test_not_collected(self):
                assert nothing()
        """,
    )
    workspace.write(
        "pyproject.toml",
        '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
        '[tool.netra.check]\nextra-python-bases = ["shop.testing.fixtures.TestBase"]\n',
    )
    # CascadeDeleteOrphan (through orm.py's import of base.TestBase), and RowCountChecks,
    # which no test module defines but test_suite.py's star import collects.
    assert workspace.scan().tests == 2
