"""calculator: evaluates arithmetic safely (numbers and + - * / // % ** only)."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from netra.agents.models.base import ToolSpec
from netra.agents.tools.base import Tool, ToolError

if TYPE_CHECKING:
    from netra.agents.context import UserExecutionContext

MAX_EXPRESSION_LENGTH = 200
MAX_EXPONENT = 1000
MAX_RESULT_BITS = 4096  # about 1,233 digits: 2 ** 1000 fits, runaway towers do not

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}


def evaluate(expression: str) -> int | float:
    """Evaluate an arithmetic expression, or raise ToolError saying what is wrong."""
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ToolError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(expression.replace("^", "**"), mode="eval")
    except SyntaxError:
        raise ToolError(f"not an arithmetic expression: {expression!r}") from None
    try:
        value = _eval(tree.body)
    except ZeroDivisionError:
        raise ToolError("division by zero") from None
    except OverflowError:
        raise ToolError("the result is too large") from None
    if isinstance(value, complex) or (isinstance(value, float) and not math.isfinite(value)):
        raise ToolError("the result is not a finite real number")
    return value


def _checked(value: int | float) -> int | float:
    if isinstance(value, int) and value.bit_length() > MAX_RESULT_BITS:
        raise ToolError("the result is too large")
    return value


def _eval(node: ast.expr) -> int | float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value: int | float = node.value  # type: ignore[assignment]
        return value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            if abs(right) > MAX_EXPONENT:
                raise ToolError(f"exponent larger than {MAX_EXPONENT}")
            # Refuse before computing: a huge power would block the event loop.
            exact = isinstance(left, int) and isinstance(right, int) and right > 0
            if exact and int(left).bit_length() * right > MAX_RESULT_BITS:
                raise ToolError("the result is too large")
        return _checked(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_eval(node.operand)))
    raise ToolError("only numbers, parentheses and + - * / // % ** are allowed")


def _tidy(value: int | float) -> int | float:
    return int(value) if isinstance(value, float) and value.is_integer() else value


async def _run(ctx: UserExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    expression = args.get("expression")
    if not isinstance(expression, str) or not expression.strip():
        raise ToolError("`expression` must be a non-empty string")
    return {"expression": expression, "value": _tidy(evaluate(expression))}


CALCULATOR = Tool(
    ToolSpec(
        name="calculator",
        description="Evaluate an arithmetic expression such as 12 * (3 + 4).",
        parameters={
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
        },
    ),
    _run,
)
