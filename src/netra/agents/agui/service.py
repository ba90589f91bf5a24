"""Starting a Netra run from an AG-UI `RunAgentInput`, and following its events.

Knows nothing about HTTP: the route parses, calls these, and encodes.

Thread ids follow the input. `threadId` is one of the caller's threads (its
Netra `thr_...` id, or the client's own id it was first created with), or a
new id of the client's own (a UUID, as CopilotKit sends): a new thread is
created and keeps that id as its `external_id`, so the next run with it lands
in the same thread. Netra makes every `thr_...` id itself: one that is not
among the caller's threads is `not_found`, whether it exists or not, so an id
reveals nothing and cannot be claimed. Each user's own ids are theirs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ag_ui.core import RunAgentInput, TextPart, UserMessage
from sqlalchemy.exc import IntegrityError

from netra.db.engine import Database
from netra.db.repositories import ThreadRepository
from netra.errors import AppError, not_found
from netra.ids import is_valid
from netra.realtime.bus import EventBus
from netra.realtime.events import AgentEvent
from netra.runs import RunService, RunTicket

TITLE_CHARS = 60
EXTERNAL_ID_CHARS = 200  # the length of threads.external_id
HISTORY_PAGE = 500


@dataclass(frozen=True)
class AguiRequest:
    """What Netra takes from a `RunAgentInput`: the newest user message and an agent."""

    text: str
    agent: str | None

    @classmethod
    def from_input(cls, run_input: RunAgentInput) -> AguiRequest:
        """The request, or a 422 saying what the input lacks.

        Netra keeps each thread's history itself, so of `messages` only the last
        user message is read. Client-side `tools` and `context` are not used: the
        agent's own tools run on the server. `forwarded_props.agent` picks an agent.
        """
        users = [m for m in run_input.messages if isinstance(m, UserMessage)]
        if not users:
            raise AppError(422, "invalid_request", "`messages` has no user message to answer")
        content = users[-1].content
        if isinstance(content, str):
            text = content
        else:
            # Netra's agents read text only; images and other parts are left out.
            text = "\n".join(part.text for part in content if isinstance(part, TextPart))
        agent = None
        props = run_input.forwarded_props
        if isinstance(props, dict) and props.get("agent") is not None:
            if not isinstance(props["agent"], str):
                raise AppError(422, "invalid_request", "`forwardedProps.agent` must be a string")
            agent = props["agent"]
        return cls(text=text, agent=agent)


async def start_run(
    runs: RunService, db: Database, user_id: str, run_input: RunAgentInput
) -> RunTicket:
    """Start the run an AG-UI client asked for, on the thread it named."""
    request = AguiRequest.from_input(run_input)
    # Refuse a bad request before a new thread is created for it.
    text, agent = runs.check(user_id, request.text, request.agent)
    thread_id = await claim_thread(db, user_id, run_input.thread_id, text)
    return await runs.start(user_id, text, thread_id, agent)


async def claim_thread(db: Database, user_id: str, requested: str, title: str) -> str:
    """The Netra id of the caller's thread named `requested`, created if the id is new."""
    async with db.session() as session:
        threads = ThreadRepository(session, user_id)
        found = await threads.get(requested) or await threads.by_external_id(requested)
        if found is not None:
            return found.id
    if is_valid(requested, "thr"):
        raise not_found("thread")
    if len(requested) > EXTERNAL_ID_CHARS:
        raise AppError(
            422, "invalid_request", f"`threadId` is longer than {EXTERNAL_ID_CHARS} characters"
        )
    try:
        async with db.session() as session:
            thread = await ThreadRepository(session, user_id).add(
                title[:TITLE_CHARS] or "AG-UI", external_id=requested
            )
            return thread.id
    except IntegrityError:
        # A concurrent request of this user created it first: it is theirs and fine.
        async with db.session() as session:
            found = await ThreadRepository(session, user_id).by_external_id(requested)
        if found is None:
            raise
        return found.id


async def follow_run(
    db: Database,
    bus: EventBus,
    user_id: str,
    thread_id: str,
    run_id: str,
    after_seq: int,
    idle: float | None = None,
) -> AsyncIterator[AgentEvent | None]:
    """The run's events with seq > after_seq, history first then live, ending with its
    terminal event. Yields None after `idle` seconds without one (for keep-alives).

    Subscribes before reading history, as the WebSocket does: every event is in the
    history read or arrives live, and the seq check drops what is in both.
    """
    async with bus.subscribe(thread_id) as live:
        last = after_seq
        while True:
            backlog = await _history(db, user_id, thread_id, last)
            for event in backlog:
                last = event.seq
                if event.run_id == run_id:
                    yield event
                    if event.is_terminal:
                        return
            while True:
                try:
                    event = await asyncio.wait_for(live.get(), idle)
                except TimeoutError:
                    yield None
                    continue
                if event.seq <= last:
                    continue
                if event.seq > last + 1:  # a gap on the bus: read it from the database
                    live.put_nowait(event)
                    break
                last = event.seq
                if event.run_id == run_id:
                    yield event
                    if event.is_terminal:
                        return


async def _history(db: Database, user_id: str, thread_id: str, after_seq: int) -> list[AgentEvent]:
    events: list[AgentEvent] = []
    while True:
        async with db.read() as session:
            page = await ThreadRepository(session, user_id).events(
                thread_id, after_seq=after_seq, limit=HISTORY_PAGE
            )
        events.extend(AgentEvent.from_record(record) for record in page)
        if len(page) < HISTORY_PAGE:
            return events
        after_seq = page[-1].seq
