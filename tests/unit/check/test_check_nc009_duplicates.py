"""NC009: the same fixture or helper defined in several files."""

from __future__ import annotations

FIXTURE = """
import pytest

@pytest.fixture
def server(tmp_path):
    proc = start_server(tmp_path)
    yield proc
    proc.stop()
"""

FIXTURE_REFORMATTED = '''
import pytest


@pytest.fixture(scope="function")
def server(tmp_path):
    """Same body, other formatting, a docstring and a comment."""
    proc = start_server( tmp_path )  # start it
    yield proc
    proc.stop()
'''


def test_copies_in_other_files_are_reported_against_the_first(workspace) -> None:
    workspace.write("tests/a/conftest.py", FIXTURE)
    workspace.write("tests/b/conftest.py", FIXTURE_REFORMATTED)
    workspace.write("tests/c/test_c.py", FIXTURE + "\ndef test_c(server):\n    assert server\n")
    findings = workspace.findings("NC009")
    assert [(f.path, f.line) for f in findings] == [
        ("tests/b/conftest.py", 5),
        ("tests/c/test_c.py", 4),
    ]
    assert all("tests/a/conftest.py:4" in f.message for f in findings)


def test_same_name_different_body_is_clean(workspace) -> None:
    workspace.write("tests/a/conftest.py", FIXTURE)
    workspace.write("tests/b/conftest.py", FIXTURE.replace("proc.stop()", "proc.kill()"))
    assert workspace.findings("NC009") == []


def test_different_name_same_body_is_clean(workspace) -> None:
    workspace.write("tests/a/conftest.py", FIXTURE)
    workspace.write("tests/b/conftest.py", FIXTURE.replace("def server", "def backend"))
    assert workspace.findings("NC009") == []


def test_trivial_bodies_are_ignored(workspace) -> None:
    trivial = "import pytest\n@pytest.fixture\ndef port():\n    return 8000\n"
    workspace.write("tests/a/conftest.py", trivial)
    workspace.write("tests/b/conftest.py", trivial)
    assert workspace.findings("NC009") == []


def test_setup_methods_and_helpers_are_compared(workspace) -> None:
    source = (
        "def make_user(name):\n    user = {'name': name}\n    return save(user)\n\n"
        "class TestX(Base):\n    def setup_method(self):\n        self.db = connect()\n"
        "        self.db.clear()\n\n    def test_x(self):\n        assert self.db\n"
    )
    workspace.write("tests/unit/test_one.py", source)
    workspace.write("tests/unit/test_two.py", source)
    assert workspace.lines("NC009") == [
        ("tests/unit/test_two.py", 1),
        ("tests/unit/test_two.py", 6),
    ]


def test_duplicates_within_one_file_are_not_this_rule(workspace) -> None:
    workspace.write(
        "tests/unit/test_one.py",
        "class A:\n    def setUp(self):\n        self.x = make()\n"
        "class B:\n    def setUp(self):\n        self.x = make()\n",
    )
    assert workspace.findings("NC009") == []


def test_fixtures_with_other_scope_or_autouse_are_not_copies(workspace) -> None:
    workspace.write("tests/a/conftest.py", FIXTURE)
    workspace.write(
        "tests/b/conftest.py",
        FIXTURE.replace("@pytest.fixture", '@pytest.fixture(scope="session")'),
    )
    workspace.write(
        "tests/c/conftest.py", FIXTURE.replace("@pytest.fixture", "@pytest.fixture(autouse=True)")
    )
    assert workspace.findings("NC009") == []


def test_independent_sub_projects_are_not_compared(workspace) -> None:
    workspace.write("examples/shop/pyproject.toml", "[project]\nname = 'shop'\n")
    workspace.write("examples/shop/tests/conftest.py", FIXTURE)
    workspace.write("examples/blog/setup.py", "")
    workspace.write("examples/blog/tests/conftest.py", FIXTURE)
    workspace.write("examples/blog/tests/more/conftest.py", FIXTURE)
    assert workspace.lines("NC009") == [("examples/blog/tests/more/conftest.py", 4)]
