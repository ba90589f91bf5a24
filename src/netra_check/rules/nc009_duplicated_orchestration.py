"""NC009 duplicated-orchestration: the same fixture or helper defined again in several files.

What it does:
    Compares every fixture, helper function and setup/teardown method in test
    code across files. Two definitions are the same when they have the same name
    and the same normalised body: the parameters and statements compared as
    syntax trees, so formatting, comments and docstrings do not matter. Every
    copy after the first (in path order) is reported, pointing at the first.
    Trivial bodies (no call and a single statement, e.g. `return 3`) are ignored.
    Decorators are part of the comparison (`scope=`, `autouse=`, `params=`), and
    files in different sub-projects (a folder below the root with its own
    `pyproject.toml`, `setup.py` or `setup.cfg`, such as `examples/*`) are never
    compared with each other.

Why is this bad?
    Copies drift. When the way a server is started or a database is cleaned
    changes, some copies get the fix and others do not, and tests in different
    folders run against differently prepared worlds.

Example:
    ```python
    # tests/integration/test_threads.py and tests/integration/test_runs.py
    @pytest.fixture
    async def client(server):
        async with httpx.AsyncClient(base_url=server.url) as c:
            yield c
    ```

Use instead:
    Define the fixture once in the nearest shared `conftest.py` (or in
    `netra.testing`) and let both files request it.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from netra_check.astutil import body_without_docstring, fixture_alias, is_fixture
from netra_check.context import FileContext
from netra_check.model import Finding, Rule
from netra_check.project import Project

SETUP_METHODS = frozenset(
    {
        "setUp",
        "tearDown",
        "asyncSetUp",
        "asyncTearDown",
        "setUpClass",
        "tearDownClass",
        "setup_method",
        "teardown_method",
        "setup_class",
        "teardown_class",
    }
)


def _calls_anything(body: list[ast.stmt]) -> bool:
    return any(isinstance(node, ast.Call) for stmt in body for node in ast.walk(stmt))


class Orchestration(NamedTuple):
    """A fixture or helper, identified by name and normalised body."""

    name: str
    qualname: str
    kind: str
    line: int
    span: tuple[int, int]
    digest: str


# Fixture arguments that say what pytest assumes anyway.
_DEFAULT_KEYWORDS = frozenset({("scope", "function"), ("autouse", False)})


def _decorator(node: ast.expr) -> str:
    """A decorator as compared: `@fixture()` and `@fixture(scope="function")` are `@fixture`."""
    if isinstance(node, ast.Call):
        keywords = [
            k
            for k in node.keywords
            if not (
                isinstance(k.value, ast.Constant) and (k.arg, k.value.value) in _DEFAULT_KEYWORDS
            )
        ]
        if not node.args and not keywords:
            node = node.func
        else:
            node = ast.Call(node.func, node.args, keywords)
    return ast.dump(node, annotate_fields=False)


def normalised_digest(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """Hash of the decorators, parameters and body, ignoring formatting, comments, docstring.

    None for a body too deeply nested to dump (`ast.dump` recurses); it is not compared.
    """
    try:
        # Decorators too: the same body with another `scope=` or `autouse=` is another fixture.
        parts = [_decorator(d) for d in node.decorator_list]
        parts.append(ast.dump(node.args, annotate_fields=False))
        parts.extend(
            ast.dump(stmt, annotate_fields=False) for stmt in body_without_docstring(node.body)
        )
    except RecursionError:
        return None
    return hashlib.blake2b("\n".join(parts).encode(), digest_size=12).hexdigest()


_PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")


def _subproject(root: Path, directory: str, memo: dict[str, str]) -> str:
    """The nearest folder below the root that is a project of its own ("" for the root).

    Each `examples/*` with its own pyproject.toml is independent: a fixture it
    shares with another example is not a copy to merge.
    """
    found = memo.get(directory)
    if found is None:
        if not directory:
            found = ""
        elif any((root / directory / name).is_file() for name in _PROJECT_FILES):
            found = directory
        else:
            found = _subproject(root, directory.rpartition("/")[0], memo)
        memo[directory] = found
    return found


class DuplicatedOrchestration(Rule):
    """See the module docstring."""

    id = "NC009"
    name = "duplicated-orchestration"
    summary = "the same fixture/helper defined again in several files"
    hint = "define it once in a shared conftest.py or helper module and reuse it"

    def collect(self, ctx: FileContext) -> list[Orchestration] | None:
        """Fixtures, module-level helpers and setup methods with a non-trivial body."""
        # A package's `__main__.py` is a program under test (test data), not orchestration.
        if not ctx.role.is_test_code or ctx.tree is None or ctx.rel.endswith("__main__.py"):
            return None
        found = []
        for definition in ctx.functions():
            if definition.is_test:
                continue
            node = definition.function
            fixture = is_fixture(node)
            if definition.kind == "method" and not fixture and node.name not in SETUP_METHODS:
                continue
            body = body_without_docstring(node.body)
            if len(body) < 2 and not _calls_anything(body):
                continue
            digest = normalised_digest(node)
            if digest is None:
                continue
            kind = "fixture" if fixture else "helper"
            found.append(
                Orchestration(
                    fixture_alias(node) or node.name,
                    definition.qualname,
                    kind,
                    node.lineno,
                    definition.span,
                    digest,
                )
            )
        return found or None

    def check_project(self, project: Project) -> Iterator[Finding]:
        """Every copy after the first of a definition repeated across files."""
        groups: dict[tuple[str, str, str], list[tuple[str, Orchestration]]] = {}
        owners: dict[str, str] = {}
        for path, items in project.facts(self.id):
            owner = _subproject(project.root, path.rpartition("/")[0], owners)
            for item in items:
                groups.setdefault((owner, item.name, item.digest), []).append((path, item))
        for copies in groups.values():
            if len({path for path, _ in copies}) < 2:
                continue
            copies.sort(key=lambda c: (c[0], c[1].line))
            first_path, first = copies[0]
            for path, item in copies[1:]:
                if path == first_path:
                    continue
                yield Finding(
                    rule_id=self.id,
                    path=path,
                    line=item.line,
                    message=f"{item.kind} {item.qualname!r} repeats {first_path}:{first.line} "
                    f"({len(copies)} copies with the same body)",
                    anchor=f"{item.qualname}|duplicate",
                    span_start=item.span[0],
                    span_end=item.span[1],
                )
