"""`netra serve` as a user runs it: configuration errors, PostgreSQL, graceful stop."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from netra.env import IsolatedEnvironment
from netra.testing.fixtures import register_user
from netra.testing.server import ServerFailed
from netra.testing.services import PostgresService, create_database
from netra.testing.ws import EventValidator, WsClient


def _netra(env: IsolatedEnvironment, tmp_path: Path, *args: str, **settings: str):
    child = {k: v for k, v in env.as_dict().items() if not k.startswith("NETRA_")}
    child.update({"NETRA_DATA_DIR": str(tmp_path / "data"), **settings})
    return subprocess.run(
        [sys.executable, "-m", "netra", *args],
        env=child,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_bad_setting_stops_serve_with_a_message_naming_it(netra_env, tmp_path: Path) -> None:
    result = _netra(netra_env, tmp_path, "serve", NETRA_RUN_TIMEOUT="soon")
    assert result.returncode == 2
    assert "NETRA_RUN_TIMEOUT" in result.stderr


async def test_production_refuses_to_start_without_a_secret(netra_env, tmp_path: Path) -> None:
    result = _netra(netra_env, tmp_path, "serve", NETRA_ENV="production")
    assert result.returncode == 2
    assert "NETRA_SECRET_KEY is required" in result.stderr
    assert not (tmp_path / "data" / "secret_key").exists()


async def test_serve_on_postgresql_after_db_upgrade(
    netra_env, tmp_path: Path, postgres: PostgresService, netra_server_factory
) -> None:
    url = await create_database(postgres, f"netra_e2e_{tmp_path.name[-8:].lower()}")
    upgrade = _netra(netra_env, tmp_path, "db", "upgrade", NETRA_DATABASE_URL=url)
    assert upgrade.returncode == 0, upgrade.stderr
    secret = "e2e-secret-" + "x" * 32
    server = netra_server_factory({"NETRA_DATABASE_URL": url, "NETRA_SECRET_KEY": secret})

    user = await register_user(server.base_url)
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        ready = (await http.get("/ready", headers=user.headers)).json()
    assert ready["components"]["database"]["backend"] == "postgresql"
    client = await WsClient.connect(server.ws_url, user.access_token)
    try:
        accepted = await client.start_run("What is 12 * (3 + 4)?")
        events = await client.events_until_terminal(accepted["run_id"])
    finally:
        await client.close()
    assert "84" in events[-1]["data"]["text"]
    EventValidator().assert_valid(events, require_critical=True)
    server.stop()
    log = server.log()
    assert "serving on" in log
    assert "Application shutdown complete" in log  # SIGTERM shut it down gracefully


def test_a_second_server_on_the_same_database_refuses_to_start(
    netra_server_factory, tmp_path: Path
) -> None:
    netra_server_factory(data_dir=tmp_path / "shared")
    with pytest.raises(ServerFailed) as failed:
        netra_server_factory(data_dir=tmp_path / "shared")
    assert "another Netra process is already serving this database" in str(failed.value)
