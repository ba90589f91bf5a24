"""Run analytics on real stores: the run_analytics table (SQLite, PostgreSQL) and a real
ClickHouse server, including an outage, recovery and a full buffer; and the records
real runs leave (completed, failed, cancelled, recovered)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from netra.analytics import AnalyticsSink, RunRecord
from netra.analytics.clickhouse import ClickHouseAnalyticsStore
from netra.analytics.sink import AnalyticsUnavailable
from netra.analytics.sql import SqlAnalyticsStore
from netra.config import Settings
from netra.db.engine import Database, EncodedJSON
from netra.db.models import Event, Run, RunAnalytics, User
from netra.db.repositories import (
    Lease,
    NewEvent,
    RunEvents,
    ThreadRepository,
    append_events,
    store_run,
)
from netra.db.types import utcnow
from netra.ids import new_id
from netra.lifecycle import Platform, readiness, start, stop
from netra.realtime.events import AgentEvent
from netra.runs import RunTicket
from netra.testing.bus import live_events
from netra.testing.fixtures import standing_lease
from netra.testing.services import (
    ClickHouseService,
    RedisService,
    RestartableClickHouse,
    clickhouse_query,
)

TIMEOUT = 60  # a hang guard, not a speed claim
CALCULATION = "What is 12 * (3 + 4)?"


def run_record(user_id: str, **fields: Any) -> RunRecord:
    values: dict[str, Any] = {
        "run_id": new_id("run"),
        "user_id": user_id,
        "thread_id": new_id("thr"),
        "agent": "assistant",
        "model": "builtin",
        "outcome": "completed",
        "error_code": None,
        "tokens_in": 10,
        "tokens_out": 5,
        "tool_calls": 1,
        "first_event_ms": 1.5,
        "duration_ms": 12.0,
        "finished_at": datetime.now(UTC),
    }
    values.update(fields)
    return RunRecord(**values)


async def until(sink: AnalyticsSink, condition: Callable[[], bool]) -> None:
    """Wait for the sink's writer to reach `condition` (checked after every attempt)."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            sink.attempted.clear()
            await sink.attempted.wait()


@pytest.fixture
async def sinks() -> AsyncIterator[Callable[..., AnalyticsSink]]:
    """Started sinks, closed after the test."""
    opened: list[AnalyticsSink] = []

    def open_sink(store: Any, **options: Any) -> AnalyticsSink:
        sink = AnalyticsSink(store, **{"flush_interval": 0.05, **options})
        sink.start()
        opened.append(sink)
        return sink

    yield open_sink
    for sink in opened:
        await sink.close(timeout=5)


async def check_store_reports_each_user_only_their_own(sink: AnalyticsSink) -> None:
    alice, bob = new_id("usr"), new_id("usr")
    sink.record(run_record(alice, tokens_in=100, tokens_out=20))
    sink.record(run_record(alice, agent="coder", outcome="failed", error_code="model_timeout"))
    sink.record(run_record(alice, outcome="cancelled", error_code="cancelled_by_user"))
    sink.record(run_record(alice, finished_at=datetime.now(UTC) - timedelta(days=40)))
    sink.record(run_record(bob, tokens_in=7, tokens_out=3, agent="coder"))
    async with asyncio.timeout(TIMEOUT):
        await sink.flush()
    assert (sink.written, sink.dropped) == (5, 0)

    mine = (await sink.usage(30, alice)).as_dict()
    assert mine["totals"] == {
        "runs": 3,
        "failures": 1,
        "cancelled": 1,
        "tokens_in": 120,
        "tokens_out": 30,
    }
    assert [(a["agent"], a["runs"], a["failures"]) for a in mine["by_agent"]] == [
        ("assistant", 2, 0),
        ("coder", 1, 1),
    ]
    today = datetime.now(UTC).date().isoformat()
    assert [(d["day"], d["runs"]) for d in mine["by_day"]] == [(today, 3)]
    assert "by_user" not in mine
    # The record 40 days old is in a 60-day window only.
    assert (await sink.usage(60, alice)).totals.runs == 4

    theirs = (await sink.usage(30, bob)).as_dict()
    assert theirs["totals"]["runs"] == 1
    assert theirs["by_agent"] == [
        {
            "agent": "coder",
            "runs": 1,
            "failures": 0,
            "cancelled": 0,
            "tokens_in": 7,
            "tokens_out": 3,
        }
    ]
    everyone = (await sink.usage(30, None)).as_dict()
    assert everyone["totals"]["runs"] == 4
    assert {u["user_id"]: u["runs"] for u in everyone["by_user"]} == {alice: 3, bob: 1}


