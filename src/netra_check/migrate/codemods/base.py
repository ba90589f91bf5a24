"""What every codemod shares: qualified names, line numbers and the list of refusals."""

from __future__ import annotations

import libcst as cst
from libcst.codemod import CodemodContext, VisitorBasedCodemodCommand
from libcst.metadata import ExpressionContextProvider, PositionProvider, QualifiedNameProvider

from netra_check.migrate.model import Refusal


class MigrationCodemod(VisitorBasedCodemodCommand):
    """A codemod that records the code it leaves alone instead of guessing."""

    name = ""
    METADATA_DEPENDENCIES = (PositionProvider, QualifiedNameProvider, ExpressionContextProvider)

    def __init__(self, context: CodemodContext, refusals: list[Refusal]) -> None:
        super().__init__(context)
        self.refusals = refusals

    def refuse(self, node: cst.CSTNode, reason: str) -> None:
        """Report `node` as left alone, on its first line."""
        line = self.get_metadata(PositionProvider, node).start.line
        refusal = Refusal(self.name, line, reason)
        if refusal not in self.refusals:
            self.refusals.append(refusal)

    def qualified(self, node: cst.CSTNode) -> set[str]:
        """The qualified names `node` may refer to (`unittest.TestCase`, `os.environ`)."""
        return {q.name for q in self.get_metadata(QualifiedNameProvider, node, set())}


def dotted(node: cst.BaseExpression) -> str | None:
    """`a.b.c` for a Name or an Attribute chain, else None."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = dotted(node.value)
        return None if head is None else f"{head}.{node.attr.value}"
    return None


def code(node: cst.CSTNode) -> str:
    """The source text of a node."""
    return cst.Module(body=[]).code_for_node(node)
