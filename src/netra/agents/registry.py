"""The agent registry: named agent specs, and a fresh agent built from a spec per run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from netra.agents.models.base import ChatModel
from netra.agents.models.builtin import BuiltinModel
from netra.agents.tools import BUILTIN_TOOLS, Tool

ModelFactory = Callable[[], ChatModel]
Closer = Callable[[], Awaitable[None]]  # releases a shared resource, such as a connection pool

DEFAULT_SYSTEM_PROMPT = (
    "You are Netra's assistant. Use the tools when they help; answer briefly and plainly."
)


@dataclass(frozen=True)
class AgentSpec:
    """An agent's recipe; immutable and shared. Never holds per-run state."""

    name: str
    description: str
    model: str = "builtin"
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    tools: tuple[str, ...] = ("calculator", "clock", "notes", "timer")


@dataclass
class Agent:
    """One run's agent instance: a spec with its own model client and tools."""

    spec: AgentSpec
    model: ChatModel
    tools: dict[str, Tool]


class UnknownAgentError(LookupError):
    pass


class AgentRegistry:
    def __init__(
        self,
        specs: Iterable[AgentSpec],
        tools: Iterable[Tool],
        models: Mapping[str, ModelFactory],
        closers: Iterable[Closer] = (),
    ) -> None:
        self._closers = list(closers)
        self._specs = {spec.name: spec for spec in specs}
        self._tools = {tool.name: tool for tool in tools}
        self._models = dict(models)
        for spec in self._specs.values():
            missing = [name for name in spec.tools if name not in self._tools]
            if missing:
                raise ValueError(f"agent {spec.name!r} uses unknown tools {missing}")
            if spec.model not in self._models:
                raise ValueError(f"agent {spec.name!r} uses unknown model {spec.model!r}")

    def names(self) -> list[str]:
        return sorted(self._specs)

    def spec(self, name: str) -> AgentSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownAgentError(
                f"unknown agent {name!r}; available: {', '.join(self.names())}"
            ) from None

    def build(self, name: str) -> Agent:
        """A new agent for one run: nothing mutable is shared with other runs."""
        spec = self.spec(name)
        return Agent(
            spec=spec,
            model=self._models[spec.model](),
            tools={tool: self._tools[tool] for tool in spec.tools},
        )

    async def close(self) -> None:
        """Release what the models share (connection pools); called once at shutdown."""
        closers, self._closers = self._closers, []
        for close in closers:
            await close()


def default_registry() -> AgentRegistry:
    """The agents Netra ships with."""
    return AgentRegistry(
        specs=[AgentSpec("assistant", "General assistant with calculator, clock, notes, timer.")],
        tools=BUILTIN_TOOLS,
        models={"builtin": BuiltinModel},
    )
