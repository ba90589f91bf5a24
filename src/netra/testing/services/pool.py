"""The real services of one test run: obtained on first use, shared, stopped once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from netra.env import IsolatedEnvironment
from netra.testing.services.clickhouse import (
    CLICKHOUSE_URL_VAR,
    ClickHouseService,
    obtain_clickhouse,
)
from netra.testing.services.errors import ServiceUnavailable
from netra.testing.services.postgres import DATABASE_URL_VAR, PostgresService, obtain_postgres
from netra.testing.services.redis import REDIS_URL_VAR, RedisService, obtain_redis

Service = TypeVar("Service", PostgresService, RedisService, ClickHouseService)


class ServicePool:
    """Finds or starts PostgreSQL, Redis and ClickHouse at most once, and stops what it
    started. ClickHouse only when a test asks for it (few do), never in `start_all`.

    A failure is remembered, so a run without PostgreSQL reports the same clear
    error for every test instead of trying again each time.
    """

    def __init__(self, env: IsolatedEnvironment) -> None:
        self._env = env
        self._services: dict[str, PostgresService | RedisService | ClickHouseService] = {}
        self._failures: dict[str, ServiceUnavailable] = {}

    def postgres(self) -> PostgresService:
        return self._obtain("postgres", obtain_postgres)

    def redis(self) -> RedisService:
        return self._obtain("redis", obtain_redis)

    def clickhouse(self) -> ClickHouseService:
        return self._obtain("clickhouse", obtain_clickhouse)

    def _obtain(self, name: str, obtain: Callable[[IsolatedEnvironment], Service]) -> Service:
        if name in self._failures:
            raise self._failures[name]
        if name not in self._services:
            try:
                self._services[name] = obtain(self._env)
            except ServiceUnavailable as exc:
                self._failures[name] = exc
                raise
        return cast(Service, self._services[name])

    def start_all(self) -> list[ServiceUnavailable]:
        """Obtain every service now; returns the ones that could not be had."""
        problems = []
        for obtain in (self.redis, self.postgres):  # Redis first: it is ready in milliseconds
            try:
                obtain()
            except ServiceUnavailable as exc:
                problems.append(exc)
        return problems

    def child_env(self) -> dict[str, str]:
        """Variables that hand these services to another process, e.g. pytest or a worker."""
        names = {
            "postgres": DATABASE_URL_VAR,
            "redis": REDIS_URL_VAR,
            "clickhouse": CLICKHOUSE_URL_VAR,
        }
        return {names[name]: service.url for name, service in self._services.items()}

    def describe(self) -> dict[str, dict[str, Any]]:
        """How each service was obtained, for run summaries (no credentials)."""
        return {
            name: {
                "source": service.source,
                "started_by_this_run": service.process is not None,
                "startup_s": round(service.started_in, 3),
                "port": service.port or None,
                "pid": service.process.pid if service.process else None,
                "data_dir": str(service.data_dir) if service.data_dir else None,
            }
            for name, service in self._services.items()
        }

    def stop(self) -> None:
        """Stop every service this pool started; safe to call more than once."""
        while self._services:
            _, service = self._services.popitem()
            service.stop()
