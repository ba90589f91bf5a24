"""Relative imports in test modules and conftests become absolute.

What it does:
    `from .helpers import make_user` in `tests/unit/test_x.py` becomes
    `from tests.unit.helpers import make_user`. The absolute name follows the
    `__init__.py` files above the module, as pytest's default (`prepend`)
    import mode names it, so the same module is imported.

Left alone, and reported:
    A relative import in a module that is not inside a package (no
    `__init__.py`), or one that climbs above the top-level package: there is
    no absolute name that is sure to import the same module.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod import CodemodContext

from netra_check.migrate.codemods.base import MigrationCodemod
from netra_check.migrate.model import Refusal


class RelativeToAbsoluteImports(MigrationCodemod):
    """See the module docstring."""

    name = "imports"
    DESCRIPTION = "relative imports in tests become absolute"

    def __init__(
        self, context: CodemodContext, refusals: list[Refusal], package: tuple[str, ...]
    ) -> None:
        super().__init__(context, refusals)
        self.package = package  # the package the module is in; () when it is in none

    def leave_ImportFrom(
        self, original_node: cst.ImportFrom, updated_node: cst.ImportFrom
    ) -> cst.ImportFrom:
        level = len(updated_node.relative)
        if not level:
            return updated_node
        if not self.package:
            self.refuse(original_node, "relative import in a module outside any package")
            return updated_node
        if level - 1 >= len(self.package):
            self.refuse(original_node, "relative import above the top-level package")
            return updated_node
        parts = list(self.package[: len(self.package) - (level - 1)])
        if updated_node.module is not None:
            parts.append(cst.Module(body=[]).code_for_node(updated_node.module))
        module = cst.parse_expression(".".join(parts))
        assert isinstance(module, cst.Attribute | cst.Name)
        return updated_node.with_changes(relative=(), module=module)
