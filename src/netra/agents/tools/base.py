"""The Tool type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netra.agents.models.base import ToolSpec

if TYPE_CHECKING:
    from netra.agents.context import UserExecutionContext

ToolFunction = Callable[["UserExecutionContext", dict[str, Any]], Awaitable[Any]]


class ToolError(Exception):
    """A failure the tool explains itself; its message is shown to the model and the user."""


@dataclass(frozen=True)
class Tool:
    spec: ToolSpec
    run: ToolFunction

    @property
    def name(self) -> str:
        return self.spec.name
