"""NC007 direct-environ: tests that read or write `os.environ` directly.

What it does:
    In test code, reports `os.environ`, `os.environb`, `os.getenv`, `os.putenv`
    and `os.unsetenv`, and `from os import environ` (or `getenv`...), each on its
    own line.

Why is this bad?
    The process environment is shared by every test in a worker. A test that
    sets a variable and fails before restoring it changes the configuration of
    every test that runs after it, and a test that reads it depends on the
    machine it runs on. Failures then move around with test order.

Example:
    ```python
    def test_uses_configured_model():
        os.environ["NETRA_MODEL"] = "scripted"
        assert load_settings().model == "scripted"
    ```

Use instead:
    ```python
    def test_uses_configured_model():
        env = IsolatedEnvironment(base={"NETRA_MODEL": "scripted"})
        assert load_settings(env).model == "scripted"
    ```
    (`netra.env.IsolatedEnvironment`, or pytest's `monkeypatch.setenv`, which restores it.)
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from netra_check.astutil import dotted_name
from netra_check.context import FileContext
from netra_check.model import Finding, Rule

ENV_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})
_OS_NAMES = frozenset(f"os.{name}" for name in ENV_NAMES)
_TEXT_HINTS = ("environ", "getenv", "putenv", "unsetenv")


class DirectEnviron(Rule):
    """See the module docstring."""

    id = "NC007"
    name = "direct-environ"
    summary = "direct os.environ / os.getenv in tests"
    hint = "use netra.env.IsolatedEnvironment (or monkeypatch.setenv) instead of os.environ"

    def check_file(self, ctx: FileContext) -> Iterator[Finding]:
        """Each line that touches the process environment directly."""
        if not ctx.role.is_test_code or ctx.tree is None:
            return
        if not any(hint in ctx.text for hint in _TEXT_HINTS):
            return
        lines: set[int] = set()
        for owner, node in ctx.owned_statements(ast.ImportFrom):
            assert isinstance(node, ast.ImportFrom)
            names = [a.name for a in node.names if a.name in ENV_NAMES]
            if node.module == "os" and names and node.lineno not in lines:
                lines.add(node.lineno)
                yield ctx.finding(
                    self, node.lineno, f"imports {', '.join(names)} from os", owner=owner
                )
        for owner, attribute in ctx.owned(ast.Attribute):
            assert isinstance(attribute, ast.Attribute)
            if attribute.attr not in ENV_NAMES or attribute.lineno in lines:
                continue
            name = dotted_name(attribute)
            if name in _OS_NAMES:
                lines.add(attribute.lineno)
                yield ctx.finding(self, attribute.lineno, f"uses {name} directly", owner=owner)
