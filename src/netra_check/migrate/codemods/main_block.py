"""`if __name__ == "__main__": unittest.main()` blocks are removed from test modules.

What it does:
    Removes a module-level `if __name__ == "__main__":` block whose every
    statement runs the tests: `unittest.main(...)`, `pytest.main(...)`, either
    wrapped in `sys.exit(...)` or `raise SystemExit(...)`. Imports that only
    the block used are removed too. The canonical runner (`netra test`, or
    pytest through the plugin) runs the module instead.

Left alone, and reported:
    A `__main__` block that does anything else as well, or has an `else`: what
    it does beyond running the tests is for a person to move.
"""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m
from libcst.codemod.visitors import RemoveImportsVisitor

from netra_check.migrate.codemods.base import MigrationCodemod

RUNNERS = frozenset({"unittest.main", "pytest.main", "pytest.console_main", "unittest.TestProgram"})
EXITS = frozenset({"sys.exit", "builtins.exit", "builtins.SystemExit", "builtins.quit"})

_MAIN_TEST = m.Comparison(
    left=m.Name("__name__"),
    comparisons=[m.ComparisonTarget(operator=m.Equal(), comparator=m.SimpleString())],
) | m.Comparison(
    left=m.SimpleString(),
    comparisons=[m.ComparisonTarget(operator=m.Equal(), comparator=m.Name("__name__"))],
)


class RemoveMainBlock(MigrationCodemod):
    """See the module docstring."""

    name = "main"
    DESCRIPTION = "if __name__ == '__main__' blocks that only run the tests are removed"

    _top_level: frozenset[int] = frozenset()

    def visit_Module(self, node: cst.Module) -> None:
        self._top_level = frozenset(id(statement) for statement in node.body)

    def _runner_calls(self, expression: cst.BaseExpression) -> list[cst.Call] | None:
        """The runner calls `expression` is made of (with their exit wrappers), or None."""
        if not isinstance(expression, cst.Call):
            return None
        names = self.qualified(expression.func)
        if names & RUNNERS:
            return [expression]
        if names & EXITS and len(expression.args) == 1:
            inner = self._runner_calls(expression.args[0].value)
            return None if inner is None else [expression, *inner]
        return None

    def leave_If(self, original_node: cst.If, updated_node: cst.If) -> cst.If | cst.RemovalSentinel:
        test = original_node.test
        if not m.matches(test, _MAIN_TEST) or "__main__" not in cst.Module([]).code_for_node(test):
            return updated_node
        if id(original_node) not in self._top_level:
            return updated_node
        calls: list[cst.Call] = []
        # `if ...:` then an indented block holds statements; `if ...: unittest.main()` on
        # one line (a SimpleStatementSuite) holds the small statements themselves.
        body = original_node.body
        lines = (
            [cst.SimpleStatementLine(body.body)]
            if isinstance(body, cst.SimpleStatementSuite)
            else body.body
        )
        for statement in lines:
            small: list[cst.BaseSmallStatement | None] = [None]
            if isinstance(statement, cst.SimpleStatementLine):
                small = list(statement.body)
            for part in small:
                found = None
                if isinstance(part, cst.Expr):
                    found = self._runner_calls(part.value)
                elif isinstance(part, cst.Raise) and part.exc is not None:
                    found = self._runner_calls(part.exc)
                if found is None:
                    self.refuse(original_node, "the __main__ block does more than run the tests")
                    return updated_node
                calls += found
        if original_node.orelse is not None:
            self.refuse(original_node, "the __main__ block has an else branch")
            return updated_node
        for call in calls:
            RemoveImportsVisitor.remove_unused_import_by_node(self.context, call.func)
        return cst.RemoveFromParent()