async def test_sql_store_reports_each_user_only_their_own(
    db: Database, sinks: Callable[..., AnalyticsSink]
) -> None:
    await check_store_reports_each_user_only_their_own(sinks(SqlAnalyticsStore(db)))


async def test_sql_store_keeps_one_row_per_run_when_a_batch_is_written_twice(
    db: Database,
) -> None:
    store = SqlAnalyticsStore(db)
    record = run_record(new_id("usr"), tool_calls=3, first_event_ms=None)
    await store.write([record])
    await store.write([record, run_record(record.user_id)])  # a retry after a lost COMMIT
    async with db.read() as session:
        rows = (
            await session.scalars(
                select(RunAnalytics).where(RunAnalytics.user_id == record.user_id)
            )
        ).all()
    assert len(rows) == 2
    stored = next(row for row in rows if row.run_id == record.run_id)
    assert (stored.tool_calls, stored.first_event_ms, stored.day) == (3, None, record.day)
    assert stored.finished_at == record.finished_at


async def test_sql_store_cuts_a_model_name_longer_than_its_column_rather_than_failing(
    db: Database,
) -> None:
    # PostgreSQL refuses a value over varchar(200): the batch would be retried forever.
    record = run_record(new_id("usr"), model="m" * 300)
    await SqlAnalyticsStore(db).write([record])
    async with db.read() as session:
        stored = await session.scalar(
            select(RunAnalytics.model).where(RunAnalytics.run_id == record.run_id)
        )
    assert stored == "m" * 200


async def test_clickhouse_store_creates_a_monthly_mergetree_and_reports_each_user_only_their_own(
    clickhouse_url: str, sinks: Callable[..., AnalyticsSink]
) -> None:
    store = ClickHouseAnalyticsStore(clickhouse_url)
    await check_store_reports_each_user_only_their_own(sinks(store))
    server, database = clickhouse_url.rsplit("/", 1)
    created = clickhouse_query(server, f"SHOW CREATE TABLE {database}.run_analytics")
    assert "ENGINE = MergeTree" in created
    assert "PARTITION BY toYYYYMM(finished_at)" in created
    # A user id that tries to break out of its quotes is only a value.
    assert (await store.usage(datetime.now(UTC).date(), "x' OR '1'='1")) == []


def test_the_test_services_query_a_clickhouse_url_that_carries_a_login(
    clickhouse_service: ClickHouseService,
) -> None:
    # The form NETRA_TEST_CLICKHOUSE_URL is documented in: http://user:password@host:port.
    with_login = clickhouse_service.url.replace("://", "://default:@", 1)
    if clickhouse_service.source == "url":
        with_login = clickhouse_service.url  # a given URL already carries its own login
    assert clickhouse_query(with_login, "SELECT 40 + 2").strip() == "42"


async def test_clickhouse_outage_loses_nothing_within_the_buffer(
    private_clickhouse: RestartableClickHouse, sinks: Callable[..., AnalyticsSink]
) -> None:
    clickhouse_query(private_clickhouse.url, "CREATE DATABASE netra")
    url = f"{private_clickhouse.url}/netra"
    sink = sinks(ClickHouseAnalyticsStore(url, timeout=2), capacity=100, batch_size=10)
    user = new_id("usr")
    sink.record(run_record(user))
    async with asyncio.timeout(TIMEOUT):
        await sink.flush()

    private_clickhouse.stop()
    for _ in range(40):
        sink.record(run_record(user))
    await until(sink, lambda: sink.failing)
    assert sink.status == "degraded"
    assert (sink.pending, sink.dropped) == (40, 0)
    with pytest.raises(AnalyticsUnavailable, match="ConnectError"):  # what /api/me/usage 503s on
        await sink.usage(1, user)

    private_clickhouse.start()
    async with asyncio.timeout(TIMEOUT):
        await sink.flush()
    assert (sink.written, sink.pending, sink.dropped, sink.status) == (41, 0, 0, "ok")
    assert (await sink.usage(1, user)).totals.runs == 41
    count = clickhouse_query(private_clickhouse.url, "SELECT count() FROM netra.run_analytics")
    assert count.strip() == "41"  # each record once, though its batch was tried many times


