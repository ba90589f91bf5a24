"""Golden-path latency and throughput against a real `netra serve` on the embedded default.

Starts a server on a free loopback port, registers USERS users, and has each run
RUNS calculator runs over its own WebSocket, all users at once. Reports the time
from sending `user_message` to receiving `agent_completed`, and runs per second.

    .venv/bin/python bench/golden_path.py [--users 20] [--runs 10] [--postgres]

With --postgres the server runs on a throwaway PostgreSQL (found as the tests
find it) instead of the embedded SQLite default. The client runs on the same
machine as the server and competes with it for the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from netra.env import process_environment
from netra.testing.fixtures import register_user
from netra.testing.server import NetraServer
from netra.testing.services import create_database, obtain_postgres
from netra.testing.ws import WsClient


async def _user_runs(server: NetraServer, runs: int) -> list[float]:
    user = await register_user(server.base_url)
    client = await WsClient.connect(server.ws_url, user.access_token)
    latencies = []
    thread_id = None
    try:
        for _ in range(runs):
            began = time.perf_counter()
            accepted = await client.start_run("What is 12 * (3 + 4)?", thread_id=thread_id)
            events = await client.events_until_terminal(accepted["run_id"], timeout=60)
            latencies.append(time.perf_counter() - began)
            if events[-1]["type"] != "agent_completed":
                raise RuntimeError(f"run failed: {events[-1]}")
            thread_id = accepted["thread_id"]
    finally:
        await client.close()
    return latencies


async def main(users: int, runs: int, postgres: bool) -> None:
    env = process_environment()
    settings: dict[str, str] = {}
    service = None
    if postgres:
        service = obtain_postgres(env)
        settings["NETRA_DATABASE_URL"] = await create_database(service, "netra_bench")
        settings["NETRA_AUTO_MIGRATE"] = "true"
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            server = NetraServer(env, Path(data_dir), settings).start()
            try:
                began = time.perf_counter()
                results = await asyncio.gather(*(_user_runs(server, runs) for _ in range(users)))
                elapsed = time.perf_counter() - began
            finally:
                server.stop()
    finally:
        if service is not None:
            service.stop()
    latencies = sorted(x for user in results for x in user)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    database = "postgresql" if postgres else "sqlite"
    print(f"database={database} users={users} runs/user={runs} total_runs={len(latencies)}")
    print(f"wall={elapsed:.2f}s (includes registration) runs_per_s={len(latencies) / elapsed:.1f}")
    print(
        f"latency_ms p50={statistics.median(latencies) * 1000:.1f} "
        f"p95={p95 * 1000:.1f} max={latencies[-1] * 1000:.1f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.users, args.runs, args.postgres))
