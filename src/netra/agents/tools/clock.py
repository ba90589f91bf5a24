"""clock: the current date and time, in UTC or a named time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from netra.agents.models.base import ToolSpec
from netra.agents.tools.base import Tool, ToolError

if TYPE_CHECKING:
    from netra.agents.context import UserExecutionContext


async def _run(ctx: UserExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    zone_name = args.get("timezone") or "UTC"
    try:
        zone = UTC if zone_name == "UTC" else ZoneInfo(str(zone_name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(f"unknown time zone {zone_name!r}") from None
    now = datetime.now(zone)
    return {"iso": now.isoformat(timespec="seconds"), "timezone": str(zone_name)}


CLOCK = Tool(
    ToolSpec(
        name="clock",
        description="The current date and time. Optional IANA `timezone`, default UTC.",
        parameters={"type": "object", "properties": {"timezone": {"type": "string"}}},
    ),
    _run,
)
