"""`netra migrate`: each codemod on small before/after fixtures, idempotence, and refusals."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from netra_check.migrate.command import main
from netra_check.migrate.engine import migrate_source, package_of


def _src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# name -> (before, after, package of the module)
MIGRATIONS = {
    "testcase-onto-ssot": (
        """
        import unittest


        class TestThing(unittest.TestCase):
            def test_x(self):
                self.assertEqual(1, 1)
        """,
        """
        from netra.testing.base import SSotBaseTestCase


        class TestThing(SSotBaseTestCase):
            def test_x(self):
                self.assertEqual(1, 1)
        """,
        (),
    ),
    "imported-name-async-and-unittest-still-used": (
        """
        import unittest
        from unittest import IsolatedAsyncioTestCase, TestCase as Case


        class ThingTests(Case):
            \"\"\"Doc.\"\"\"

            @unittest.skipIf(True, "no")
            def test_x(self):
                pass


        class TestLoop(IsolatedAsyncioTestCase):
            async def test_y(self):
                self.assertTrue(True)
        """,
        """
        import unittest
        from netra.testing.base import SSotAsyncTestCase, SSotBaseTestCase


        class ThingTests(SSotBaseTestCase):
            \"\"\"Doc.\"\"\"

            __test__ = True  # collected whatever its name, as unittest.TestCase was

            @unittest.skipIf(True, "no")
            def test_x(self):
                pass


        class TestLoop(SSotAsyncTestCase):
            async def test_y(self):
                self.assertTrue(True)
        """,
        (),
    ),
    "test-mixin-of-migrated-classes": (
        """
        from unittest import TestCase


        class CheckMixin:
            def test_shared(self):
                self.assertTrue(self.value)


        class TestA(CheckMixin, TestCase):
            value = 1
        """,
        """
        from netra.testing.base import SSotBaseTestCase


        class CheckMixin(SSotBaseTestCase):
            def test_shared(self):
                self.assertTrue(self.value)


        class TestA(CheckMixin, SSotBaseTestCase):
            value = 1
        """,
        (),
    ),
    "environ-in-ssot-methods": (
        """
        import os

        from netra.testing.base import SSotBaseTestCase


        class TestEnv(SSotBaseTestCase):
            def setUp(self):
                os.environ["A"] = "1"

            def test_reads(self):
                assert os.environ.get("A") == os.getenv("A", "x") == os.environ["A"]
                assert "A" in os.environ
                self.assertNotIn("B", os.environ, msg="unset")
                del os.environ["A"]
                os.environ.pop("B", None)
        """,
        """
        from netra.testing.base import SSotBaseTestCase


        class TestEnv(SSotBaseTestCase):
            def setUp(self):
                self.set_process_env("A", "1")

            def test_reads(self):
                assert self.env.get("A") == self.env.get("A", "x") == self.env["A"]
                assert "A" in self.env
                self.assertNotIn("B", self.env, msg="unset")
                self.set_process_env("A", None)
                self.set_process_env("B", None)
        """,
        (),
    ),
    "relative-imports": (
        """
        from . import helpers
        from .helpers import make_user
        from ..shared.data import ROWS
        """,
        """
        from tests.unit import helpers
        from tests.unit.helpers import make_user
        from tests.shared.data import ROWS
        """,
        ("tests", "unit"),
    ),
    "main-blocks": (
        """
        import sys
        import unittest

        import pytest


        def test_x():
            assert unittest


        if __name__ == "__main__":
            unittest.main(verbosity=2)
            sys.exit(pytest.main([__file__]))
        """,
        """
        import unittest


        def test_x():
            assert unittest
        """,
        (),
    ),
    "main-block-on-one-line": (
        """
        import unittest


        class TestThing(unittest.TestCase):
            pass


        if __name__ == "__main__": unittest.main()
        """,
        """
        from netra.testing.base import SSotBaseTestCase


        class TestThing(SSotBaseTestCase):
            pass
        """,
        (),
    ),
}

# name -> (source, [(codemod, line, words in the reason)])
REFUSALS = {
    "init-override": (
        """
        import unittest

        class TestA(unittest.TestCase):
            def __init__(self, name):
                super().__init__(name)
        """,
        [("bases", 3, "defines __init__()")],
    ),
    "self-run": (
        """
        import unittest

        class TestA(unittest.TestCase):
            def test_x(self):
                self.run()
                self.defaultTestResult()
        """,
        [("bases", 3, "uses self.run, part of unittest's runner; it uses self.defaultTestResult")],
    ),
    "metaclass": (
        """
        import unittest

        class TestA(unittest.TestCase, metaclass=Meta):
            pass
        """,
        [("bases", 3, "metaclass")],
    ),
    "subclass-overrides-run": (
        """
        import unittest

        class Base(unittest.TestCase):
            pass

        class TestA(Base):
            def run(self, result=None):
                pass
        """,
        [("bases", 3, "in subclass TestA")],
    ),
    "handed-to-a-suite": (
        """
        import unittest

        class TestA(unittest.TestCase):
            pass

        suite = unittest.TestLoader().loadTestsFromTestCase(TestA)
        """,
        [("bases", 3, "made or handed to a unittest loader, suite or runner")],
    ),
    "made-by-hand-with-runtest": (
        """
        import unittest

        class TestMissing(unittest.TestCase):
            def runTest(self):
                self.skipTest("missing")

        def all_tests(suite):
            suite.add(TestMissing())
        """,
        [("bases", 3, "runTest(), which pytest collects from unittest classes only")],
    ),
    "unknown-class-decorator": (
        """
        import unittest

        @parameterized_class(("a",), [(1,)])
        class TestA(unittest.TestCase):
            pass
        """,
        [("bases", 4, "@parameterized_class")],
    ),
    "nested-testcase": (
        """
        import unittest

        def test_runner():
            class Inner(unittest.TestCase):
                pass
        """,
        [("bases", 4, "inside a function")],
    ),
    "environ-as-object": (
        """
        import os
        from unittest import mock

        from netra.testing.base import SSotBaseTestCase

        class TestA(SSotBaseTestCase):
            def test_x(self):
                with mock.patch.dict(os.environ, {"A": "1"}):
                    pass
                os.environ.update(A="1")
        """,
        [("environ", 8, "used as an object"), ("environ", 10, "used as an object")],
    ),
    "environ-augmented-or-unpacked-writes": (
        """
        import os

        from netra.testing.base import SSotBaseTestCase

        class TestA(SSotBaseTestCase):
            def test_x(self):
                os.environ["PATH"] += ":/opt"
                os.environ["A"], b = "1", 2
        """,
        [("environ", 7, "a write to os.environ"), ("environ", 8, "a write to os.environ")],
    ),
    "environ-where-no-test-env": (
        """
        import os

        from netra.testing.base import SSotBaseTestCase

        URL = os.environ["URL"]

        def test_plain():
            assert os.getenv("HOME")

        class TestA(SSotBaseTestCase):
            @classmethod
            def setUpClass(cls):
                os.environ["A"] = "1"

            def test_x(self):
                check = lambda: os.environ["A"]

            HOME = os.getenv("HOME")
        """,
        [
            ("environ", 5, "module level"),
            ("environ", 8, "a plain function"),
            ("environ", 13, "class or static method"),
            ("environ", 16, "a lambda"),
            ("environ", 18, "a class body"),
        ],
    ),
    "environ-shadowed-by-the-class": (
        """
        import os

        from netra.testing.base import SSotBaseTestCase

        class TestA(SSotBaseTestCase):
            def setUp(self):
                self.env = {}

            def test_x(self):
                assert os.getenv("A")
        """,
        [("environ", 10, "defines its own env")],
    ),
    "mixin-after-the-base-stays-as-it-is": (
        """
        from netra.testing.base import SSotBaseTestCase

        class CheckMixin:
            def test_shared(self):
                assert self.value

        class TestA(SSotBaseTestCase, CheckMixin):
            value = 1
        """,
        [],
    ),
    "from-os-import": ("from os import environ\n", [("environ", 1, "imports environ from os")]),
    "main-block-doing-more": (
        """
        import unittest

        if __name__ == "__main__":
            print("running")
            unittest.main()
        """,
        [("main", 3, "does more than run the tests")],
    ),
    "main-block-on-one-line-doing-more": (
        """
        import unittest

        if __name__ == "__main__": print("running"); unittest.main()
        """,
        [("main", 3, "does more than run the tests")],
    ),
    "own-attribute-the-ssot-base-sets": (
        """
        import unittest

        class TestA(unittest.TestCase):
            env = {"region": "eu"}
            temp_dir: str = "/tmp"

            @property
            def metrics(self):
                return []
        """,
        [("bases", 3, "defines env, temp_dir, metrics, which the SSot base sets")],
    ),
    "relative-import-outside-a-package": (
        "from .helpers import make_user\n",
        [("imports", 1, "outside any package")],
    ),
    "syntax-error": ("def broken(:\n", [("parse", 1, "does not parse")]),
}


@pytest.mark.parametrize(("before", "after", "package"), MIGRATIONS.values(), ids=MIGRATIONS)
def test_codemod_rewrites_the_fixture(before: str, after: str, package: tuple[str, ...]) -> None:
    migrated, refusals = migrate_source(_src(before), package=package)

    assert migrated == _src(after)
    assert refusals == []


@pytest.mark.parametrize(("before", "after", "package"), MIGRATIONS.values(), ids=MIGRATIONS)
def test_a_second_run_changes_nothing(before: str, after: str, package: tuple[str, ...]) -> None:
    once, _ = migrate_source(_src(before), package=package)

    twice, refusals = migrate_source(once, package=package)

    assert twice == once
    assert refusals == []


@pytest.mark.parametrize(("source", "expected"), REFUSALS.values(), ids=REFUSALS)
def test_code_it_cannot_migrate_is_left_alone_and_reported(
    source: str, expected: list[tuple[str, int, str]]
) -> None:
    migrated, refusals = migrate_source(_src(source), package=())

    assert [(r.codemod, r.line) for r in refusals] == [(c, n) for c, n, _ in expected]
    for refusal, (_, _, words) in zip(refusals, expected, strict=True):
        assert words in refusal.reason
    if "environ" not in {c for c, _, _ in expected}:
        assert migrated == _src(source)


def test_support_modules_keep_their_imports_and_main_block() -> None:
    source = _src(
        """
        import unittest
        from .data import ROWS

        class Base(unittest.TestCase):
            pass

        if __name__ == "__main__":
            unittest.main()
        """
    )

    migrated, _ = migrate_source(source, package=("tests",), test_module=False)

    assert "from .data import ROWS" in migrated
    assert 'if __name__ == "__main__":' in migrated
    assert "class Base(SSotBaseTestCase):" in migrated


def _project(root: Path) -> Path:
    (root / "pyproject.toml").write_text("[project]\nname = 'outside'\n", encoding="utf-8")
    tests = root / "tests"
    tests.mkdir()
    (tests / "__init__.py").write_text("", encoding="utf-8")
    (tests / "helpers.py").write_text("VALUE = 1\n", encoding="utf-8")
    (tests / "test_it.py").write_text(
        _src(
            """
            import unittest

            from .helpers import VALUE


            class TestIt(unittest.TestCase):
                def test_value(self):
                    self.assertEqual(VALUE, 1)
            """
        ),
        encoding="utf-8",
    )
    return tests / "test_it.py"


def test_the_command_prints_a_diff_then_writes_then_has_nothing_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    test_file = _project(tmp_path)
    before = test_file.read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    assert main(["tests"]) == 1
    out = capsys.readouterr().out
    assert test_file.read_text(encoding="utf-8") == before
    assert "-from .helpers import VALUE\n+from tests.helpers import VALUE\n" in out
    assert out.startswith("--- a/tests/test_it.py\n+++ b/tests/test_it.py\n")

    assert main(["tests", "--write"]) == 0
    assert "class TestIt(SSotBaseTestCase):" in test_file.read_text(encoding="utf-8")

    assert main(["tests"]) == 0
    assert capsys.readouterr().out == ""


def test_the_command_exits_1_when_code_is_left_alone_and_2_on_a_bad_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    test_file = _project(tmp_path)
    test_file.write_text("import os\nURL = os.environ['URL']\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    assert main(["tests", "--write"]) == 1
    err = capsys.readouterr().err
    assert "tests/test_it.py:2: [environ] left alone: no per-test environment here" in err

    assert main(["missing"]) == 2


def test_a_package_folder_whose_name_is_no_identifier_is_not_part_of_the_module_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytest names the module from the highest folder with an __init__.py whose name is
    # an identifier (`unit.test_it` here): `my-tests.unit` is no module name at all.
    unit = tmp_path / "my-tests" / "unit"
    unit.mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'outside'\n", encoding="utf-8")
    for folder in (unit.parent, unit):
        (folder / "__init__.py").write_text("", encoding="utf-8")
    (unit / "helpers.py").write_text("VALUE = 1\n", encoding="utf-8")
    test_file = unit / "test_it.py"
    test_file.write_text("from .helpers import VALUE\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    assert package_of(test_file) == ("unit",)
    assert main(["my-tests", "--write"]) == 0
    assert test_file.read_text(encoding="utf-8") == "from unit.helpers import VALUE\n"


@pytest.mark.parametrize(
    ("header", "encoding"),
    [(b"# -*- coding: latin-1 -*-\n", "latin-1"), (b"\xef\xbb\xbf", "utf-8-sig")],
    ids=["coding cookie", "byte order mark"],
)
def test_a_file_is_read_and_written_in_its_own_encoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, header: bytes, encoding: str
) -> None:
    # Python reads a source file in the encoding its first lines declare (PEP 263).
    test_file = _project(tmp_path)
    body = 'import unittest\n\n\nclass TestIt(unittest.TestCase):\n    X = "café"\n'
    test_file.write_bytes(header + body.encode(encoding.removesuffix("-sig")))
    monkeypatch.chdir(tmp_path)

    assert main(["tests", "--write"]) == 0

    written = test_file.read_bytes()
    assert written.startswith(header)
    text = written.decode(encoding)
    assert 'class TestIt(SSotBaseTestCase):\n    X = "café"\n' in text
    assert main(["tests"]) == 0


def test_a_file_python_cannot_decode_is_left_alone_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    test_file = _project(tmp_path)
    test_file.write_bytes(b"import unittest\nX = '\xe9'\n")  # Latin-1, declared as nothing
    monkeypatch.chdir(tmp_path)

    assert main(["tests", "--write"]) == 1

    assert test_file.read_bytes() == b"import unittest\nX = '\xe9'\n"
    assert "tests/test_it.py:1: [parse] left alone: cannot be read" in capsys.readouterr().err


def test_a_class_not_named_as_the_project_collects_classes_gets_the_test_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pytest collects a unittest.TestCase whatever its name, a plain class by the project's
    # python_classes: with `*Tests`, TestThing is collected only if it says __test__ = True.
    test_file = _project(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\npython_classes = ['*Tests']\n", encoding="utf-8"
    )
    test_file.write_text(
        _src(
            """
            import unittest


            class TestThing(unittest.TestCase):
                def test_x(self):
                    pass


            class ThingTests(unittest.TestCase):
                def test_y(self):
                    pass
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)

    assert main(["tests", "--write"]) == 0

    flagged = test_file.read_text(encoding="utf-8").split("class ")[1:]
    assert [("__test__ = True" in body, body.split("(")[0]) for body in flagged] == [
        (True, "TestThing"),
        (False, "ThingTests"),
    ]
