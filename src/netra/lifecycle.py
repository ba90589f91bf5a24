"""Ordered startup phases, readiness, and graceful shutdown of one Netra process."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from netra.agents.catalog import registry_from_settings
from netra.agents.context import ExecutionContextFactory
from netra.agents.engine import AgentEngine
from netra.agents.registry import AgentRegistry
from netra.analytics import AnalyticsSink, open_analytics
from netra.auth.api_tokens import ApiTokens
from netra.auth.passwords import Passwords
from netra.auth.service import AuthService
from netra.auth.tokens import AccessTokens
from netra.config import Settings, redact_url
from netra.db import migrate
from netra.db.engine import Database
from netra.db.lock import DatabaseInUse, DatabaseLock
from netra.files import private_dir
from netra.ids import new_id
from netra.observability import Observability, logs
from netra.quotas import PerUserQuota
from netra.realtime.bus import EventBus, InMemoryEventBus
from netra.realtime.connection import Connection
from netra.realtime.follow import log_ends
from netra.realtime.frames import CloseCode
from netra.realtime.log import EventLogWriter
from netra.realtime.redis_bus import READ_BLOCK_MS, RedisEventBus
from netra.runs import RunLeases, RunService, RunSupervisor
from netra.state import StateStore, open_state
from netra.state.fallback import FallbackStateStore

log = logging.getLogger("netra.lifecycle")
#: Seconds /ready waits for the database before it calls it unreachable.
READY_TIMEOUT = 2.0
#: Seconds each closing step of a shutdown may take.
STOP_STEP_TIMEOUT = 10.0


class StartupError(Exception):
    """A startup phase failed; the message says which and what to do."""


@dataclass
class Platform:
    """Everything one Netra process runs on, built by `start()` in a fixed order."""

    settings: Settings
    db: Database
    state: StateStore
    bus: EventBus
    events: EventLogWriter
    tokens: AccessTokens
    auth: AuthService
    api_tokens: ApiTokens
    registry: AgentRegistry
    supervisor: RunSupervisor
    runs: RunService
    lock: DatabaseLock  # exclusive: the only instance; shared: one of several on Redis
    instance_id: str
    redis: Redis | None  # shared by the instances with NETRA_REDIS_URL
    connections: PerUserQuota  # open WebSockets per user
    analytics: AnalyticsSink  # one record per run this instance ends
    started_at: float = field(default_factory=time.time)
    phases: list[tuple[str, float]] = field(default_factory=list)
    background: list[asyncio.Task[None]] = field(default_factory=list)
    live: set[Connection] = field(default_factory=set)  # open WebSockets
    throttles: StateStore | None = None  # what the login throttles count on
    obs: Observability = field(default_factory=Observability)  # metrics and tracing


async def _prepare_schema(settings: Settings, db: Database) -> None:
    if settings.should_migrate_on_start:
        await migrate.upgrade(db.engine)
        return
    current, head = await migrate.current_revision(db.engine), migrate.head_revision()
    if current != head:
        raise StartupError(
            f"the database schema is at revision {current or 'none'} but this Netra needs "
            f"{head}; run `netra db upgrade` (or set NETRA_AUTO_MIGRATE=true)"
        )


class _Phases:
    """Times each startup phase, and names the phase in any error it raises."""

    def __init__(self) -> None:
        self.timings: list[tuple[str, float]] = []

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        except StartupError as exc:
            raise StartupError(f"startup phase {name}: {exc}") from exc.__cause__
        except BaseException:
            log.error("startup phase %s failed", name)
            raise
        self.timings.append((name, round((time.perf_counter() - began) * 1000, 1)))
        log.info("startup phase %s done", name)


async def start(
    settings: Settings, registry: AgentRegistry | None = None, obs: Observability | None = None
) -> Platform:
    """Run the startup phases in order; any failure raises StartupError saying what to do."""
    obs = obs or Observability()
    phase = _Phases()
    with phase("data_dir_and_secret"):
        private_dir(settings.data_dir)
        key = settings.signing_key()
        logs.redact_also(key)  # a generated key was unknown when logging was set up
    with phase("database"):
        db, lock = await _open_database(settings)
    instance_id = new_id("srv")
    redis: Redis | None = None
    bus: EventBus = InMemoryEventBus(obs.metrics)
    analytics: AnalyticsSink | None = None
    try:
        if settings.redis_url is not None:
            with phase("redis"):
                redis, bus = await _open_redis(settings, instance_id, obs, db)
        with phase("services"):
            state = open_state(redis, prefix=settings.redis_prefix)
            throttles = state if redis is None else FallbackStateStore(state)
            events = EventLogWriter(db, bus, instance_id, metrics=obs.metrics)
            tokens = AccessTokens(key, settings.access_token_ttl)
            auth = AuthService(
                db,
                throttles,
                Passwords(),
                tokens,
                refresh_ttl=settings.refresh_token_ttl,
                max_failures=settings.login_max_failures,
                failure_window=settings.login_window,
                registrations_per_hour=settings.registrations_per_hour,
            )
            api_tokens = ApiTokens(db, per_user=settings.api_tokens_per_user)
            registry = registry or registry_from_settings(settings)
            contexts = ExecutionContextFactory(events, state)
            engine = AgentEngine(settings.max_steps, obs)
            # Started once the platform is up; runs recovered before then are buffered.
            analytics = open_analytics(settings, db)
            leases = RunLeases(
                db, instance_id, settings.run_lease_ttl, single_instance=not lock.shared
            )
            supervisor = RunSupervisor(
                db,
                registry,
                contexts,
                engine,
                settings.run_timeout,
                leases=leases,
                bus=bus,
                max_runs_per_user=settings.max_active_runs_per_user,
                record_run=analytics.record,
                obs=obs,
            )
            runs = RunService(db, registry, supervisor, settings.default_agent)
        with phase("recover_runs"):
            if not lock.shared:
                # The only instance: anything active was cut off by a crash. (Among
                # several instances, the lease sweep ends the runs of one that is gone.)
                recovered = await supervisor.recover()
                if recovered:
                    log.warning("ended %d run(s) interrupted by the previous shutdown", recovered)
    except BaseException:
        try:
            if analytics is not None:
                await analytics.close(timeout=0)
            await bus.close()
            if redis is not None:
                await redis.aclose()
        finally:
            await _close_database(db, lock)
        raise
    platform = Platform(
        settings,
        db,
        state,
        bus,
        events,
        tokens,
        auth,
        api_tokens,
        registry,
        supervisor,
        runs,
        lock,
        instance_id,
        redis,
        PerUserQuota(settings.max_connections_per_user),
        analytics,
        phases=phase.timings,
        throttles=throttles,
        obs=obs,
    )
    platform.background.append(
        asyncio.create_task(supervisor.keep_leases(), name="netra-run-leases")
    )
    analytics.start()
    obs.metrics.read_analytics(lambda: (analytics.written, analytics.dropped, analytics.pending))
    return platform


async def _open_redis(
    settings: Settings, instance_id: str, obs: Observability, db: Database
) -> tuple[Redis, RedisEventBus]:
    assert settings.redis_url is not None
    client = Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_connect_timeout=2,  # an unreachable Redis fails fast: followers poll meanwhile
        socket_timeout=READ_BLOCK_MS / 1000 + 4,
        health_check_interval=30,
        # Once, at once: a pooled connection to a Redis that restarted fails its first
        # use. An outage is the fan-out's to handle, not a retry loop's.
        retry=Retry(NoBackoff(), 1),
    )
    bus = RedisEventBus(
        client,
        instance_id,
        shards=settings.redis_shards,
        max_length=settings.redis_stream_length,
        prefix=settings.redis_prefix,
        log_ends=functools.partial(log_ends, db),
        metrics=obs.metrics,
    )
    try:
        await bus.start()
    except BaseException as exc:
        await client.aclose()
        if isinstance(exc, Exception):
            raise StartupError(
                f"Redis at {redact_url(settings.redis_url)} is not usable: {exc}"
            ) from exc
        raise
    return client, bus


async def _open_database(settings: Settings) -> tuple[Database, DatabaseLock]:
    """Connect, claim the database (alone, or shared with the other instances on the
    same Redis), and check or migrate its schema."""
    db = Database(settings.resolved_database_url)
    lock: DatabaseLock | None = None
    try:
        await db.ping()
        # In-process fan-out: one instance only. Through Redis: any number, all sharing.
        lock = await DatabaseLock.acquire(db, shared=settings.redis_url is not None)
        if lock.shared:  # an instance reading other streams than the rest would miss events
            prefix = zlib.crc32(settings.redis_prefix.encode()) & 0x7FFFFFFF
            shards = settings.redis_shards
            await lock.agree({"NETRA_REDIS_SHARDS": shards, "NETRA_REDIS_PREFIX": prefix})
        await _prepare_schema(settings, db)
    except BaseException as exc:  # also when cancelled: the lock must not outlive us
        await _close_database(db, lock)
        if isinstance(exc, StartupError | DatabaseInUse):
            raise StartupError(str(exc)) from None
        if isinstance(exc, Exception):
            raise StartupError(f"database {redact_url(db.url)} is not usable: {exc}") from exc
        raise
    return db, lock


async def drain(platform: Platform) -> None:
    """The first part of a graceful stop, while the sockets are still open: refuse new
    runs, let runs in progress end (within NETRA_SHUTDOWN_GRACE, then cancelled), send
    each connected client every event it follows, then close its WebSocket with 1001."""
    await platform.supervisor.shutdown(platform.settings.shutdown_grace)
    closing = [
        connection.close_after_sending(CloseCode.GOING_AWAY, "server_shutdown", timeout=5)
        for connection in list(platform.live)
    ]
    await asyncio.gather(*closing)


async def stop(platform: Platform) -> None:
    """Graceful shutdown: end local runs (with their terminal events), then close every
    resource, each in turn even if another failed; no step waits without bound."""
    try:
        await platform.supervisor.shutdown(platform.settings.shutdown_grace)
    finally:
        for task in platform.background:  # leases were renewed while runs were ending
            task.cancel()
        await asyncio.gather(*platform.background, return_exceptions=True)
        steps: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("event log", platform.events.close),  # every run's last events are committed
            # Every run has ended and handed over its record: write what is buffered.
            ("analytics", lambda: platform.analytics.close(timeout=STOP_STEP_TIMEOUT / 2)),
            ("event bus", platform.bus.close),
            ("state", platform.state.close),
            ("agents", platform.registry.close),
        ]
        if platform.lock.shared:
            # Runs that did not end in time: another instance may claim them at once.
            steps.insert(1, ("run leases", platform.supervisor.leases.release))
        if platform.redis is not None:
            steps.append(("Redis", platform.redis.aclose))
        steps.append(("tracing", lambda: asyncio.to_thread(platform.obs.tracing.shutdown)))
        for name, step in steps:
            try:
                async with asyncio.timeout(STOP_STEP_TIMEOUT):
                    await step()
            except Exception:
                log.exception("closing the %s failed", name)
        await _close_database(platform.db, platform.lock)


async def _close_database(db: Database, lock: DatabaseLock | None) -> None:
    try:
        if lock is not None:
            await lock.release()
    finally:
        await db.dispose()


async def readiness(platform: Platform, details: bool = False) -> dict[str, Any]:
    """Per-component status for GET /ready; backends, timings and agents only with `details`
    (an authenticated caller). Nothing counts other users' activity."""
    components: dict[str, dict[str, Any]] = {}
    began = time.perf_counter()
    try:
        async with asyncio.timeout(READY_TIMEOUT):
            await platform.db.ping()
        components["database"] = {"status": "ok", "backend": platform.db.engine.dialect.name}
    except Exception as exc:
        components["database"] = {"status": "error", "error": type(exc).__name__}
    components["database"]["latency_ms"] = round((time.perf_counter() - began) * 1000, 2)
    if isinstance(platform.bus, RedisEventBus):
        # Without Redis, followers poll the database: slower, not down.
        components["events"] = {"status": platform.bus.status, "backend": "redis"}
        throttles = platform.throttles
        failing = isinstance(throttles, FallbackStateStore) and throttles.failing
        components["state"] = {"status": "degraded" if failing else "ok", "backend": "redis"}
    else:
        components["events"] = {"status": "ok", "backend": "memory"}
        components["state"] = {"status": "ok", "backend": "memory"}
    # Records wait in a bounded buffer while their store fails: degraded, not down.
    analytics = platform.analytics
    components["analytics"] = {"status": analytics.status, "backend": analytics.backend}
    if details:
        components["analytics"] |= {"pending": analytics.pending, "dropped": analytics.dropped}
    components["agents"] = {
        # A stopping process refuses new runs; report it so load balancers drain it.
        "status": "stopping" if platform.supervisor.closing else "ok",
        "agents": platform.registry.names(),
    }
    platform.obs.metrics.readiness({name: c["status"] for name, c in components.items()})
    ready = all(c["status"] in {"ok", "degraded"} for c in components.values())
    report: dict[str, Any] = {"status": "ready" if ready else "not_ready"}
    if not details:
        report["components"] = {name: {"status": c["status"]} for name, c in components.items()}
        return report
    report["components"] = components
    report["startup_phases_ms"] = dict(platform.phases)
    return report
