"""The agent loop: model -> tool calls -> results -> model, until an answer or the step limit."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from netra.agents.context import UserExecutionContext
from netra.agents.models.base import ChatMessage, ToolCall, Usage
from netra.agents.registry import Agent
from netra.agents.tools import ToolError
from netra.ids import new_id
from netra.observability import Observability
from netra.realtime.events import EventType

log = logging.getLogger(__name__)


class StepLimitError(Exception):
    """The model kept calling tools past the step limit."""


PLACEHOLDER_THOUGHT = "Thinking…"  # for a model that gives no reasoning of its own


@dataclass(frozen=True)
class Answer:
    """How a run ended well: the agent's answer and the tokens it took."""

    message_id: str
    text: str
    usage: Usage


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class _EventStream:
    """Turns a model's streamed output into agent_thinking and agent_message_delta events."""

    def __init__(self, ctx: UserExecutionContext, message_id: str, *, must_think: bool) -> None:
        self._emit = ctx.emitter.emit
        self._message_id = message_id
        self._must_think = must_think  # a run shows some thinking before its answer
        self.thought = False

    async def thinking(self, text: str) -> None:
        self.thought = True
        await self._emit(EventType.AGENT_THINKING, {"text": text})

    async def text_delta(self, delta: str) -> None:
        if self._must_think and not self.thought:
            # A model that streams its answer without reasoning: the placeholder goes
            # first, so thinking never follows the text it should precede.
            await self.thinking(PLACEHOLDER_THOUGHT)
        data = {"message_id": self._message_id, "delta": delta}
        await self._emit(EventType.AGENT_MESSAGE_DELTA, data)


class AgentEngine:
    """Runs one agent for one run. Emits thinking, tool and answer-delta events and
    returns the answer; the caller (RunSupervisor) starts and ends the run."""

    def __init__(self, max_steps: int, obs: Observability | None = None) -> None:
        self.max_steps = max_steps
        self._obs = obs or Observability()

    async def run(
        self, ctx: UserExecutionContext, agent: Agent, history: Sequence[ChatMessage]
    ) -> Answer:
        messages = [ChatMessage("system", agent.spec.system_prompt), *history]
        specs = [tool.spec for tool in agent.tools.values()]
        usage = Usage()
        message_id = new_id("msg")

        name, metrics = agent.spec.name, self._obs.metrics
        for step in range(self.max_steps):
            stream = _EventStream(ctx, message_id, must_think=step == 0)
            began = time.perf_counter()
            with self._obs.tracing.span("model call", {"netra.agent": name, "netra.step": step}):
                try:
                    turn = await agent.model.complete(messages, specs, stream)
                except Exception:  # (a cancelled request is neither)
                    metrics.model_called(name, time.perf_counter() - began, ok=False)
                    raise
            metrics.model_called(
                name,
                time.perf_counter() - began,
                ok=True,
                tokens_in=turn.usage.prompt_tokens,
                tokens_out=turn.usage.completion_tokens,
            )
            usage += turn.usage
            if not stream.thought and (turn.thinking or step == 0):
                await stream.thinking(turn.thinking or PLACEHOLDER_THOUGHT)
            if not turn.tool_calls:
                return Answer(message_id, turn.text, usage)
            messages.append(ChatMessage("assistant", turn.text, tool_calls=turn.tool_calls))
            for call in turn.tool_calls:
                messages.append(await self._call_tool(ctx, agent, call))
        raise StepLimitError(f"the agent did not answer within {self.max_steps} steps")

    async def _call_tool(
        self, ctx: UserExecutionContext, agent: Agent, call: ToolCall
    ) -> ChatMessage:
        await ctx.emitter.emit(
            EventType.TOOL_EXECUTING,
            {"tool_call_id": call.id, "tool": call.name, "args": call.arguments},
        )
        started = time.perf_counter()
        outcome: dict[str, Any]
        tool = agent.tools.get(call.name)
        # A label, so bounded: a name the model made up is not one of the agent's tools.
        known = call.name if tool is not None else "unknown"
        with self._obs.tracing.span("tool call", {"netra.tool": known}) as span:
            try:
                if tool is None:
                    raise ToolError(f"unknown tool {call.name!r}")
                result = await tool.run(ctx, dict(call.arguments))
                orjson.dumps(result)  # events and messages must hold it as JSON
                outcome = {"result": result}
            except ToolError as exc:
                outcome = {"error": str(exc)}
            except Exception as exc:  # a broken tool must not break the run
                log.exception("tool %s failed in run %s", call.name, ctx.run_id)
                outcome = {"error": f"{type(exc).__name__}: {exc}"}
            except asyncio.CancelledError:  # the run was cancelled or timed out meanwhile
                self._obs.metrics.tool_called(agent.spec.name, known, "cancelled")
                raise
            span.set_attribute("netra.outcome", "error" if "error" in outcome else "ok")
        self._obs.metrics.tool_called(
            agent.spec.name, known, "error" if "error" in outcome else "ok"
        )
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        await ctx.emitter.emit(
            EventType.TOOL_COMPLETED,
            {"tool_call_id": call.id, "tool": call.name, **outcome, "duration_ms": duration_ms},
        )
        if "error" in outcome:
            return ChatMessage("tool", outcome["error"], tool_call_id=call.id, is_error=True)
        return ChatMessage("tool", _json(outcome["result"]), tool_call_id=call.id)
