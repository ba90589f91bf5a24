"""The agents a process offers, from settings: the default assistant plus `NETRA_AGENTS_FILE`.

The agents file is TOML, one table per agent::

    [agents.researcher]
    description = "Careful answers with sums and the time."
    model = "openai:gpt-4o"          # builtin | openai | openai:<model name>
    system_prompt = "You are a careful researcher. Show your working."
    tools = ["calculator", "clock"]

`openai` is the model named by `NETRA_MODEL_NAME` on the configured endpoint;
`openai:<name>` is another model on the same endpoint. An agent named
`assistant` replaces the default one.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netra.agents.models.base import ChatModel
from netra.agents.models.builtin import BuiltinModel
from netra.agents.registry import (
    DEFAULT_SYSTEM_PROMPT,
    AgentRegistry,
    AgentSpec,
    Closer,
    ModelFactory,
)
from netra.agents.tools import BUILTIN_TOOLS

if TYPE_CHECKING:
    from netra.agents.models.openai_compat import OpenAIEndpoint
    from netra.config import Settings

OPENAI = "openai"
_AGENT_KEYS = frozenset({"description", "model", "system_prompt", "tools"})
DEFAULT_TOOLS = AgentSpec("_", "_").tools


def load_agents_file(path: Path) -> list[AgentSpec]:
    """The agents declared in `path`; ValueError says which entry is wrong and why."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from None
    agents = document.get("agents")
    if not isinstance(agents, dict) or not agents:
        raise ValueError(f"{path} declares no [agents.<name>] table")
    return [_spec(path, name, table) for name, table in agents.items()]


def _spec(path: Path, name: str, table: Any) -> AgentSpec:
    where = f"{path}: agents.{name}"
    if not isinstance(table, dict):
        raise ValueError(f"{where} must be a table")
    unknown = sorted(set(table) - _AGENT_KEYS)
    if unknown:
        raise ValueError(f"{where} has unknown keys {unknown}; allowed: {sorted(_AGENT_KEYS)}")
    model = table.get("model", "builtin")
    if not isinstance(model, str) or not _is_model_reference(model):
        raise ValueError(f"{where}.model must be 'builtin', 'openai' or 'openai:<model name>'")
    tools = table.get("tools", list(DEFAULT_TOOLS))
    known = {tool.name for tool in BUILTIN_TOOLS}
    if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
        raise ValueError(f"{where}.tools must be a list of tool names")
    if missing := sorted(set(tools) - known):
        raise ValueError(f"{where}.tools names unknown tools {missing}; known: {sorted(known)}")
    texts = {key: table.get(key, "") for key in ("description", "system_prompt")}
    if not all(isinstance(value, str) for value in texts.values()):
        raise ValueError(f"{where}: description and system_prompt must be strings")
    return AgentSpec(
        name=name,
        description=texts["description"] or f"The {name} agent.",
        model=model,
        system_prompt=texts["system_prompt"] or DEFAULT_SYSTEM_PROMPT,
        tools=tuple(tools),
    )


def _is_model_reference(model: str) -> bool:
    provider, sep, name = model.partition(":")
    if not sep:
        return model in {"builtin", OPENAI}
    return provider == OPENAI and bool(name.strip())


def uses_endpoint(spec: AgentSpec) -> bool:
    """True when the agent's model lives on the OpenAI-compatible endpoint."""
    return spec.model.partition(":")[0] == OPENAI


def registry_from_settings(settings: Settings) -> AgentRegistry:
    """The registry for this process: models and agents as the settings describe them."""
    default_model = OPENAI if settings.model_provider == OPENAI else "builtin"
    specs = {
        "assistant": AgentSpec(
            "assistant",
            "General assistant with calculator, clock, notes, timer.",
            model=default_model,
        )
    }
    if settings.agents_file is not None:
        specs.update({spec.name: spec for spec in load_agents_file(settings.agents_file)})
    models: dict[str, ModelFactory] = {"builtin": BuiltinModel}
    closers: list[Closer] = []
    if settings.model_provider == OPENAI:
        # Imported only here: a process on the builtin model never loads the client.
        from netra.agents.models.openai_compat import EndpointConfig, OpenAIEndpoint

        endpoint = OpenAIEndpoint(
            EndpointConfig(
                base_url=settings.model_base_url,
                api_key=(
                    settings.model_api_key.get_secret_value() if settings.model_api_key else None
                ),
                timeout=settings.model_timeout,
                max_retries=settings.model_max_retries,
            )
        )
        closers.append(endpoint.close)
        references = {spec.model for spec in specs.values() if uses_endpoint(spec)} | {OPENAI}
        for reference in references:
            name = reference.partition(":")[2] or settings.model_name or ""
            models[reference] = _factory(endpoint, name)
    return AgentRegistry(specs.values(), BUILTIN_TOOLS, models, closers=closers)


def _factory(endpoint: OpenAIEndpoint, model_name: str) -> ModelFactory:
    def make() -> ChatModel:
        return endpoint.model(model_name)

    return make
