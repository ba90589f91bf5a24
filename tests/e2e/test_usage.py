"""Run analytics through a real `netra serve`: GET /api/me/usage for two users, each of
whom sees only their own runs, and `netra analytics` for the operator, on the default
SQL sink and on ClickHouse."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from netra.env import IsolatedEnvironment
from netra.testing.fixtures import TestUser, register_user
from netra.testing.server import NetraServer
from netra.testing.ws import WsClient


async def _runs(server: NetraServer, user: TestUser, *texts: str) -> list[dict[str, Any]]:
    """Run each text to its end; returns the terminal events."""
    client = await WsClient.connect(server.ws_url, user.access_token)
    ends = []
    try:
        for text in texts:
            accepted = await client.start_run(text)
            ends.append((await client.events_until_terminal(accepted["run_id"]))[-1])
    finally:
        await client.close()
    return ends


def _netra_analytics(
    env: IsolatedEnvironment, settings: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    child = {k: v for k, v in env.as_dict().items() if not k.startswith("NETRA_")}
    child.update(settings)
    return subprocess.run(
        [sys.executable, "-m", "netra", "analytics", *args],
        env=child,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("sink", ["sql", "clickhouse"])
async def test_each_user_sees_only_their_own_usage_and_the_operator_sees_all(
    sink: str,
    request: pytest.FixtureRequest,
    netra_env: IsolatedEnvironment,
    netra_server_factory: Callable[..., NetraServer],
    tmp_path: Path,
) -> None:
    settings = {
        "NETRA_DATA_DIR": str(tmp_path / "data"),  # the embedded default: SQLite
        "NETRA_SHUTDOWN_GRACE": "0",  # a run still going at SIGTERM is cancelled at once
    }
    if sink == "clickhouse":
        settings["NETRA_CLICKHOUSE_URL"] = request.getfixturevalue("clickhouse_url")
    server = netra_server_factory(settings, data_dir=tmp_path / "data")
    alice, bob = await register_user(server.base_url), await register_user(server.base_url)
    alice_ends = await _runs(server, alice, "What is 12 * (3 + 4)?", "What is 2 + 2?")
    bob_ends = await _runs(server, bob, "What is 7 * 6?")
    assert [e["type"] for e in alice_ends + bob_ends] == ["agent_completed"] * 3
    waiting = await WsClient.connect(server.ws_url, bob.access_token)
    try:
        accepted = await waiting.start_run("wait 60 seconds")
        await waiting.recv_type("tool_executing")
        # A graceful stop ends that run, then writes every buffered record (in a thread:
        # this client keeps reading meanwhile).
        await asyncio.to_thread(server.stop)
        stopped = await waiting.events_until_terminal(accepted["run_id"])
    finally:
        await waiting.close()
    assert stopped[-1]["data"] == {"reason": "server_shutdown"}

    result = _netra_analytics(netra_env, settings, "--format", "json", "--days", "7")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    today = datetime.now(UTC).date().isoformat()
    totals = report["totals"]
    assert (report["days"], totals["runs"], totals["failures"], totals["cancelled"]) == (7, 4, 0, 1)
    assert [(d["day"], d["runs"]) for d in report["by_day"]] == [(today, 4)]
    assert [(a["agent"], a["runs"]) for a in report["by_agent"]] == [("assistant", 4)]
    by_user = {u["user_id"]: (u["runs"], u["cancelled"]) for u in report["by_user"]}
    assert by_user == {alice.id: (2, 0), bob.id: (2, 1)}
    table = _netra_analytics(netra_env, settings)
    assert table.returncode == 0, table.stderr
    assert alice.id in table.stdout
    assert bob.id in table.stdout

    server.start()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        for user, ends, cancelled in ((alice, alice_ends, 0), (bob, bob_ends, 1)):
            response = await http.get("/api/me/usage", headers=user.headers)
            assert response.status_code == 200, response.text
            usage = response.json()
            assert usage["days"] == 30
            runs = len(ends) + cancelled
            assert usage["totals"]["runs"] == runs
            assert (usage["totals"]["failures"], usage["totals"]["cancelled"]) == (0, cancelled)
            # The cancelled run's model turn counts too: at least the completed runs' tokens.
            tokens_in = sum(e["data"]["usage"]["prompt_tokens"] for e in ends)
            tokens_out = sum(e["data"]["usage"]["completion_tokens"] for e in ends)
            if cancelled:
                assert usage["totals"]["tokens_in"] > tokens_in
            else:
                assert usage["totals"]["tokens_in"] == tokens_in
                assert usage["totals"]["tokens_out"] == tokens_out
            assert [(d["day"], d["runs"]) for d in usage["by_day"]] == [(today, runs)]
            assert [(a["agent"], a["runs"]) for a in usage["by_agent"]] == [("assistant", runs)]
            assert "by_user" not in usage  # nobody else's ids, not even their own listed


async def test_usage_refuses_bad_input_and_anonymous_callers(
    http: httpx.AsyncClient, make_user
) -> None:
    user = await make_user()
    for days in ("0", "367", "-1", "seven", "1.5"):
        response = await http.get(f"/api/me/usage?days={days}", headers=user.headers)
        assert response.status_code == 422, (days, response.text)
        assert response.json()["error"]["code"] == "invalid_request"
    anonymous = await http.get("/api/me/usage")
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (401, "unauthorized")
    fresh = await http.get("/api/me/usage?days=1", headers=user.headers)
    assert fresh.status_code == 200
    assert fresh.json()["totals"]["runs"] == 0
    assert fresh.json()["by_day"] == []


def test_analytics_refuses_an_unknown_format(
    netra_env: IsolatedEnvironment, tmp_path: Path
) -> None:
    result = _netra_analytics(
        netra_env, {"NETRA_DATA_DIR": str(tmp_path / "data")}, "--format", "xml"
    )
    assert result.returncode == 2
    assert "--format must be table or json" in result.stderr


def test_analytics_on_a_database_never_upgraded_says_what_to_do(
    netra_env: IsolatedEnvironment, tmp_path: Path
) -> None:
    result = _netra_analytics(netra_env, {"NETRA_DATA_DIR": str(tmp_path / "empty")})
    assert result.returncode == 1
    message = " ".join(result.stderr.split())  # rich wraps lines
    assert "no run_analytics table: run `netra db upgrade`" in message, result.stderr
