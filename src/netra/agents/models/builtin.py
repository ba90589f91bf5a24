"""The builtin offline model: deterministic, instant, and honest about what it is.

It recognises four intents in the user's message (notes, timer, arithmetic,
time) and answers each through the matching tool; anything else gets a plain
answer saying it is the offline model. Same conversation in, same turn out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from netra.agents.models.base import (
    ChatMessage,
    ModelTurn,
    ToolCall,
    ToolSpec,
    TurnStream,
    Usage,
)
from netra.ids import new_id

_REMEMBER = re.compile(
    r"^\s*(?:please\s+)?(?:remember|note down|note)(?:\s+that)?[:,]?\s+(.+)$", re.I
)
_LIST_NOTES = re.compile(
    r"\b(?:what are my notes|(?:list|show) (?:my )?notes|my notes"
    r"|what did i ask you to remember)\b",
    re.I,
)
_TIMER = re.compile(
    r"\b(?:wait|sleep|pause|timer)\b(?:\s+for)?\s+(\d+(?:\.\d+)?)\s*(?:s|secs?|seconds?)\b", re.I
)
_ARITHMETIC = re.compile(r"[-+(]*\s*\d[\d\s.+\-*/%^()]*")
_OPERATOR = re.compile(r"\d\s*(?:\*\*|//|[-+*/%^])\s*[-+(]*\s*\d")
_TIME = re.compile(r"\b(?:time|date|day is it|clock)\b", re.I)

OFFLINE_ANSWER = (
    "I am Netra's builtin offline model, so I can only do a few things: arithmetic "
    "(try “What is 12 * (3 + 4)?”), tell the time, wait a few seconds, and remember notes "
    "for you (“remember buy milk”, then “what are my notes?”)."
)


def _words(text: str) -> int:
    return len(text.split())


def find_expression(text: str) -> str | None:
    """The longest arithmetic expression in `text`, if it contains an operator."""
    candidates = [m.group().strip() for m in _ARITHMETIC.finditer(text)]
    candidates = [c.rstrip(".") for c in candidates if _OPERATOR.search(c)]
    if not candidates:
        return None
    expression = max(candidates, key=len)
    # Keep parentheses balanced when the sentence ends inside the match.
    while expression.count(")") > expression.count("(") and expression.endswith(")"):
        expression = expression[:-1].rstrip()
    return expression


class BuiltinModel:
    """Deterministic offline model; see the module docstring."""

    name = "builtin"

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        stream: TurnStream,
    ) -> ModelTurn:
        available = {tool.name for tool in tools}
        prompt_tokens = sum(_words(m.content) for m in messages)
        last = messages[-1]
        if last.role == "tool":
            thinking, text = self._after_tool(messages)
        else:
            plan = self._plan(last.content, available)
            if plan is not None:
                thinking, call = plan
                tool_call = ToolCall(id=new_id("tc"), name=call[0], arguments=call[1])
                usage = Usage(prompt_tokens, _words(json.dumps(call[1])))
                return ModelTurn(thinking=thinking, tool_calls=(tool_call,), usage=usage)
            thinking, text = "No tool fits this request; answering directly.", OFFLINE_ANSWER
        await stream.thinking(thinking)
        for sentence in re.findall(r"[^.!?\n]+(?:[.!?\n]+|$)\s*", text):
            await stream.text_delta(sentence)
        return ModelTurn(thinking=thinking, text=text, usage=Usage(prompt_tokens, _words(text)))

    def _plan(
        self, text: str, available: set[str]
    ) -> tuple[str, tuple[str, dict[str, Any]]] | None:
        if "notes" in available:
            if match := _REMEMBER.match(text):
                note = match.group(1).strip()
                return "You asked me to remember something; saving it with the notes tool.", (
                    "notes",
                    {"action": "add", "text": note},
                )
            if _LIST_NOTES.search(text):
                return "You asked for your notes; reading them with the notes tool.", (
                    "notes",
                    {"action": "list"},
                )
        if "timer" in available and (match := _TIMER.search(text)):
            seconds = float(match.group(1))
            amount: int | float = int(seconds) if seconds.is_integer() else seconds
            return f"You asked me to wait {amount} seconds; starting the timer tool.", (
                "timer",
                {"seconds": amount},
            )
        if "calculator" in available and (expression := find_expression(text)):
            return f"This is arithmetic; evaluating `{expression}` with the calculator tool.", (
                "calculator",
                {"expression": expression},
            )
        if "clock" in available and _TIME.search(text):
            return "You asked for the time; reading the clock tool.", ("clock", {})
        return None

    def _after_tool(self, messages: Sequence[ChatMessage]) -> tuple[str, str]:
        result = messages[-1]
        call = next(
            (c for m in messages for c in m.tool_calls if c.id == result.tool_call_id), None
        )
        tool = call.name if call else "tool"
        args = call.arguments if call else {}
        if result.is_error:
            return (
                f"The {tool} tool failed; explaining the error.",
                f"The {tool} tool could not do that: {result.content}",
            )
        thinking = f"The {tool} tool answered; writing the reply."
        try:
            data = json.loads(result.content)
        except ValueError:  # a client tool's result can be any text
            return thinking, f"The {tool} tool returned: {result.content}"
        if tool == "calculator":
            return thinking, f"{data['expression']} = {data['value']}"
        if tool == "clock":
            return thinking, f"It is {data['iso']} ({data['timezone']})."
        if tool == "timer":
            return thinking, f"Done: I waited {data['waited_seconds']} seconds."
        if tool == "notes":
            notes = data["notes"]
            if args.get("action") == "add":
                return thinking, f"Noted. You have {len(notes)} note(s)."
            if not notes:
                return thinking, "You have no notes yet."
            return thinking, "Your notes:\n" + "\n".join(f"- {note}" for note in notes)
        return thinking, f"The {tool} tool returned: {result.content}"
