"""NC004 mock-in-real-service-test: mocks in the categories that must use real services.

What it does:
    In the categories listed in `no_mock_categories` (default `integration` and
    `e2e`), reports: imports of mocking libraries (`unittest.mock`, `mock`,
    `pytest_mock`, `asynctest`, `fakeredis`, `responses`, `respx`,
    `requests_mock`, `aioresponses`, `pytest_httpx`, `httpretty`, `moto`), and the
    mock names a test package re-exports (`from tests import mock`,
    `from tests.compat import MagicMock`, `from .support import patch`); calls
    to anything bound by those imports (`MagicMock()`, `AsyncMock()`,
    `patch(...)`, `@patch.object(...)`, `mock.patch.dict(...)`); a test or fixture
    that requests pytest-mock's `mocker` fixture; and `monkeypatch.setattr`,
    `delattr`, `setitem` and `delitem`, which replace code the same way `patch` does.
    `monkeypatch.setenv`, `delenv`, `chdir` and `syspath_prepend` are allowed: they
    change the environment, not the code under test.

Why is this bad?
    An integration test that mocks the database, Redis or the model provider tests
    the mock. It passes while the real wiring (queries, serialisation, timeouts,
    reconnects) is broken, which is exactly what the category exists to catch.

Example:
    ```python
    # tests/integration/test_runs.py
    from unittest.mock import AsyncMock

    async def test_run_is_persisted(service):
        service.repo.save = AsyncMock()
        await service.start_run("hi")
        service.repo.save.assert_awaited_once()
    ```

Use instead:
    ```python
    # tests/integration/test_runs.py
    async def test_run_is_persisted(service, db):
        run = await service.start_run("hi")
        assert await db.get_run(run.id) is not None
    ```
    Mocks belong in `tests/unit`, around code that has no I/O of its own.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from netra_check.astutil import dotted_name, parameter_names
from netra_check.context import FileContext
from netra_check.model import Finding, Rule

MOCK_MODULES = frozenset(
    {
        "unittest.mock",
        "mock",
        "pytest_mock",
        "asynctest",
        "fakeredis",
        "responses",
        "respx",
        "requests_mock",
        "aioresponses",
        "pytest_httpx",
        "httpretty",
        "moto",
    }
)
_PATCHING_MONKEYPATCH = frozenset({"setattr", "delattr", "setitem", "delitem"})
_TEXT_HINTS = ("mock", "Mock", "patch", "mocker", "fake", "responses", "respx", "moto", "httpretty")


# Mock names a test package re-exports (`from tests import mock`, `from .compat import Mock`).
_MOCK_NAMES = frozenset({"mock", "Mock", "MagicMock", "AsyncMock", "NonCallableMock", "patch"})
_TEST_PACKAGES = frozenset({"tests", "test", "testing"})


def _reexports_mock(node: ast.ImportFrom) -> list[ast.alias]:
    head = (node.module or "").split(".", 1)[0]
    if node.level == 0 and head not in _TEST_PACKAGES:
        return []
    return [a for a in node.names if a.name in _MOCK_NAMES]


def _is_mock_module(module: str) -> bool:
    return module in MOCK_MODULES or module.split(".", 1)[0] in MOCK_MODULES


class MockInRealServiceTest(Rule):
    """See the module docstring."""

    id = "NC004"
    name = "mock-in-real-service-test"
    summary = "mocks in integration/e2e tests, which must use real services"
    hint = "use the real service fixtures; move mock-based tests to tests/unit"

    def check_file(self, ctx: FileContext) -> Iterator[Finding]:
        """Mock imports, uses of the names they bind, `mocker`, code-patching monkeypatch."""
        category = ctx.role.category
        if category is None or category not in ctx.config.no_mock_categories or ctx.tree is None:
            return
        text = ctx.text
        if not any(hint in text for hint in _TEXT_HINTS):
            return
        where = f"{category} tests must use real services"
        reported: set[int] = set()
        bound: set[str] = set()

        def once(finding: Finding) -> Iterator[Finding]:
            if finding.line not in reported:
                reported.add(finding.line or 0)
                yield finding

        for owner, node in ctx.owned_statements(ast.Import):
            assert isinstance(node, ast.Import)
            for alias in node.names:
                if _is_mock_module(alias.name):
                    bound.add(alias.asname or alias.name)
                    yield from once(
                        ctx.finding(
                            self, node.lineno, f"imports {alias.name}; {where}", owner=owner
                        )
                    )
        for owner, node in ctx.owned_statements(ast.ImportFrom):
            assert isinstance(node, ast.ImportFrom)
            module = node.module or ""
            names = [a for a in node.names if module == "unittest" and a.name == "mock"]
            if _is_mock_module(module):
                names = list(node.names)
            elif not names:
                names = _reexports_mock(node)
            if names:
                bound.update(a.asname or a.name for a in names)
                shown = ", ".join(a.name for a in names)
                yield from once(
                    ctx.finding(
                        self, node.lineno, f"imports {shown} from {module}; {where}", owner=owner
                    )
                )
        for owner, call in ctx.owned(ast.Call):
            assert isinstance(call, ast.Call)
            name = dotted_name(call.func)
            if name is None:
                continue
            head, _, attr = name.partition(".")
            if any(name == b or name.startswith(b + ".") for b in bound):
                yield from once(
                    ctx.finding(self, call.lineno, f"calls {name}(); {where}", owner=owner)
                )
            elif head == "monkeypatch" and attr in _PATCHING_MONKEYPATCH:
                yield from once(
                    ctx.finding(
                        self,
                        call.lineno,
                        f"monkeypatch.{attr} replaces code under test; {where}",
                        owner=owner,
                    )
                )
        for function in ctx.functions():
            if "mocker" in parameter_names(function.function):
                yield from once(
                    ctx.finding(
                        self,
                        function.line,
                        f"{function.qualname!r} requests the pytest-mock `mocker` fixture; {where}",
                        anchor=f"{function.qualname}|mocker",
                        span=function.span,
                    )
                )
