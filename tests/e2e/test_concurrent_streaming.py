"""Live equals history under 50 concurrent streaming runs, on SQLite and on PostgreSQL.

Fifty users of one real `netra serve` send a message at the same moment, and each
run streams a 40-60 delta answer from a local OpenAI-compatible endpoint (a real
HTTP server). Every user's live events must keep every invariant, equal
GET /events, spell exactly one queued answer, and stay in that user's thread. A
second case drops a connection mid-stream and resumes it with `subscribe`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from netra.testing.fake_openai import FakeOpenAI, Reply, Stream, text_stream
from netra.testing.fixtures import TestUser, register_user
from netra.testing.server import NetraServer
from netra.testing.ws import EventValidator, Frame, WsClient

USERS = 50
REGISTER_AT_ONCE = 8
HANG = 60.0  # seconds per operation: a guard against hangs, never a timing assertion

StartServer = Callable[[str], NetraServer]


@pytest.fixture(params=["sqlite", "postgresql"])
def start_streaming_server(request: pytest.FixtureRequest) -> StartServer:
    """Starts `netra serve` on a model endpoint: SQLite in its own data dir, or a fresh
    PostgreSQL database (requested first, so the server stops before it is dropped)."""
    settings = {"NETRA_MODEL_PROVIDER": "openai", "NETRA_MODEL_NAME": "fake-gpt"}
    if request.param == "postgresql":
        settings["NETRA_DATABASE_URL"] = request.getfixturevalue("postgres_url")
    factory = request.getfixturevalue("netra_server_factory")

    def start(model_base_url: str) -> NetraServer:
        server: NetraServer = factory(settings={**settings, "NETRA_MODEL_BASE_URL": model_base_url})
        return server

    return start


class GatedFakeOpenAI(FakeOpenAI):
    """The fake endpoint, except that a stream pauses after its first `hold_after` SSE
    events until `gate` is set: a run is then certainly still streaming."""

    def __init__(self, hold_after: int) -> None:
        super().__init__()
        self.hold_after = hold_after
        self.gate = asyncio.Event()

    async def _reply(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reply: Reply
    ) -> None:
        if not isinstance(reply, Stream):
            await super()._reply(reader, writer, reply)
            return
        events = [part + "\n\n" for part in reply.body.split("\n\n") if part.strip()]
        await super()._reply(reader, writer, Stream("".join(events[: self.hold_after])))
        await asyncio.wait_for(self.gate.wait(), HANG)
        writer.write("".join(events[self.hold_after :]).encode())
        await writer.drain()


def answer_pieces(reply: int) -> list[str]:
    """The deltas of one queued reply: 40 to 60 of them, each naming its reply."""
    return [f"r{reply}-d{index} " for index in range(40 + reply % 21)]


async def register_users(base_url: str, count: int) -> list[TestUser]:
    """Register `count` users over the REST API, a few at a time."""
    limit = asyncio.Semaphore(REGISTER_AT_ONCE)

    async def one() -> TestUser:
        async with limit:
            return await asyncio.wait_for(register_user(base_url), HANG)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def persisted_events(base_url: str, user: TestUser, thread_id: str) -> list[Frame]:
    """GET /api/threads/{id}/events for the whole thread."""
    async with httpx.AsyncClient(base_url=base_url, timeout=HANG) as http:
        response = await http.get(f"/api/threads/{thread_id}/events", headers=user.headers)
    assert response.status_code == 200, response.text
    events: list[Frame] = response.json()
    return events


async def stream_one_run(client: WsClient) -> tuple[Frame, list[Frame]]:
    """Wait for the run a `user_message` started; return its run_accepted and events."""
    accepted = await client.recv_type("run_accepted", "error", timeout=HANG)
    assert accepted["type"] == "run_accepted", accepted
    await client.events_until_terminal(accepted["run_id"], timeout=HANG)
    # Taken from every frame received, in case an event came before run_accepted.
    return accepted, [e for e in client.events() if e["run_id"] == accepted["run_id"]]


async def test_live_equals_history_under_50_concurrent_streaming_runs(
    start_streaming_server: StartServer,
) -> None:
    answers = [answer_pieces(reply) for reply in range(USERS)]
    async with FakeOpenAI() as fake:
        fake.enqueue(*(text_stream(*pieces) for pieces in answers))
        server = start_streaming_server(fake.base_url)
        users = await register_users(server.base_url, USERS)
        clients = await asyncio.gather(
            *(WsClient.connect(server.ws_url, u.access_token, timeout=HANG) for u in users)
        )
        try:
            texts = [f"question {index} from {user.email}" for index, user in enumerate(users)]
            await asyncio.gather(
                *(
                    c.send({"type": "user_message", "text": t})
                    for c, t in zip(clients, texts, strict=True)
                )
            )
            runs = await asyncio.gather(*(stream_one_run(c) for c in clients))
        finally:
            await asyncio.gather(*(c.close() for c in clients))
        histories = await asyncio.gather(
            *(
                persisted_events(server.base_url, u, a["thread_id"])
                for u, (a, _) in zip(users, runs, strict=True)
            )
        )
    assert len(fake.requests) == USERS

    validator = EventValidator()
    by_first_delta = {pieces[0]: (reply, pieces) for reply, pieces in enumerate(answers)}
    replies_used = []
    for client, text, (accepted, live), persisted in zip(
        clients, texts, runs, histories, strict=True
    ):
        thread_id, run_id = accepted["thread_id"], accepted["run_id"]
        assert live[-1]["type"] == "agent_completed", live[-1]
        assert live[0]["type"] == "agent_started"
        assert live[0]["data"]["input"] == text
        validator.assert_valid(live, allowed_threads=[thread_id])
        validator.assert_same_history(live, persisted)
        # Isolation: this connection saw only its own thread, which holds only its run.
        validator.assert_valid(client.events(), allowed_threads=[thread_id])
        assert {e["run_id"] for e in persisted} == {run_id}
        deltas = [e for e in live if e["type"] == "agent_message_delta"]
        reply, pieces = by_first_delta[deltas[0]["data"]["delta"]]
        replies_used.append(reply)
        assert [e["data"]["delta"] for e in deltas] == pieces
        completed = live[-1]["data"]
        assert completed["text"] == "".join(pieces)
        assert {e["data"]["message_id"] for e in deltas} == {completed["message_id"]}
    assert sorted(replies_used) == list(range(USERS))  # each reply reached exactly one run


async def test_reconnect_mid_stream_resumes_with_no_gap_and_no_duplicate(
    start_streaming_server: StartServer,
) -> None:
    pieces = answer_pieces(7)  # 47 deltas; the endpoint holds back all after the 10th
    # The role chunk, then 10 deltas. The client reads all of them before it closes:
    # frames left unread would pause its reading and stall its own close handshake.
    async with GatedFakeOpenAI(hold_after=1 + 10) as fake:
        fake.enqueue(text_stream(*pieces))
        server = start_streaming_server(fake.base_url)
        (user,) = await register_users(server.base_url, 1)
        first = await WsClient.connect(server.ws_url, user.access_token, timeout=HANG)
        try:
            accepted = await first.start_run("tell me a long story")
            while sum(e["type"] == "agent_message_delta" for e in first.events()) < 10:
                await first.recv(timeout=HANG)
        finally:
            await first.close()  # dropped mid-stream: the run is waiting on the model
        seen = [e for e in first.events() if e["run_id"] == accepted["run_id"]]

        second = await WsClient.connect(server.ws_url, user.access_token, timeout=HANG)
        try:
            after_seq = seen[-1]["seq"]
            await second.send(
                {"type": "subscribe", "thread_id": accepted["thread_id"], "after_seq": after_seq}
            )
            fake.gate.set()  # the rest streams while the replay is under way
            rest = await second.events_until_terminal(accepted["run_id"], timeout=HANG)
        finally:
            await second.close()
        persisted = await persisted_events(server.base_url, user, accepted["thread_id"])

    assert [e["type"] for e in seen].count("agent_message_delta") == 10
    assert all(e["type"] not in ("agent_completed", "agent_error") for e in seen)
    combined = seen + rest
    assert [e["seq"] for e in combined] == list(range(1, len(combined) + 1))
    assert rest[0]["seq"] == after_seq + 1
    assert combined[-1]["type"] == "agent_completed"
    validator = EventValidator()
    validator.assert_valid(combined, allowed_threads=[accepted["thread_id"]])
    validator.assert_same_history(combined, persisted)
    deltas = [e["data"]["delta"] for e in combined if e["type"] == "agent_message_delta"]
    assert deltas == pieces
    assert combined[-1]["data"]["text"] == "".join(pieces)
