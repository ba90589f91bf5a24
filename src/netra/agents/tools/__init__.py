"""Tools an agent can call. Each tool is a spec plus an async function of (context, args)."""

from __future__ import annotations

from netra.agents.tools.base import Tool, ToolError
from netra.agents.tools.calculator import CALCULATOR
from netra.agents.tools.clock import CLOCK
from netra.agents.tools.notes import NOTES
from netra.agents.tools.timer import TIMER

BUILTIN_TOOLS: tuple[Tool, ...] = (CALCULATOR, CLOCK, NOTES, TIMER)

__all__ = ["BUILTIN_TOOLS", "Tool", "ToolError"]
