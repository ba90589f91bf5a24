"""timer: waits a number of seconds; shows a long-running tool call and its cancellation."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from netra.agents.models.base import ToolSpec
from netra.agents.tools.base import Tool, ToolError

if TYPE_CHECKING:
    from netra.agents.context import UserExecutionContext

MAX_SECONDS = 300


async def _run(ctx: UserExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    seconds = args.get("seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        raise ToolError("`seconds` must be a number")
    if not 0 <= seconds <= MAX_SECONDS:
        raise ToolError(f"`seconds` must be between 0 and {MAX_SECONDS}")
    await asyncio.sleep(seconds)
    return {"waited_seconds": seconds}


TIMER = Tool(
    ToolSpec(
        name="timer",
        description=f"Wait the given number of seconds (at most {MAX_SECONDS}).",
        parameters={
            "type": "object",
            "properties": {"seconds": {"type": "number"}},
            "required": ["seconds"],
        },
    ),
    _run,
)
