"""NC008 relative-import: relative imports in test modules.

What it does:
    Reports `from . import x` and `from ..helpers import y` in test modules and
    `conftest.py` files. Other modules under a test folder are left alone: they
    may be inputs to a test (a package a test builds or type-checks).

Why is this bad?
    Test folders are not always packages: whether a relative import works
    depends on `__init__.py` files, pytest's import mode and the directory the
    run started from, so the same test passes under one runner and fails to be
    collected under another. Absolute imports say where the code lives.

Example:
    ```python
    from .helpers import make_user
    ```

Use instead:
    ```python
    from netra.testing.factories import make_user
    ```
    Shared helpers belong in an importable module (or a conftest fixture).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from netra_check.context import FileContext
from netra_check.model import Finding, Rule


class RelativeImport(Rule):
    """See the module docstring."""

    id = "NC008"
    name = "relative-import"
    summary = "relative imports in tests"
    hint = "import by absolute module path; move shared helpers into an importable module"

    def check_file(self, ctx: FileContext) -> Iterator[Finding]:
        """Every relative import, on its line."""
        # Test modules and conftests only: other modules under a test folder may be
        # packages that are inputs to a test (SQLAlchemy's mypy stubs), not tests.
        is_conftest = ctx.rel.rpartition("/")[2] == "conftest.py"
        if not (ctx.role.is_test_file or is_conftest) or ctx.tree is None:
            return
        for owner, node in ctx.owned_statements(ast.ImportFrom):
            assert isinstance(node, ast.ImportFrom)
            if node.level:
                target = "." * node.level + (node.module or "")
                names = ", ".join(a.name for a in node.names)
                yield ctx.finding(
                    self, node.lineno, f"relative import: from {target} import {names}", owner=owner
                )