async def test_clickhouse_outage_past_the_buffer_drops_and_counts_the_rest(
    private_clickhouse: RestartableClickHouse, sinks: Callable[..., AnalyticsSink]
) -> None:
    clickhouse_query(private_clickhouse.url, "CREATE DATABASE netra")
    sink = sinks(
        ClickHouseAnalyticsStore(f"{private_clickhouse.url}/netra", timeout=2),
        capacity=10,
        batch_size=4,
    )
    private_clickhouse.stop()
    user = new_id("usr")
    for _ in range(25):
        sink.record(run_record(user))  # never waits, never raises
    assert (sink.pending, sink.dropped) == (10, 15)

    private_clickhouse.start()
    async with asyncio.timeout(TIMEOUT):
        await sink.flush()
    assert (sink.written, sink.dropped) == (10, 15)
    assert (await sink.usage(1, user)).totals.runs == 10


async def check_refused_records_are_dropped_alone(
    sink: AnalyticsSink, refused: list[dict[str, Any]]
) -> None:
    """A batch holding records the store refuses for their content writes the others, drops
    only the refused ones (counted), and does not stop the records behind it."""
    user = new_id("usr")
    batch = [run_record(user) for _ in range(5)]
    for index, fields in enumerate(refused):
        batch[1 + 2 * index] = run_record(user, **fields)
    for record in batch:
        sink.record(record)
    async with asyncio.timeout(TIMEOUT):
        await sink.flush()
    kept = 5 - len(refused)
    assert (sink.written, sink.rejected, sink.dropped) == (kept, len(refused), len(refused))
    assert (sink.pending, sink.status) == (0, "ok")
    sink.record(run_record(user))  # the next batch is written whole again
    async with asyncio.timeout(TIMEOUT):
        await sink.flush()
    assert (sink.written, sink.rejected) == (kept + 1, len(refused))
    assert (await sink.usage(1, user)).totals.runs == kept + 1


async def test_sql_store_drops_only_the_records_it_refuses_for_their_content(
    db: Database, sinks: Callable[..., AnalyticsSink]
) -> None:
    # Beyond 64 bits no driver can encode it; NaN is NULL to SQLite (a NOT NULL column).
    refused = [{"tokens_in": 2**64}]
    if db.engine.dialect.name == "sqlite":
        refused.append({"duration_ms": float("nan")})
    sink = sinks(SqlAnalyticsStore(db), batch_size=5, first_retry=3600)
    await check_refused_records_are_dropped_alone(sink, refused)


async def test_clickhouse_store_drops_only_the_records_it_refuses_for_their_content(
    clickhouse_service: ClickHouseService, sinks: Callable[..., AnalyticsSink]
) -> None:
    database = f"refused_{new_id('usr')[4:]}"
    clickhouse_query(clickhouse_service.url, f"CREATE DATABASE {database}")
    store = ClickHouseAnalyticsStore(f"{clickhouse_service.url}/{database}")
    sink = sinks(store, batch_size=5, first_retry=3600)
    # Refused by ClickHouse (Code 72: no '-' in an unsigned column), and by the encoder.
    await check_refused_records_are_dropped_alone(sink, [{"tokens_in": -1}, {"tokens_out": 2**64}])


async def test_close_writes_what_is_buffered(
    db: Database, sinks: Callable[..., AnalyticsSink]
) -> None:
    sink = AnalyticsSink(SqlAnalyticsStore(db), flush_interval=60)  # only close() writes
    sink.start()
    user = new_id("usr")
    for _ in range(3):
        sink.record(run_record(user))
    await sink.close(timeout=TIMEOUT)
    assert (sink.written, sink.dropped) == (3, 0)
    reader = sinks(SqlAnalyticsStore(db))
    assert (await reader.usage(1, user)).totals.runs == 3


async def test_close_after_an_outage_writes_at_once_rather_than_after_the_back_off(
    private_clickhouse: RestartableClickHouse, sinks: Callable[..., AnalyticsSink]
) -> None:
    clickhouse_query(private_clickhouse.url, "CREATE DATABASE netra")
    # A back-off far longer than close() may wait: only a retry that close() asks for
    # writes the records of an outage that ended just before a graceful stop.
    sink = sinks(
        ClickHouseAnalyticsStore(f"{private_clickhouse.url}/netra", timeout=2),
        first_retry=3600,
    )
    private_clickhouse.stop()
    user = new_id("usr")
    for _ in range(3):
        sink.record(run_record(user))
    await until(sink, lambda: sink.failing)

    private_clickhouse.start()
    await sink.close(timeout=TIMEOUT)
    assert (sink.written, sink.dropped) == (3, 0)
    count = clickhouse_query(private_clickhouse.url, "SELECT count() FROM netra.run_analytics")
    assert count.strip() == "3"


