"""notes: remembers short notes for the user, in the user's own state scope.

The notes are one capped list, added to with the store's atomic append: two runs
of the same user adding notes at once both keep theirs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netra.agents.models.base import ToolSpec
from netra.agents.tools.base import Tool, ToolError

if TYPE_CHECKING:
    from netra.agents.context import UserExecutionContext

MAX_NOTES = 100
MAX_NOTE_LENGTH = 500
KEY = "notes"


async def _run(ctx: UserExecutionContext, args: dict[str, Any]) -> dict[str, Any]:
    action = args.get("action", "list")
    if action == "list":
        return {"notes": await ctx.user_state.items(KEY)}
    if action == "clear":
        await ctx.user_state.delete(KEY)
        return {"notes": []}
    if action != "add":
        raise ToolError(f"unknown action {action!r}; use add, list or clear")
    text = args.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ToolError("`text` must be a non-empty string")
    if len(text) > MAX_NOTE_LENGTH:
        raise ToolError(f"a note is at most {MAX_NOTE_LENGTH} characters")
    return {"notes": await ctx.user_state.append(KEY, text.strip(), MAX_NOTES)}


NOTES = Tool(
    ToolSpec(
        name="notes",
        description="Remember notes for this user: action add (with text), list or clear.",
        parameters={
            "type": "object",
            "properties": {
                "action": {"type": "string", "enum": ["add", "list", "clear"]},
                "text": {"type": "string"},
            },
            "required": ["action"],
        },
    ),
    _run,
)
