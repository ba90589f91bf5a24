"""A real WebSocket client for Netra, and EventValidator for the invariants of DESIGN section 4."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Sequence
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from netra.realtime.events import CRITICAL_EVENTS, TERMINAL_EVENTS, EventType

# Plain strings: frames arrive as JSON.
TERMINAL = frozenset(str(t) for t in TERMINAL_EVENTS)
EVENT_TYPES = frozenset(str(t) for t in EventType)
ENVELOPE = ("type", "event_id", "thread_id", "run_id", "seq", "ts", "data")
Frame = dict[str, Any]


class WsClient:
    """Speaks Netra's WebSocket protocol over a real connection; records every frame."""

    def __init__(self, connection: ClientConnection, user_id: str) -> None:
        self.connection = connection
        self.user_id = user_id
        self.frames: list[Frame] = []

    @classmethod
    async def connect(cls, ws_url: str, token: str, *, timeout: float = 10) -> WsClient:
        connection = await websockets.connect(ws_url, open_timeout=timeout)
        await connection.send(json.dumps({"type": "auth", "token": token}))
        reply = json.loads(await asyncio.wait_for(connection.recv(), timeout))
        if reply.get("type") != "auth_ok":
            await connection.close()
            raise AssertionError(f"expected auth_ok, got {reply}")
        return cls(connection, reply["user_id"])

    async def send(self, frame: Frame) -> None:
        await self.connection.send(json.dumps(frame))

    async def recv(self, timeout: float = 10) -> Frame:
        frame: Frame = json.loads(await asyncio.wait_for(self.connection.recv(), timeout))
        self.frames.append(frame)
        return frame

    async def recv_type(self, *types: str, timeout: float = 10) -> Frame:
        """Receive until a frame of one of `types` arrives; earlier frames are recorded."""
        while True:
            frame = await self.recv(timeout)
            if frame.get("type") in types:
                return frame

    async def start_run(self, text: str, thread_id: str | None = None, **extra: Any) -> Frame:
        """Send a user_message and return its run_accepted frame."""
        await self.send({"type": "user_message", "text": text, "thread_id": thread_id, **extra})
        frame = await self.recv_type("run_accepted", "error")
        if frame["type"] == "error":
            raise AssertionError(f"user_message rejected: {frame}")
        return frame

    async def events_until_terminal(self, run_id: str, timeout: float = 30) -> list[Frame]:
        """This run's events, up to and including its terminal event."""
        events: list[Frame] = []
        while True:
            frame = await self.recv(timeout)
            if frame.get("run_id") == run_id and frame.get("type") in EVENT_TYPES:
                events.append(frame)
                if frame["type"] in TERMINAL:
                    return events

    def events(self) -> list[Frame]:
        """Every agent event this client received, in arrival order."""
        return [f for f in self.frames if f.get("type") in EVENT_TYPES]

    async def close(self) -> None:
        await self.connection.close()


class EventValidator:
    """Checks recorded events against the invariants of DESIGN section 4.

    `violations()` lists every problem in plain words; `assert_valid()` raises
    one AssertionError that shows them all.
    """

    def violations(
        self,
        events: Sequence[Frame],
        *,
        allowed_threads: Iterable[str] | None = None,
        complete: bool = True,
        require_critical: bool = False,
    ) -> list[str]:
        """Problems in `events` (one thread's or several, in arrival order).

        complete: the events are a whole history from seq 1, so gaps count and every
            run must have started and ended.
        require_critical: every completed run must show thinking and at least one tool
            call (the five business-critical events).
        """
        problems: list[str] = []
        allowed = set(allowed_threads) if allowed_threads is not None else None
        last_seq: dict[str, int] = {}
        runs: dict[str, list[Frame]] = {}
        for index, event in enumerate(events):
            where = f"event #{index} ({event.get('type')}, seq {event.get('seq')})"
            missing = [k for k in ENVELOPE if k not in event]
            if missing:
                problems.append(f"{where}: envelope lacks {missing}")
                continue
            if event["type"] not in EVENT_TYPES:
                problems.append(f"{where}: unknown event type {event['type']!r}")
            thread, seq = event["thread_id"], event["seq"]
            if allowed is not None and thread not in allowed:
                problems.append(f"{where}: belongs to thread {thread}, not one of this user's")
            if type(seq) is not int or seq < 1:  # seqs count from 1; bool is no seq
                problems.append(f"{where}: seq {seq!r} is not a positive integer")
            else:
                previous = last_seq.get(thread, 0 if complete else None)
                if previous is not None:
                    if seq <= previous:
                        problems.append(
                            f"{where}: seq {seq} after {previous} in {thread}: not increasing"
                        )
                    elif complete and seq != previous + 1:
                        problems.append(f"{where}: gap in {thread}: seq {previous} then {seq}")
                last_seq[thread] = max(seq, last_seq.get(thread, seq))
            runs.setdefault(event["run_id"], []).append(event)
        for run_id, run_events in runs.items():
            problems.extend(self._run_problems(run_id, run_events, complete, require_critical))
        return problems

    def _run_problems(
        self, run_id: str, events: list[Frame], complete: bool, require_critical: bool
    ) -> list[str]:
        problems: list[str] = []
        types = [e["type"] for e in events]
        if complete and types[0] != "agent_started":
            problems.append(f"run {run_id}: first event is {types[0]}, not agent_started")
        if types.count("agent_started") > 1:
            problems.append(
                f"run {run_id}: agent_started appears {types.count('agent_started')} times"
            )
        terminals = [i for i, t in enumerate(types) if t in TERMINAL]
        if len(terminals) > 1:
            problems.append(
                f"run {run_id}: {len(terminals)} terminal events {[types[i] for i in terminals]}"
            )
        elif complete and not terminals:
            problems.append(f"run {run_id}: no terminal event")
        if terminals and terminals[-1] != len(types) - 1:
            problems.append(
                f"run {run_id}: {types[terminals[-1]]} is not the last event of the run"
            )
        open_calls: dict[str, int] = {}
        for index, event in enumerate(events):
            call_id = event["data"].get("tool_call_id")
            if event["type"] == "tool_executing":
                if call_id in open_calls:
                    problems.append(f"run {run_id}: tool call {call_id} started twice")
                open_calls[call_id] = index
            elif event["type"] == "tool_completed":
                if open_calls.pop(call_id, None) is None:
                    problems.append(
                        f"run {run_id}: tool_completed for {call_id} "
                        "without a tool_executing before it"
                    )
                data = event["data"]
                if ("result" in data) == ("error" in data):
                    problems.append(
                        f"run {run_id}: tool_completed {call_id} needs result xor error"
                    )
        if complete and terminals:
            for call_id in open_calls:
                problems.append(f"run {run_id}: tool call {call_id} never completed")
        if require_critical and types[-1:] == ["agent_completed"]:
            for needed in CRITICAL_EVENTS[:-1]:  # the last one is agent_completed itself
                if needed not in types:
                    problems.append(f"run {run_id}: completed without {needed}")
        return problems

    def assert_valid(self, events: Sequence[Frame], **options: Any) -> None:
        problems = self.violations(events, **options)
        if problems:
            listing = "\n  ".join(problems)
            raise AssertionError(f"{len(problems)} event invariant violation(s):\n  {listing}")

    @staticmethod
    def assert_same_history(live: Sequence[Frame], persisted: Sequence[Frame]) -> None:
        """Invariant 5: what a client saw live equals the persisted events for that range."""
        if [dict(e) for e in live] != [dict(e) for e in persisted]:
            live_ids = [(e.get("seq"), e.get("type")) for e in live]
            stored_ids = [(e.get("seq"), e.get("type")) for e in persisted]
            raise AssertionError(
                "live events differ from GET /events:\n"
                f"  live:   {live_ids}\n  stored: {stored_ids}"
            )
