"""A chat model on any OpenAI-compatible Chat Completions endpoint, streamed.

OpenAI, vLLM, Ollama, llama.cpp's server, LM Studio and LiteLLM all speak the
same streamed Chat Completions dialect; the official `openai` client talks to
all of them. Text arrives as deltas and is streamed on at once; tool calls
arrive split across chunks and are assembled by their index; token usage
arrives in a last chunk when `stream_options.include_usage` is asked for.

Retries (429, 408, 409, 5xx, connection errors and timeouts) are the client's
own: exponential backoff from 0.5 s with jitter, honouring `Retry-After`.
Whatever still fails becomes a `ModelError` with a stable code; the API key
never appears in its message.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
import orjson
from openai import AsyncOpenAI

from netra.agents.models.base import (
    ChatMessage,
    ModelError,
    ModelTurn,
    ToolCall,
    ToolSpec,
    TurnStream,
    Usage,
)
from netra.ids import new_id

log = logging.getLogger(__name__)

#: Sent when no key is configured: local servers ignore it, and the client insists on one.
NO_API_KEY = "not-needed"
#: How much of a provider's own error message reaches the run's agent_error.
PROVIDER_MESSAGE_CHARS = 300


@dataclass(frozen=True)
class EndpointConfig:
    """Where the model lives and how to talk to it."""

    base_url: str | None
    api_key: str | None = field(repr=False)  # a secret: never in a repr or a log line
    timeout: float
    max_retries: int


class OpenAIEndpoint:
    """One connection pool to one endpoint, shared by every run's model.

    Holds no per-user state: a run's conversation lives in its own
    `OpenAIChatModel` call, so sharing the pool shares only sockets.
    """

    def __init__(self, config: EndpointConfig) -> None:
        self._secret = config.api_key
        self.client = AsyncOpenAI(
            api_key=config.api_key or NO_API_KEY,
            base_url=config.base_url,
            timeout=config.timeout,
            max_retries=config.max_retries,
        )

    def model(self, name: str) -> OpenAIChatModel:
        """A chat model for one run."""
        return OpenAIChatModel(self, name)

    def scrub(self, text: str) -> str:
        """`text` without the API key, should a provider echo it back."""
        return text.replace(self._secret, "***") if self._secret else text

    async def close(self) -> None:
        await self.client.close()

    def __repr__(self) -> str:  # the client's repr is not ours to trust with the key
        return f"OpenAIEndpoint({str(self.client.base_url)!r})"


@dataclass
class _PartialCall:
    index: int | None
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class _TurnBuilder:
    """Accumulates one streamed response."""

    text: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    reasoning_sent: int = 0  # how many `reasoning` parts were already streamed as thinking
    calls: list[_PartialCall] = field(default_factory=list)
    usage: Usage | None = None  # stays None if the endpoint sends no usage chunk
    finish_reason: str | None = None

    def call_for(self, index: int | None, call_id: str | None) -> _PartialCall:
        """The partial call a tool-call delta continues, or a new one.

        OpenAI numbers parallel calls by `index`; some servers (Gemini's endpoint)
        send no index and tell calls apart only by a new `id` on a call's first delta.
        """
        for partial in reversed(self.calls):
            if index is not None and partial.index != index:
                continue
            if call_id and partial.id and partial.id != call_id:
                break  # a new id where the last call was: a new call
            return partial
        partial = _PartialCall(index)
        self.calls.append(partial)
        return partial

    def tool_calls(self) -> tuple[ToolCall, ...]:
        calls = []
        ordered = sorted(self.calls, key=lambda p: -1 if p.index is None else p.index)
        for position, partial in enumerate(ordered):
            if not partial.name:
                raise _malformed(f"tool call #{position} has no function name")
            try:
                arguments = json.loads(partial.arguments or "{}")
            except json.JSONDecodeError:
                raise _malformed(
                    f"the arguments of tool call {partial.name!r} are not valid JSON"
                ) from None
            if not isinstance(arguments, dict):
                raise _malformed(f"the arguments of tool call {partial.name!r} are not an object")
            # Some servers (llama.cpp) leave the id out; the engine needs one to pair events.
            calls.append(ToolCall(partial.id or new_id("tc"), partial.name, arguments))
        return tuple(calls)


class OpenAIChatModel:
    """`ChatModel` for one model name on an `OpenAIEndpoint`."""

    def __init__(self, endpoint: OpenAIEndpoint, model: str) -> None:
        self._endpoint = endpoint
        self.name = model

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        stream: TurnStream,
    ) -> ModelTurn:
        request: dict[str, Any] = {
            "model": self.name,
            "messages": [to_openai_message(m) for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            request["tools"] = [to_openai_tool(t) for t in tools]
        turn = _TurnBuilder()
        try:
            # `async with`: a cancelled run or a bad chunk must close the HTTP stream now,
            # not whenever the abandoned response happens to be garbage collected.
            # The official client makes the request (auth, retries, errors); the chunks
            # are read as plain JSON: building the client's model objects for every
            # chunk cost more CPU than the rest of an event's way to the socket.
            completions = self._endpoint.client.chat.completions
            async with completions.with_streaming_response.create(**request) as response:
                try:
                    async with contextlib.aclosing(_sse_data(response.iter_lines())) as chunks:
                        async for chunk in chunks:
                            await _absorb(turn, chunk, stream)
                except httpx2.TimeoutException:  # mid-stream, as the client's own stream says
                    raise openai.APITimeoutError(request=response.http_request) from None
                except httpx2.RequestError:
                    raise openai.APIConnectionError(request=response.http_request) from None
            await _stream_reasoning(turn, stream)
        except openai.APIError as exc:
            raise self._explain(exc) from None
        except _StreamError as exc:
            detail = self._endpoint.scrub(str(exc))[:PROVIDER_MESSAGE_CHARS]
            raise ModelError(
                "model_error", f"the model endpoint reported an error: {detail}"
            ) from None
        except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
            # Not JSON, or JSON of the wrong shape.
            log.warning("model %s sent a malformed chunk: %s", self.name, type(exc).__name__)
            problem = type(exc).__name__
            raise _malformed(f"the endpoint sent a malformed chunk ({problem})") from None
        return _finish(turn)

    def _explain(self, exc: openai.APIError) -> ModelError:
        """A ModelError a user can act on, for a failure the client did not retry away."""
        if isinstance(exc, openai.APITimeoutError):
            return ModelError("model_timeout", "the model endpoint did not answer in time")
        if isinstance(exc, openai.APIConnectionError):
            return ModelError(
                "model_unavailable",
                "could not reach the model endpoint; check NETRA_MODEL_BASE_URL",
            )
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            # The provider's text may quote part of the key: say nothing of it.
            return ModelError(
                "model_auth_failed",
                f"the model endpoint refused the API key (HTTP {exc.status_code}); "
                "check NETRA_MODEL_API_KEY",
            )
        detail = self._endpoint.scrub(str(exc.message))[:PROVIDER_MESSAGE_CHARS]
        if isinstance(exc, openai.RateLimitError):
            return ModelError("model_rate_limited", f"the endpoint is rate limiting: {detail}")
        if isinstance(exc, openai.NotFoundError):
            return ModelError(
                "model_not_found",
                f"the endpoint has no model {self.name!r} (HTTP 404); check NETRA_MODEL_NAME",
            )
        if isinstance(exc, openai.APIStatusError):
            code = "model_server_error" if exc.status_code >= 500 else "model_request_rejected"
            return ModelError(code, f"the model endpoint answered HTTP {exc.status_code}: {detail}")
        return ModelError("model_error", f"the model endpoint reported an error: {detail}")


class _StreamError(Exception):
    """The endpoint sent an error object in the middle of the stream."""


async def _sse_data(lines: AsyncIterator[str]) -> AsyncGenerator[dict[str, Any], None]:
    """The JSON objects a server-sent event stream carries, up to `data: [DONE]`.

    An event's `data:` lines are joined (the SSE rule); other fields and comments
    are ignored; an object with an `error` raises _StreamError with its message.
    """
    data: list[str] = []
    async for line in lines:
        if line:
            if line.startswith("data:"):
                data.append(line[6:] if line.startswith("data: ") else line[5:])
            continue
        if not data:
            continue
        payload = "\n".join(data)
        data.clear()
        if payload.startswith("[DONE]"):
            return
        chunk = orjson.loads(payload)
        if not isinstance(chunk, dict):
            raise TypeError("a chunk is not a JSON object")
        if error := chunk.get("error"):
            message = error.get("message") if isinstance(error, dict) else None
            raise _StreamError(message if isinstance(message, str) else "error in the stream")
        yield chunk


async def _absorb(turn: _TurnBuilder, chunk: dict[str, Any], stream: TurnStream) -> None:
    """Fold one chunk into `turn`, streaming any answer text on at once."""
    usage = chunk.get("usage")
    if usage is not None:
        turn.usage = Usage(
            int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        )
    for choice in chunk.get("choices") or ():
        if choice.get("index", 0) != 0:  # n=1 is all we ask for
            continue
        delta = choice.get("delta")
        if delta is not None:
            # Reasoning models on vLLM and others stream their thoughts beside the answer.
            reasoning = delta.get("reasoning_content")
            if isinstance(reasoning, str) and reasoning:
                turn.reasoning.append(reasoning)
            content, tool_calls = delta.get("content"), delta.get("tool_calls")
            if content or tool_calls:
                await _stream_reasoning(turn, stream)  # the thoughts come before the answer
            if content:
                if not isinstance(content, str):
                    raise TypeError("delta content is not a string")
                turn.text.append(content)
                await stream.text_delta(content)
            for call in tool_calls or ():
                index = call.get("index")
                call_id = call.get("id")
                partial = turn.call_for(None if index is None else int(index), call_id)
                partial.id = partial.id or (call_id or "")
                function = call.get("function")
                if function is not None:
                    partial.name += function.get("name") or ""
                    partial.arguments += function.get("arguments") or ""
        if choice.get("finish_reason"):
            turn.finish_reason = choice["finish_reason"]


async def _stream_reasoning(turn: _TurnBuilder, stream: TurnStream) -> None:
    """Stream the reasoning gathered so far as one thinking event, once."""
    pending = "".join(turn.reasoning[turn.reasoning_sent :])
    turn.reasoning_sent = len(turn.reasoning)
    if pending:
        await stream.thinking(pending)


def _finish(turn: _TurnBuilder) -> ModelTurn:
    if turn.finish_reason is None:
        raise _malformed("the stream ended before the model finished its answer")
    tool_calls = turn.tool_calls()
    text = "".join(turn.text)
    if not tool_calls and not text:
        raise _malformed(
            f"the model returned neither text nor tool calls (finish_reason={turn.finish_reason})"
        )
    return ModelTurn(
        thinking="".join(turn.reasoning) or None,
        text=text,
        tool_calls=tool_calls,
        usage=turn.usage,
    )


def _malformed(message: str) -> ModelError:
    return ModelError("model_bad_response", message)


def to_openai_message(message: ChatMessage) -> dict[str, Any]:
    """One conversation message in the Chat Completions shape."""
    if message.role == "tool":
        content = f"Error: {message.content}" if message.is_error else message.content
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": content}
    if message.role == "assistant" and message.tool_calls:
        return {
            "role": "assistant",
            "content": message.content or None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                }
                for call in message.tool_calls
            ],
        }
    return {"role": message.role, "content": message.content}


def to_openai_tool(tool: ToolSpec) -> dict[str, Any]:
    """One tool in the Chat Completions `tools` shape."""
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }
