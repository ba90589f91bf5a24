"""NC005: test classes off the canonical base, and the fragmentation metric."""

from __future__ import annotations

import pytest


def metric(result, key: str):
    return next(m for m in result.metrics if m.key == key)


@pytest.mark.parametrize(
    "source",
    [
        "class TestX:\n    def test_a(self):\n        assert run()\n",
        "import unittest\nclass TestX(unittest.TestCase):\n    def test_a(self):\n"
        "        self.assertTrue(run())\n",
        "class ThingTests(Custom):\n    def test_a(self):\n        assert run()\n",
    ],
    ids=["no-base", "unittest", "homegrown"],
)
def test_non_canonical_class_is_reported(workspace, source: str) -> None:
    workspace.write("tests/unit/test_sample.py", source)
    findings = workspace.findings("NC005")
    assert [(f.path, f.line) for f in findings] == [
        (
            "tests/unit/test_sample.py",
            source.splitlines().index(
                next(line for line in source.splitlines() if line.startswith("class"))
            )
            + 1,
        )
    ]


@pytest.mark.parametrize(
    "source",
    [
        "from netra.testing.base import SSotBaseTestCase\n"
        "class TestX(SSotBaseTestCase):\n    def test_a(self):\n        assert run()\n",
        "import netra.testing.base as b\n"
        "class TestX(b.SSotAsyncTestCase):\n    async def test_a(self):\n        assert run()\n",
        "class TestX(Mixin, SSotBaseTestCase):\n    def test_a(self):\n        assert run()\n",
        "class Helper:\n    def build(self):\n        return 1\n",
        "def test_plain():\n    assert run()\n",
    ],
    ids=["canonical", "canonical-async-dotted", "mixin-plus-canonical", "not-a-test", "function"],
)
def test_canonical_or_no_class_is_clean(workspace, source: str) -> None:
    workspace.write("tests/unit/test_sample.py", source)
    assert workspace.findings("NC005") == []


def test_intermediate_bases_are_resolved_across_files(workspace) -> None:
    workspace.write(
        "tests/support.py",
        """
        class DatabaseCase(SSotAsyncTestCase):
            pass

        class LegacyCase(unittest.TestCase):
            pass
        """,
    )
    workspace.write(
        "tests/unit/test_db.py",
        """
        class TestGood(DatabaseCase):
            def test_a(self):
                assert run()

        class TestLegacy(LegacyCase):
            def test_a(self):
                assert run()
        """,
    )
    findings = workspace.findings("NC005")
    assert [(f.line, "TestCase" in f.message) for f in findings] == [(5, True)]


def test_fragmentation_counts_distinct_roots(workspace) -> None:
    workspace.write(
        "tests/unit/test_mixed.py",
        """
        class TestA(SSotBaseTestCase):
            def test_a(self):
                assert run()

        class TestB(SSotAsyncTestCase):
            def test_b(self):
                assert run()

        class TestC(unittest.TestCase):
            def test_c(self):
                assert run()

        class TestD:
            def test_d(self):
                assert run()
        """,
    )
    result = workspace.scan()
    fragmentation = metric(result, "test_base_classes")
    assert fragmentation.value == 3
    assert not fragmentation.ok
    assert "TestCase x1" in fragmentation.detail


def test_canonical_base_is_configurable(workspace) -> None:
    workspace.write("pyproject.toml", '[tool.netra.check]\ncanonical_bases = ["BaseCase"]\n')
    workspace.write(
        "tests/unit/test_x.py",
        "class TestA(BaseCase):\n    def test_a(self):\n        assert run()\n"
        "class TestB(SSotBaseTestCase):\n    def test_b(self):\n        assert run()\n",
    )
    assert workspace.lines("NC005") == [("tests/unit/test_x.py", 4)]
