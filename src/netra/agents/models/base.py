"""The chat model interface, shaped after the Chat Completions API so real providers map 1:1."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]


class TurnStream(Protocol):
    """Where a model streams a turn as it is produced: reasoning first, then answer text."""

    async def thinking(self, text: str) -> None: ...

    async def text_delta(self, delta: str) -> None: ...


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None  # set on role="tool": which call this answers
    is_error: bool = False  # a tool message that carries an error instead of a result


@dataclass(frozen=True)
class ToolSpec:
    """What the model is told about a tool."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True)
class ModelTurn:
    """One model response: visible reasoning, then either tool calls or a final answer."""

    thinking: str | None = None
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None  # None: the provider reported no usage


class ModelError(Exception):
    """The model provider failed; `code` ends up in the run's agent_error event."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ChatModel(Protocol):
    """A model that takes the conversation so far and returns its next turn."""

    name: str

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        stream: TurnStream,
    ) -> ModelTurn:
        """The next turn. A model may stream parts of it to `stream`; whatever it
        returns in `ModelTurn.thinking` is emitted unless already streamed."""
        ...
