"""Settings: every knob of Netra, validated at startup, built only from an IsolatedEnvironment.

Each field is read from `NETRA_<FIELD>` (e.g. `NETRA_DATABASE_URL`). A bad
value raises `ConfigError` whose message names the variable and how to fix it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from netra.env import IsolatedEnvironment
from netra.files import private_dir

ENV_PREFIX = "NETRA_"
SECRET_FILE = "secret_key"
MIN_SECRET_LENGTH = 32


class ConfigError(Exception):
    """A setting is missing or invalid; the message says which one and how to fix it."""


class _IsolatedEnvSource(PydanticBaseSettingsSource):
    """Feeds `NETRA_*` variables from an IsolatedEnvironment into Settings."""

    def __init__(self, settings_cls: type[BaseSettings], env: IsolatedEnvironment) -> None:
        super().__init__(settings_cls)
        self._values = {
            key[len(ENV_PREFIX) :].lower(): value
            for key, value in env.with_prefix(ENV_PREFIX).items()
            if value != ""
        }

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {
            name: self._values[name]
            for name in self.settings_cls.model_fields
            if name in self._values
        }


class Settings(BaseSettings):
    """Netra's configuration. Build it with `Settings.from_env(env)`."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    env: Literal["development", "test", "staging", "production"] = "development"
    data_dir: Path = Path(".netra")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # Observability (README "Metrics, logs and traces").
    log_format: Literal["text", "json"] = "text"
    metrics_token: SecretStr | None = None  # GET /metrics then needs Authorization: Bearer
    otel_endpoint: str | None = None  # an OTLP/HTTP collector; spans are exported when set
    # The share of traces recorded (by trace id; a child follows its parent's choice).
    otel_sample_ratio: float = Field(1.0, ge=0.0, le=1.0)

    database_url: str | None = None
    # Several instances on one PostgreSQL: fan-out, state and cancel notices go through it.
    redis_url: str | None = None
    redis_prefix: str = Field("netra:", min_length=1, description="of every key Netra uses")
    redis_stream_length: int = Field(
        10_000, ge=100, description="entries kept per event stream shard"
    )
    redis_shards: int = Field(8, ge=1, le=1024, description="event streams, by thread")
    auto_migrate: bool | None = None  # default: on for SQLite, off for PostgreSQL
    secret_key: SecretStr | None = None

    access_token_ttl: int = Field(900, ge=30, description="seconds")
    refresh_token_ttl: int = Field(30 * 24 * 3600, ge=60, description="seconds")
    api_tokens_per_user: int = Field(10, ge=1, description="API tokens in use at once")
    login_max_failures: int = Field(5, ge=1)
    login_window: int = Field(300, ge=1, description="seconds")

    # Abuse limits (README "Limits and deployment behind a proxy").
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="largest HTTP request body")
    # Addresses or networks whose X-Forwarded-For / X-Forwarded-Proto are believed; none
    # by default, so a client cannot pick the address its throttles are counted under.
    trusted_proxies: tuple[str, ...] = ()
    registrations_per_hour: int = Field(10, ge=1, description="per client address")
    max_connections_per_user: int = Field(20, ge=1, description="open WebSockets")
    max_active_runs_per_user: int = Field(5, ge=1)
    api_docs: bool = False  # serve /openapi.json (never Swagger UI: it loads from a CDN)

    # The model behind the default agent; `openai` means any Chat Completions endpoint.
    model_provider: Literal["builtin", "openai"] = "builtin"
    model_base_url: str | None = None  # default: the OpenAI API
    model_name: str | None = None
    model_api_key: SecretStr | None = None
    model_timeout: float = Field(60.0, gt=0, description="seconds per request, and between chunks")
    model_max_retries: int = Field(2, ge=0, le=10)
    agents_file: Path | None = None  # TOML: agents with their own model, prompt and tools
    default_agent: str = "assistant"
    run_timeout: float = Field(120.0, gt=0, description="seconds")
    max_steps: int = Field(8, ge=1, le=100)

    shutdown_grace: float = Field(
        10.0, ge=0, description="seconds runs in progress get to finish on SIGTERM"
    )
    # Runs are leased to the instance executing them (README "Several instances").
    run_lease_ttl: float = Field(15.0, ge=1, description="seconds a lease lasts unrenewed")

    # Run analytics (README "Run analytics"): ClickHouse when set, else the main database.
    clickhouse_url: SecretStr | None = None  # may carry a password: never logged
    analytics_buffer: int = Field(10_000, ge=1, description="run records held while unwritten")
    analytics_batch_size: int = Field(500, ge=1, le=100_000, description="records per write")
    analytics_flush_interval: float = Field(
        1.0, gt=0, le=60, description="seconds a record may wait for its batch"
    )

    ws_auth_timeout: float = Field(10.0, gt=0, description="seconds")
    ws_max_frame_bytes: int = Field(64 * 1024, ge=1024)
    ws_send_queue: int = Field(1024, ge=8)
    ws_max_frames_per_second: int = Field(50, ge=1)
    ws_heartbeat_interval: float = Field(20.0, gt=0, description="seconds")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only explicit arguments: environment variables arrive through from_env().
        return (init_settings,)

    @classmethod
    def from_env(cls, env: IsolatedEnvironment, **overrides: Any) -> Settings:
        """Build and validate settings from `NETRA_*` variables, then `overrides`."""
        values = _IsolatedEnvSource(cls, env)()
        values.update(overrides)
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from None

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme, sep, rest = value.partition("://")
        if not sep:
            raise ValueError("expected a URL such as postgresql+asyncpg://user:pass@host/db")
        if scheme in {"postgres", "postgresql", "postgresql+asyncpg"}:
            return f"postgresql+asyncpg://{rest}"
        if scheme in {"sqlite", "sqlite+aiosqlite"}:
            return f"sqlite+aiosqlite://{rest}"
        raise ValueError(
            f"unsupported database {scheme!r}; use postgresql+asyncpg://... or sqlite+aiosqlite://..."
        )

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a URL such as redis://localhost:6379/0")
        return value

    @field_validator("clickhouse_url")
    @classmethod
    def _clickhouse_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from netra.analytics.clickhouse_url import ClickHouseURL

            ClickHouseURL(value.get_secret_value())  # raises ValueError saying what is wrong
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"{item!r} is not an IP address or network; use a comma-separated list "
                    "such as 127.0.0.1,10.0.0.0/8"
                ) from None
        return tuple(value)

    @field_validator("secret_key")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(f"must be at least {MIN_SECRET_LENGTH} characters")
        return value

    @field_validator("model_base_url")
    @classmethod
    def _http_base_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http(s) URL such as http://localhost:11434/v1")
        return value

    @field_validator("otel_endpoint")
    @classmethod
    def _otlp_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("expected an OTLP/HTTP collector URL such as http://localhost:4318")
        return value

    @field_validator("agents_file")
    @classmethod
    def _readable_agents_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            from netra.agents.catalog import load_agents_file  # lazily: keeps config light

            load_agents_file(value)  # raises ValueError naming the bad entry
        return value

    @model_validator(mode="after")
    def _model_endpoint_is_complete(self) -> Settings:
        endpoint_set = self.model_base_url is not None or self.model_name is not None
        if "model_provider" not in self.model_fields_set and endpoint_set:
            # Following an endpoint example but missing the provider would silently
            # leave the offline model answering; an explicit builtin keeps it on purpose.
            raise ValueError(
                "NETRA_MODEL_BASE_URL or NETRA_MODEL_NAME is set but NETRA_MODEL_PROVIDER "
                "is not; set NETRA_MODEL_PROVIDER=openai to use the endpoint "
                "(or NETRA_MODEL_PROVIDER=builtin for the offline model)"
            )
        if self.model_provider != "openai":
            if self.agents_file is not None:
                from netra.agents.catalog import load_agents_file, uses_endpoint

                specs = load_agents_file(self.agents_file)
                if using := [spec.name for spec in specs if uses_endpoint(spec)]:
                    raise ValueError(
                        f"agents {using} in NETRA_AGENTS_FILE use the openai model, but "
                        "NETRA_MODEL_PROVIDER is builtin; set NETRA_MODEL_PROVIDER=openai"
                    )
            return self
        if not self.model_name:
            raise ValueError(
                "NETRA_MODEL_NAME is required when NETRA_MODEL_PROVIDER=openai "
                "(for example gpt-4o-mini, or llama3.2 on Ollama)"
            )
        if self.model_base_url is None and self.model_api_key is None:
            raise ValueError(
                "NETRA_MODEL_API_KEY is required for the OpenAI API; for a local server "
                "set NETRA_MODEL_BASE_URL (for example http://localhost:11434/v1)"
            )
        return self

    @model_validator(mode="after")
    def _explicit_secret_outside_development(self) -> Settings:
        if self.env in {"staging", "production"} and self.secret_key is None:
            raise ValueError(
                f"NETRA_SECRET_KEY is required when NETRA_ENV={self.env}; generate one with "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        return self

    @model_validator(mode="after")
    def _redis_needs_a_shared_database_and_secret(self) -> Settings:
        if self.redis_url is None:
            return self
        if self.is_sqlite:
            raise ValueError(
                "NETRA_REDIS_URL is set but the database is SQLite, which only one process "
                "can serve; set NETRA_DATABASE_URL to a PostgreSQL database to run several "
                "instances, or unset NETRA_REDIS_URL"
            )
        if self.secret_key is None:
            raise ValueError(
                "NETRA_SECRET_KEY is required with NETRA_REDIS_URL: every instance must "
                "accept the tokens the others sign, so they need the same key"
            )
        return self

    # -- derived values -------------------------------------------------------
    def secrets(self) -> list[str]:
        """The configured secret values, which no log line may show."""
        values = [
            secret.get_secret_value()
            for secret in (self.secret_key, self.model_api_key, self.metrics_token)
            if secret is not None
        ]
        clickhouse = self.clickhouse_url.get_secret_value() if self.clickhouse_url else None
        for url in (self.database_url, self.redis_url, clickhouse):
            credentials, at, _ = (url or "").partition("://")[2].rpartition("@")
            if at and ":" in credentials:
                password = credentials.partition(":")[2]
                # As written in the URL, and decoded, as a client library would show it.
                values += [password, unquote(password)]
        return values

    @property
    def resolved_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'netra.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def should_migrate_on_start(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate

    def signing_key(self) -> str:
        """The explicit secret, or one generated once and kept 0600 in the data dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / SECRET_FILE
        if path.exists():
            return _read_secret(path)
        private_dir(self.data_dir)
        # Write a temp file, then link it into place: the link either creates the whole
        # file or fails because another process won, and then we read the winner's.
        temp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_urlsafe(48))
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temp, path)
        finally:
            temp.unlink(missing_ok=True)
        return _read_secret(path)


def _read_secret(path: Path) -> str:
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"{path} holds a secret shorter than {MIN_SECRET_LENGTH} characters; delete it to "
            "generate a new one, or set NETRA_SECRET_KEY"
        )
    return key


def redact_url(url: str) -> str:
    """`url` with any password replaced by ***."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url
    user, colon, _ = credentials.partition(":")
    return f"{scheme}{sep}{user}{':***' if colon else ''}@{host}"


#: Settings that are URLs which may carry a password.
_URL_FIELDS = frozenset({"database_url", "redis_url", "clickhouse_url"})


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        name = f"{ENV_PREFIX}{field.upper()}" if field else "settings"
        message = error["msg"].removeprefix("Value error, ")
        got = error.get("input")
        if field in _URL_FIELDS and isinstance(got, str):  # echoed without its password
            got = redact_url(got)
        secret = field in {"secret_key", "model_api_key", "metrics_token"}
        shown = "" if secret or isinstance(got, dict) else f" (got {got!r})"
        lines.append(f"{name}: {message}{shown}")
    return "invalid configuration:\n  " + "\n  ".join(lines)