# -- the records real runs leave ------------------------------------------------
@pytest.fixture
async def make_platform(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[Callable[..., Awaitable[Platform]]]:
    started: list[Platform] = []

    async def make(database_url: str, **overrides: Any) -> Platform:
        platform = await start(
            make_settings(database_url, analytics_flush_interval=0.05, **overrides)
        )
        started.append(platform)
        return platform

    yield make
    for platform in started:
        await stop(platform)


async def run_until_end(
    platform: Platform,
    user: User,
    text: str,
    on_event: Callable[[AgentEvent, RunTicket], Awaitable[None]] | None = None,
) -> tuple[RunTicket, list[AgentEvent]]:
    async with platform.db.session() as session:
        thread_id = (await ThreadRepository(session, user.id).add(text[:60])).id
    events: list[AgentEvent] = []
    async with live_events(platform.bus, thread_id) as queue:
        ticket = await platform.runs.start(user.id, text, thread_id)
        async with asyncio.timeout(TIMEOUT):
            while not events or not events[-1].is_terminal:
                events.append(await queue.get())
                if on_event is not None:
                    await on_event(events[-1], ticket)
    return ticket, events


async def stored_record(platform: Platform, run_id: str) -> RunAnalytics:
    async with asyncio.timeout(TIMEOUT):
        # Its record is handed over once the run's task has seen its end committed.
        await platform.supervisor.finished(run_id)
        await platform.analytics.flush()
    async with platform.db.read() as session:
        rows = (
            await session.scalars(select(RunAnalytics).where(RunAnalytics.run_id == run_id))
        ).all()
    assert len(rows) == 1, rows
    return rows[0]


async def test_completed_and_cancelled_runs_leave_one_record_each(
    database_url: str,
    make_platform: Callable[..., Awaitable[Platform]],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    platform = await make_platform(database_url)
    user = await add_user(platform.db)

    ticket, events = await run_until_end(platform, user, CALCULATION)
    record = await stored_record(platform, ticket.run_id)
    usage = events[-1].data["usage"]
    assert (record.user_id, record.thread_id, record.agent, record.model) == (
        user.id,
        ticket.thread_id,
        "assistant",
        "builtin",
    )
    assert (record.outcome, record.error_code, record.tool_calls) == ("completed", None, 1)
    assert (record.tokens_in, record.tokens_out) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )
    assert record.tokens_in > 0
    assert record.tokens_out > 0
    assert record.first_event_ms is not None
    assert 0 <= record.first_event_ms <= record.duration_ms

    async def cancel_once_the_timer_runs(event: AgentEvent, ticket: RunTicket) -> None:
        if event.type == "tool_executing":
            await platform.runs.cancel(user.id, ticket.run_id)

    ticket, events = await run_until_end(
        platform, user, "wait 30 seconds", cancel_once_the_timer_runs
    )
    assert events[-1].type == "agent_cancelled"
    record = await stored_record(platform, ticket.run_id)
    assert (record.outcome, record.error_code, record.tool_calls) == (
        "cancelled",
        "cancelled_by_user",
        1,
    )
    assert record.tokens_in > 0  # the model's first turn, before the timer

    report = (await platform.analytics.usage(1, user.id)).as_dict()
    assert (report["totals"]["runs"], report["totals"]["cancelled"]) == (2, 1)
    assert (await readiness(platform, details=True))["components"]["analytics"] == {
        "status": "ok",
        "backend": "sql",
        "pending": 0,
        "dropped": 0,
    }


async def test_a_failed_run_keeps_its_tokens_and_tool_calls(
    database_url: str,
    make_platform: Callable[..., Awaitable[Platform]],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    platform = await make_platform(database_url, max_steps=1)  # a tool call, then no answer
    user = await add_user(platform.db)

    ticket, events = await run_until_end(platform, user, CALCULATION)
    assert events[-1].type == "agent_error"
    record = await stored_record(platform, ticket.run_id)
    assert (record.outcome, record.error_code, record.tool_calls) == ("failed", "step_limit", 1)
    assert record.tokens_in > 0
    assert record.tokens_out > 0
    report = (await platform.analytics.usage(1, user.id)).as_dict()
    assert (report["totals"]["runs"], report["totals"]["failures"]) == (1, 1)


async def test_a_run_recovered_at_startup_is_recorded_by_the_instance_that_ended_it(
    database_url: str,
    make_platform: Callable[..., Awaitable[Platform]],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    db = Database(database_url)
    try:
        user = await add_user(db)
        stored = await db.run_transaction(
            lambda c: store_run(
                c,
                user.id,
                "left behind",
                None,
                "assistant",
                title="left behind",
                history_limit=40,
                lease=standing_lease(),
            )
        )
        assert stored is not None
        # The crash was three hours before this restart.
        async with db.session() as session:
            hours_ago = utcnow() - timedelta(hours=3)
            await session.execute(
                update(Run).where(Run.id == stored.run_id).values(created_at=hours_ago)
            )
            await session.execute(
                update(Event).where(Event.run_id == stored.run_id).values(ts=hours_ago)
            )
    finally:
        await db.dispose()

    platform = await make_platform(database_url)  # the only instance: it ends the run
    record = await stored_record(platform, stored.run_id)
    assert (record.user_id, record.thread_id) == (user.id, stored.thread_id)
    assert (record.outcome, record.error_code) == ("failed", "interrupted")
    assert (record.tokens_in, record.tokens_out, record.tool_calls) == (0, 0, 0)
    assert record.first_event_ms is None  # nothing came after agent_started
    # It lasted until its last sign of work (agent_started), not until the restart.
    assert record.duration_ms == 0


async def test_runs_recorded_in_clickhouse_when_it_is_configured(
    sqlite_url: str,
    clickhouse_url: str,
    make_platform: Callable[..., Awaitable[Platform]],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    platform = await make_platform(sqlite_url, clickhouse_url=clickhouse_url)
    user = await add_user(platform.db)
    ticket, _ = await run_until_end(platform, user, CALCULATION)
    async with asyncio.timeout(TIMEOUT):
        await platform.supervisor.finished(ticket.run_id)
        await platform.analytics.flush()
    report = (await platform.analytics.usage(1, user.id)).as_dict()
    assert (report["totals"]["runs"], report["by_agent"][0]["agent"]) == (1, "assistant")
    server, database = clickhouse_url.rsplit("/", 1)
    stored = clickhouse_query(
        server,
        f"SELECT run_id, outcome, tool_calls FROM {database}.run_analytics FORMAT TSV",
    )
    assert stored.split() == [ticket.run_id, "completed", "1"]
    async with platform.db.read() as session:  # nothing went to the SQL table
        assert (await session.scalars(select(RunAnalytics))).all() == []


async def test_two_instances_sweeping_one_lost_run_record_it_once(
    postgres_url: str,
    redis_service: RedisService,
    redis_prefix: str,
    make_platform: Callable[..., Awaitable[Platform]],
    add_user: Callable[..., Awaitable[User]],
) -> None:
    shared = {"redis_url": redis_service.url, "redis_prefix": redis_prefix}
    first = await make_platform(postgres_url, **shared)
    second = await make_platform(postgres_url, **shared)
    user = await add_user(first.db)
    dead = Lease("srv_dead", datetime.now(UTC) - timedelta(seconds=1))
    stored = await first.db.run_transaction(
        lambda c: store_run(
            c, user.id, "wait 60 seconds", None, "assistant", title="t", history_limit=4, lease=dead
        )
    )
    assert stored is not None
    events = [
        ("agent_started", {"agent": "assistant", "input": "wait 60 seconds"}),
        ("agent_thinking", {"text": "waiting"}),
        ("tool_executing", {"tool_call_id": "tc_1", "tool": "timer", "args": {}}),
    ]
    batch = [
        RunEvents(
            stored.run_id,
            stored.thread_id,
            [NewEvent(t, d, EncodedJSON(json.dumps(d))) for t, d in events],
            starts=True,
        )
    ]
    await first.db.run_transaction(lambda c: append_events(c, batch, "srv_dead"))

    ended = await asyncio.gather(first.supervisor.sweep(), second.supervisor.sweep())
    assert sorted(ended) == [0, 1]
    winner = first if ended[0] else second
    record = await stored_record(winner, stored.run_id)  # one row in the shared table
    loser = second if winner is first else first
    async with asyncio.timeout(TIMEOUT):
        await loser.analytics.flush()
    assert (winner.analytics.written, loser.analytics.written) == (1, 0)
    assert (record.outcome, record.error_code, record.tool_calls) == ("failed", "instance_lost", 1)
    assert record.first_event_ms is not None
    assert record.first_event_ms >= 0
