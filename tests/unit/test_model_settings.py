"""Model settings, the agents file, and the registry built from them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from netra.agents.catalog import load_agents_file, registry_from_settings
from netra.agents.models.builtin import BuiltinModel
from netra.agents.models.openai_compat import EndpointConfig, OpenAIChatModel, OpenAIEndpoint
from netra.config import ConfigError, Settings

if TYPE_CHECKING:
    from conftest import MakeEnv

KEY = "sk-unit-abcdef0123456789NEVERSHOW"
OLLAMA = {
    "NETRA_MODEL_PROVIDER": "openai",
    "NETRA_MODEL_BASE_URL": "http://localhost:11434/v1",
    "NETRA_MODEL_NAME": "llama3.2",
}
AGENTS = """
[agents.researcher]
description = "Careful answers."
model = "openai:qwen2.5"
system_prompt = "Show your working."
tools = ["calculator"]

[agents.offline]
model = "builtin"
tools = []
"""


def refusal(make_env: MakeEnv, **variables: str) -> str:
    """The ConfigError message for these variables; the settings must not build."""
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(make_env(dict(variables)))
    return refused.value.args[0]


def agents_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "agents.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_an_openai_compatible_endpoint_is_read_from_the_environment(make_env: MakeEnv) -> None:
    settings = Settings.from_env(
        make_env({**OLLAMA, "NETRA_MODEL_TIMEOUT": "7.5", "NETRA_MODEL_MAX_RETRIES": "4"})
    )

    assert settings.model_provider == "openai"
    assert settings.model_base_url == "http://localhost:11434/v1"
    assert settings.model_name == "llama3.2"
    assert settings.model_api_key is None
    assert (settings.model_timeout, settings.model_max_retries) == (7.5, 4)


def test_the_openai_provider_needs_a_model_name(make_env: MakeEnv) -> None:
    message = refusal(make_env, NETRA_MODEL_PROVIDER="openai", NETRA_MODEL_API_KEY=KEY)

    assert "NETRA_MODEL_NAME is required" in message
    assert KEY not in message


def test_the_openai_api_itself_needs_a_key(make_env: MakeEnv) -> None:
    message = refusal(make_env, NETRA_MODEL_PROVIDER="openai", NETRA_MODEL_NAME="gpt-4o")

    assert "NETRA_MODEL_API_KEY is required" in message


def test_a_bad_base_url_is_named(make_env: MakeEnv) -> None:
    message = refusal(make_env, **{**OLLAMA, "NETRA_MODEL_BASE_URL": "localhost:11434"})

    assert "NETRA_MODEL_BASE_URL" in message
    assert "http" in message


def test_the_key_is_never_shown(make_env: MakeEnv) -> None:
    settings = Settings.from_env(make_env({**OLLAMA, "NETRA_MODEL_API_KEY": KEY}))
    bad = refusal(make_env, **OLLAMA, NETRA_MODEL_API_KEY=KEY, NETRA_MODEL_TIMEOUT="-1")

    assert KEY not in repr(settings)
    assert KEY not in str(settings.model_dump())
    assert settings.model_api_key is not None
    assert settings.model_api_key.get_secret_value() == KEY
    assert "NETRA_MODEL_TIMEOUT" in bad
    assert KEY not in bad


async def test_the_endpoint_and_its_config_do_not_show_the_key() -> None:
    config = EndpointConfig("http://localhost:11434/v1", KEY, 5.0, 0)
    endpoint = OpenAIEndpoint(config)
    try:
        shown = [repr(config), str(config), repr(endpoint), repr(endpoint.model("m"))]
    finally:
        await endpoint.close()

    assert "localhost:11434" in shown[0]
    assert not [text for text in shown if KEY in text]


def test_an_endpoint_without_a_provider_is_refused_not_ignored(make_env: MakeEnv) -> None:
    endpoint = {key: value for key, value in OLLAMA.items() if key != "NETRA_MODEL_PROVIDER"}

    message = refusal(make_env, **endpoint)
    offline = Settings.from_env(make_env({**endpoint, "NETRA_MODEL_PROVIDER": "builtin"}))

    assert "NETRA_MODEL_PROVIDER=openai" in message
    assert isinstance(registry_from_settings(offline).build("assistant").model, BuiltinModel)


def test_the_default_agent_uses_the_configured_model(make_env: MakeEnv) -> None:
    builtin = registry_from_settings(Settings.from_env(make_env({}))).build("assistant")
    real = registry_from_settings(Settings.from_env(make_env(OLLAMA))).build("assistant")

    assert isinstance(builtin.model, BuiltinModel)
    assert isinstance(real.model, OpenAIChatModel)
    assert real.model.name == "llama3.2"


def test_agents_file_gives_agents_their_own_model_prompt_and_tools(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    path = agents_file(tmp_path, AGENTS)
    registry = registry_from_settings(
        Settings.from_env(make_env({**OLLAMA, "NETRA_AGENTS_FILE": path}))
    )

    researcher = registry.build("researcher")
    offline = registry.build("offline")
    assert registry.names() == ["assistant", "offline", "researcher"]
    assert isinstance(researcher.model, OpenAIChatModel)
    assert researcher.model.name == "qwen2.5"
    assert researcher.spec.system_prompt == "Show your working."
    assert list(researcher.tools) == ["calculator"]
    assert isinstance(offline.model, BuiltinModel)
    assert offline.tools == {}


def test_agents_on_the_endpoint_need_the_openai_provider(make_env: MakeEnv, tmp_path: Path) -> None:
    message = refusal(make_env, NETRA_AGENTS_FILE=agents_file(tmp_path, AGENTS))

    assert "['researcher']" in message
    assert "NETRA_MODEL_PROVIDER=openai" in message


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[agents.a]\ntools = ['shell']\n", "unknown tools ['shell']"),
        ("[agents.a]\nmodel = 'anthropic:claude'\n", "agents.a.model must be"),
        ("[agents.a]\ntemperature = 0.2\n", "unknown keys ['temperature']"),
        ("[agents]\n", "declares no [agents.<name>] table"),
        ("[agents.a\n", "not valid TOML"),
    ],
)
def test_a_bad_agents_file_names_the_entry(tmp_path: Path, text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match="agents") as caught:
        load_agents_file(Path(agents_file(tmp_path, text)))

    assert complaint in str(caught.value)


def test_a_missing_agents_file_stops_startup_with_the_variable_named(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    message = refusal(make_env, NETRA_AGENTS_FILE=str(tmp_path / "nope.toml"))

    assert "NETRA_AGENTS_FILE" in message
    assert "cannot read" in message
