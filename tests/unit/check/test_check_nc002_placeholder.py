"""NC002: placeholder tests."""

from __future__ import annotations

import pytest

PLACEHOLDERS = {
    "pass": "def test_x():\n    pass\n",
    "ellipsis": "def test_x():\n    ...\n",
    "docstring": 'def test_x():\n    """Will check refunds."""\n',
    "comment": "def test_x():\n    # TODO\n    pass\n",
    "assert-true": "def test_x():\n    assert True\n",
    "assert-constant-compare": "def test_x():\n    assert 1 == 1\n",
    "assert-tuple": "def test_x():\n    assert (value() == 2, 'message')\n",
    "not-implemented": "def test_x():\n    raise NotImplementedError\n",
    "not-implemented-call": "def test_x():\n    raise NotImplementedError('later')\n",
    "skip-decorator": "import pytest\n@pytest.mark.skip\ndef test_x():\n    assert value() == 2\n",
    "skip-decorator-call": (
        "import pytest\n@pytest.mark.skip(reason='x')\ndef test_x():\n    assert value() == 2\n"
    ),
    "skipif-true": (
        "import pytest\n@pytest.mark.skipif(True, reason='x')\ndef test_x():\n"
        "    assert value() == 2\n"
    ),
    "unittest-skip": "import unittest\n@unittest.skip('x')\ndef test_x():\n    assert value()\n",
    "skip-first": "import pytest\ndef test_x():\n    pytest.skip('later')\n    assert value()\n",
    "async-pass": "async def test_x():\n    pass\n",
    "assert-truthy-string": "def test_x():\n    assert 'always'\n",
    "assert-not-false": "def test_x():\n    assert not False\n",
    "assert-non-empty-list": "def test_x():\n    assert [value()]\n",
    "assert-same-name": "def test_x(x):\n    assert x == x\n",
    "assert-same-attribute": "def test_x(r):\n    assert r.body[0] is r.body[0]\n",
    "assert-or-true": "def test_x():\n    assert value() or True\n",
    "unittest-assert-true": (
        "class TestX:\n    def test_x(self):\n        self.assertTrue(True)\n"
    ),
    "unittest-assert-equal-constants": (
        "class TestX:\n    def test_x(self):\n        self.assertEqual(1, 1)\n"
    ),
    "unittest-assert-equal-same": (
        "class TestX:\n    def test_x(self, x):\n        self.assertEqual(x, x)\n"
    ),
    "skipif-true-keyword": (
        "import pytest\n@pytest.mark.skipif(condition=True, reason='x')\ndef test_x():\n"
        "    assert value() == 2\n"
    ),
    "skipif-one": (
        "import pytest\n@pytest.mark.skipif(1, reason='x')\ndef test_x():\n"
        "    assert value() == 2\n"
    ),
}

REAL = {
    "assert": "def test_x():\n    assert value() == 2\n",
    "skipif-condition": (
        "import sys, pytest\n@pytest.mark.skipif(sys.platform == 'win32', reason='x')\n"
        "def test_x():\n    assert value() == 2\n"
    ),
    "conditional-skip": (
        "import pytest\ndef test_x():\n    if not value():\n        pytest.skip('no value')\n"
        "    assert value() == 2\n"
    ),
    "docstring-and-assert": 'def test_x():\n    """Doc."""\n    assert value() == 2\n',
    "raises-other": "def test_x():\n    raise ValueError(value())\n",
    "non-test-function": "def helper():\n    pass\n",
    "assert-false-todo": 'def test_x():\n    assert False, "TODO"\n',
    "assert-zero": "def test_x():\n    assert 0, 'not written yet'\n",
    "assert-empty-tuple": "def test_x():\n    assert ()\n",
    "assert-constant-false-compare": "def test_x():\n    assert 1 == 2\n",
    "assert-calls-compared": "def test_x():\n    assert value() == value()\n",
    "assert-different-names": "def test_x(x, y):\n    assert x == y\n",
    "assert-or-false": "def test_x():\n    assert value() or False\n",
    "unittest-assert-false-true": (
        "class TestX:\n    def test_x(self):\n        self.assertFalse(True)\n"
    ),
    "unittest-assert-equal-different": (
        "class TestX:\n    def test_x(self):\n        self.assertEqual(value(), 1)\n"
    ),
    "skipif-string-condition": (
        "import pytest\n@pytest.mark.skipif(\"sys.platform == 'win32'\", reason='x')\n"
        "def test_x():\n    assert value() == 2\n"
    ),
    "skipif-string-condition-keyword": (
        "import pytest\n@pytest.mark.skipif(condition='sys.version_info < (3, 9)', reason='x')\n"
        "def test_x():\n    assert value() == 2\n"
    ),
    "skipif-false": (
        "import pytest\n@pytest.mark.skipif(False, reason='x')\ndef test_x():\n"
        "    assert value() == 2\n"
    ),
}


@pytest.mark.parametrize("source", PLACEHOLDERS.values(), ids=PLACEHOLDERS.keys())
def test_placeholder_is_reported_on_the_def_line(workspace, source: str) -> None:
    workspace.write("tests/unit/test_sample.py", source)
    def_line = next(
        i for i, line in enumerate(source.splitlines(), start=1) if "def test_x" in line
    )
    assert workspace.lines("NC002") == [("tests/unit/test_sample.py", def_line)]


@pytest.mark.parametrize("source", REAL.values(), ids=REAL.keys())
def test_real_test_is_not_a_placeholder(workspace, source: str) -> None:
    workspace.write("tests/unit/test_sample.py", source)
    assert workspace.findings("NC002") == []


def test_placeholder_is_not_also_reported_as_assertion_free(workspace) -> None:
    workspace.write("tests/unit/test_sample.py", PLACEHOLDERS["pass"])
    assert [f.rule_id for f in workspace.findings()] == ["NC002"]


def test_methods_of_test_classes_are_checked(workspace) -> None:
    workspace.write(
        "tests/unit/test_sample.py",
        """
        class TestThing:
            def test_todo(self):
                pass

            def helper(self):
                pass
        """,
    )
    assert workspace.lines("NC002") == [("tests/unit/test_sample.py", 2)]


@pytest.mark.parametrize(
    "source",
    [
        'def test_x():\n    assert False, "TODO"\n',
        "def test_x(r):\n    if r != 1:\n        assert False, 'r is wrong'\n",
        "def test_x(items):\n    for item in items:\n        if item.ok:\n            break\n"
        "    else:\n        assert 0, 'no item is ok'\n",
    ],
    ids=["todo", "if-assert-false", "for-else-assert-0"],
)
def test_falsy_constant_assertion_can_fail(workspace, source: str) -> None:
    workspace.write("tests/unit/test_sample.py", source)
    assert workspace.findings() == []
