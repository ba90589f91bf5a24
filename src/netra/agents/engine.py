"""The agent loop: model -> tool calls -> results -> model, until an answer or the step limit.

Tool-call ids are Netra's own (`tc_...`), unique per thread: a provider's ids
(`call_1`, reused by some endpoints across requests) are mapped to them as the
model returns them, and both are kept in `tool_executing` (`provider_call_id`).
The conversation sent back to the model uses Netra's ids, so a call and its
result always pair up, in this run and in a follow-up run.

Each model turn's text is its own message (`agent_message_delta.message_id`):
text before a tool call is one message, the answer another, and the answer's
id is the one `agent_completed` names and the thread's history stores.

Client tools (offered by a front end, such as AG-UI's `RunAgentInput.tools`)
are given to the model next to the agent's own; when the model calls one, the
run ends with an `Answer` that lists the calls for the client to run (see
`Answer.client_calls`), and a later run continues with their results.
"""

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
from netra.agents.models.base import ChatMessage, ToolCall, ToolSpec, Usage
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
class ClientTurn:
    """The model's last turn when it called client tools: what a follow-up run needs to
    show the model the conversation as it was (the turn's calls, with Netra's ids, and
    the results of those the agent ran itself)."""

    text: str
    calls: tuple[ToolCall, ...]
    results: tuple[ChatMessage, ...]  # role="tool", for the agent's own calls

    def as_data(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "tool_calls": [_call_data(call) for call in self.calls],
            "results": [
                {"tool_call_id": m.tool_call_id, "content": m.content, "is_error": m.is_error}
                for m in self.results
            ],
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ClientTurn:
        return cls(
            text=data.get("text", ""),
            calls=tuple(
                ToolCall(c["tool_call_id"], c["tool"], c.get("args") or {})
                for c in data["tool_calls"]
            ),
            results=tuple(
                ChatMessage(
                    "tool", r["content"], tool_call_id=r["tool_call_id"], is_error=r["is_error"]
                )
                for r in data.get("results", ())
            ),
        )


@dataclass(frozen=True)
class Answer:
    """How a run ended well: the agent's answer and the tokens it took (None when the
    provider reported none). With `client_calls`, the model asked the client to run
    those tools: the run ends here, and `turn` says how to continue."""

    message_id: str
    text: str
    usage: Usage | None
    client_calls: tuple[ToolCall, ...] = ()
    turn: ClientTurn | None = None


def _call_data(call: ToolCall) -> dict[str, Any]:
    return {"tool_call_id": call.id, "tool": call.name, "args": call.arguments}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class _EventStream:
    """Turns a model's streamed output into agent_thinking and agent_message_delta events."""

    def __init__(self, ctx: UserExecutionContext, message_id: str, *, must_think: bool) -> None:
        self._emit = ctx.emitter.emit
        self._message_id = message_id
        self._must_think = must_think  # a run shows some thinking before its answer
        self.thought = False
        self.texted = False  # answer text of this turn was streamed

    async def thinking(self, text: str) -> None:
        self.thought = True
        await self._emit(EventType.AGENT_THINKING, {"text": text})

    async def placeholder(self) -> None:
        """The thinking shown for a model that gave none of its own; marked, so that
        transports that have no use for it (AG-UI) can leave it out."""
        self.thought = True
        await self._emit(
            EventType.AGENT_THINKING, {"text": PLACEHOLDER_THOUGHT, "placeholder": True}
        )

    async def text_delta(self, delta: str) -> None:
        if self._must_think and not self.thought:
            # A model that streams its answer without reasoning: the placeholder goes
            # first, so thinking never follows the text it should precede.
            await self.placeholder()
        self.texted = True
        data = {"message_id": self._message_id, "delta": delta}
        await self._emit(EventType.AGENT_MESSAGE_DELTA, data)


class AgentEngine:
    """Runs one agent for one run. Emits thinking, tool and answer-delta events and
    returns the answer; the caller (RunSupervisor) starts and ends the run."""

    def __init__(self, max_steps: int, obs: Observability | None = None) -> None:
        self.max_steps = max_steps
        self._obs = obs or Observability()

    async def run(
        self,
        ctx: UserExecutionContext,
        agent: Agent,
        history: Sequence[ChatMessage],
        client_tools: Sequence[ToolSpec] = (),
    ) -> Answer:
        """Run the agent on `history` (the thread's, this run's input last). The model
        is offered the agent's tools and `client_tools` (a client tool named like one of
        the agent's is not offered: the agent's own wins)."""
        messages = [ChatMessage("system", agent.spec.system_prompt), *history]
        client = {tool.name: tool for tool in client_tools if tool.name not in agent.tools}
        specs = [tool.spec for tool in agent.tools.values()] + list(client.values())
        usage: Usage | None = None

        name, metrics = agent.spec.name, self._obs.metrics
        for step in range(self.max_steps):
            message_id = new_id("msg")  # each turn's text is a message of its own
            stream = _EventStream(ctx, message_id, must_think=step == 0)
            began = time.perf_counter()
            with self._obs.tracing.span("model call", {"netra.agent": name, "netra.step": step}):
                try:
                    turn = await agent.model.complete(messages, specs, stream)
                except asyncio.CancelledError:  # a cancel, or the run's timeout
                    metrics.model_called(name, time.perf_counter() - began, "cancelled")
                    raise
                except Exception:
                    metrics.model_called(name, time.perf_counter() - began, "error")
                    raise
            metrics.model_called(
                name,
                time.perf_counter() - began,
                "ok",
                tokens_in=turn.usage.prompt_tokens if turn.usage else 0,
                tokens_out=turn.usage.completion_tokens if turn.usage else 0,
            )
            if turn.usage is not None:
                usage = turn.usage if usage is None else usage + turn.usage
                ctx.meter.usage = usage  # analytics counts zero for a provider that says nothing
            if not stream.thought and (turn.thinking or step == 0):
                if turn.thinking:
                    await stream.thinking(turn.thinking)
                else:
                    await stream.placeholder()
            if not turn.tool_calls:
                return Answer(message_id, turn.text, usage)
            # Every call gets a new Netra id (some providers reuse theirs, even within a run).
            calls = tuple(ToolCall(new_id("tc"), c.name, c.arguments) for c in turn.tool_calls)
            messages.append(ChatMessage("assistant", turn.text, tool_calls=calls))
            # Tool calls belong to the text message of their turn, if it was streamed.
            parent = message_id if stream.texted else None
            own: list[ChatMessage] = []
            for call, original in zip(calls, turn.tool_calls, strict=True):
                if call.name in client:
                    continue
                own.append(await self._call_tool(ctx, agent, call, original.id, parent))
            messages.extend(own)
            waiting = tuple(call for call in calls if call.name in client)
            for _ in waiting:
                metrics.client_tool_called(name)
            if waiting:
                pending = ClientTurn(turn.text, calls, tuple(own))
                return Answer(message_id, turn.text, usage, waiting, pending)
        raise StepLimitError(f"the agent did not answer within {self.max_steps} steps")

    async def _call_tool(
        self,
        ctx: UserExecutionContext,
        agent: Agent,
        call: ToolCall,
        provider_id: str,
        parent: str | None,
    ) -> ChatMessage:
        executing: dict[str, Any] = {
            "tool_call_id": call.id,
            "tool": call.name,
            "args": call.arguments,
            "provider_call_id": provider_id,
        }
        if parent is not None:
            executing["message_id"] = parent
        await ctx.emitter.emit(EventType.TOOL_EXECUTING, executing)
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
