"""Starting a Netra run from an AG-UI `RunAgentInput`, and following its events.

Knows nothing about HTTP: the route parses, calls these, and encodes.

Thread ids follow the input. `threadId` is one of the caller's threads (its
Netra `thr_...` id, or the client's own id it was first created with), or a
new id of the client's own (a UUID, as CopilotKit sends): a new thread is
created and keeps that id as its `external_id`, so the next run with it lands
in the same thread. Netra makes every `thr_...` id itself: one that is not
among the caller's threads is `not_found`, whether it exists or not, so an id
reveals nothing and cannot be claimed. Each user's own ids are theirs.

History: a new thread takes the earlier user and assistant messages of the
input as its history; a thread Netra has keeps its own (see `AguiRequest`).

Client tools: the input's `tools` are offered to the model. A run whose model
calls one ends waiting for it (`agent_completed.data.client_tool_calls`); the
next input, ending with the tools' results, continues from there.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import deque
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field

from ag_ui.core import (
    AssistantMessage,
    RunAgentInput,
    TextPart,
    ToolMessage,
    UserMessage,
)
from sqlalchemy.exc import IntegrityError

from netra.agents.engine import ClientTurn
from netra.agents.models.base import ChatMessage, ToolSpec
from netra.db.engine import Database
from netra.db.repositories import ThreadRepository
from netra.errors import AppError, not_found
from netra.ids import is_valid
from netra.realtime.bus import EventBus
from netra.realtime.events import AgentEvent
from netra.realtime.follow import ThreadFollower, read_thread_events
from netra.runs import RunService, RunTicket
from netra.runs.service import MAX_MESSAGE_CHARS

log = logging.getLogger(__name__)
TITLE_CHARS = 60
EXTERNAL_ID_CHARS = 200  # the length of threads.external_id
#: A run's events waiting for a slow SSE reader before reading more of its history waits.
STREAM_ROOM = 500
#: What the Chat Completions API accepts as a function name.
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: How much of each client tool result the run's input (its agent_started) shows.
RESULT_PREVIEW_CHARS = 500
MAX_CLIENT_TOOLS = 64


@dataclass(frozen=True)
class AguiRequest:
    """What Netra takes from a `RunAgentInput`.

    Either the newest user message (`text`), or, when the input ends with tool
    messages, the results of the client's tools (`tool_results`: call id ->
    content) that the thread's last run waits for. `earlier` is the input's user and
    assistant text before that, used only as the history of a thread new to Netra:
    for a thread Netra has, its own stored history wins. `tools` are the client's.
    """

    text: str
    agent: str | None
    tools: tuple[ToolSpec, ...] = ()
    tool_results: dict[str, str] = field(default_factory=dict)
    earlier: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_input(cls, run_input: RunAgentInput) -> AguiRequest:
        """The request, or a 422 saying what the input lacks."""
        agent = None
        props = run_input.forwarded_props
        if isinstance(props, dict) and props.get("agent") is not None:
            if not isinstance(props["agent"], str):
                raise AppError(422, "invalid_request", "`forwardedProps.agent` must be a string")
            agent = props["agent"]
        tools = _client_tools(run_input)
        messages = run_input.messages
        results: dict[str, str] = {}
        end = len(messages)
        while end > 0 and isinstance(messages[end - 1], ToolMessage):
            end -= 1
            tool_message = messages[end]
            assert isinstance(tool_message, ToolMessage)
            results[tool_message.tool_call_id] = _text(tool_message.content)
        if results:
            return cls(text="", agent=agent, tools=tools, tool_results=results)
        users = [i for i, m in enumerate(messages) if isinstance(m, UserMessage)]
        if not users:
            raise AppError(422, "invalid_request", "`messages` has no user message to answer")
        last = messages[users[-1]]
        assert isinstance(last, UserMessage)
        earlier = tuple(
            (m.role, text)
            for m in messages[: users[-1]]
            if isinstance(m, UserMessage | AssistantMessage) and (text := _text(m.content))
        )
        return cls(text=_text(last.content), agent=agent, tools=tools, earlier=earlier)


def _text(content: object) -> str:
    """A message's text; of a multi-part content, its text parts (Netra's agents read
    text only, so images and other parts are left out)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.text for part in content if isinstance(part, TextPart))
    return ""


def _client_tools(run_input: RunAgentInput) -> tuple[ToolSpec, ...]:
    offered = run_input.tools or []
    if len(offered) > MAX_CLIENT_TOOLS:
        raise AppError(422, "invalid_request", f"`tools` has more than {MAX_CLIENT_TOOLS} tools")
    specs: dict[str, ToolSpec] = {}
    for tool in offered:
        if not TOOL_NAME.match(tool.name):
            raise AppError(
                422,
                "invalid_request",
                f"tool name {tool.name[:80]!r} must be 1 to 64 letters, digits, _ or -",
            )
        parameters = tool.parameters if isinstance(tool.parameters, dict) else {}
        specs[tool.name] = ToolSpec(tool.name, tool.description, parameters or _NO_PARAMETERS)
    return tuple(specs.values())


_NO_PARAMETERS = {"type": "object", "properties": {}}
# Seconds a message to a busy thread waits for its run to end before its 409: with
# several instances, the one that saw the front end abort may not have ended the run yet.
ABORT_NOTICE = 3.0


async def start_run(
    runs: RunService, db: Database, user_id: str, run_input: RunAgentInput
) -> RunTicket:
    """Start the run an AG-UI client asked for, on the thread it named."""
    request = AguiRequest.from_input(run_input)
    if request.tool_results:
        return await _continue_run(runs, db, user_id, run_input.thread_id, request)
    # Refuse a bad request before a new thread is created for it.
    text, agent = runs.check(user_id, request.text, request.agent)
    thread_id = await claim_thread(db, user_id, run_input.thread_id, text, request.earlier)
    try:
        return await runs.start(user_id, text, thread_id, agent, client_tools=request.tools)
    except AppError as exc:
        # A front end that aborted a run sends its next message at once: if the run
        # it left is still writing its end, that message waits for it, not a 409.
        if exc.code != "run_in_progress" or not await runs.wait_for_cancelled_run(
            user_id, thread_id, notice=ABORT_NOTICE
        ):
            raise
    return await runs.start(user_id, text, thread_id, agent, client_tools=request.tools)


async def _continue_run(
    runs: RunService, db: Database, user_id: str, requested: str, request: AguiRequest
) -> RunTicket:
    """A run that continues the thread's last one, which waits for the client's tools,
    with their results."""
    async with db.read() as session:
        threads = ThreadRepository(session, user_id)
        thread = await threads.get(requested) or await threads.by_external_id(requested)
        end = None if thread is None else await threads.last_run_end(thread.id)
    if thread is None:
        raise AppError(
            422,
            "invalid_request",
            "`messages` ends with tool results, but Netra has no such thread to continue",
        )
    data = AgentEvent.from_record(end).data if end is not None else {}
    if end is None or end.type != "agent_completed" or "turn" not in data:
        raise _no_pending("the thread's last run is not waiting for client tools")
    turn = ClientTurn.from_data(data["turn"])
    waiting = [call["tool_call_id"] for call in data.get("client_tool_calls", ())]
    missing = [call_id for call_id in waiting if call_id not in request.tool_results]
    if missing:
        raise _no_pending(f"no result for the pending tool call(s) {', '.join(missing)}")
    names = {call.id: call.name for call in turn.calls}
    resume: list[ChatMessage] = [
        ChatMessage("assistant", turn.text, tool_calls=turn.calls),
        *turn.results,
    ]
    lines = []
    for call_id in waiting:
        content = request.tool_results[call_id]
        resume.append(ChatMessage("tool", content, tool_call_id=call_id))
        lines.append(f"{names[call_id]} returned: {content[:RESULT_PREVIEW_CHARS]}")
    # The input only previews the results (the model gets them whole): cut to what a
    # run's input may hold, so that many calls' results are never refused as too long.
    text, agent = runs.check(user_id, "\n".join(lines)[:MAX_MESSAGE_CHARS], request.agent)
    return await runs.start(
        user_id,
        text,
        thread.id,
        agent,
        client_tools=request.tools,
        resume=_order(resume),
        resume_seq=end.seq,
    )


def _order(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """The assistant's turn, then one tool message per call, in the calls' order."""
    head, *results = messages
    position = {call.id: index for index, call in enumerate(head.tool_calls)}
    return [head, *sorted(results, key=lambda m: position.get(m.tool_call_id or "", 0))]


def _no_pending(why: str) -> AppError:
    return AppError(409, "no_pending_tool_call", f"`messages` ends with tool results, but {why}")


async def claim_thread(
    db: Database,
    user_id: str,
    requested: str,
    title: str,
    earlier: Sequence[tuple[str, str]] = (),
) -> str:
    """The Netra id of the caller's thread named `requested`, created if the id is new
    (with `earlier` as its history: the messages the client had before this one)."""
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
            threads = ThreadRepository(session, user_id)
            thread = await threads.add(title[:TITLE_CHARS] or "AG-UI", external_id=requested)
            if earlier:
                await threads.add_messages(thread.id, earlier)
            return thread.id
    except IntegrityError:
        # A concurrent request of this user created it first: it is theirs and fine.
        async with db.session() as session:
            found = await ThreadRepository(session, user_id).by_external_id(requested)
        if found is None:
            raise
        return found.id


class RunStreamFailed(Exception):
    """Following the run failed before its terminal event (the run itself goes on)."""


class RunStream:
    """A `ThreadFollower`'s sink for one AG-UI response: the run's events, up to its
    terminal one, kept in order until the SSE stream takes them.

    Live events are always kept (a run's are bounded by its step limit and timeout);
    a replay waits while `room` events are waiting to be taken.
    """

    def __init__(self, db: Database, user_id: str, run_id: str, room: int = STREAM_ROOM) -> None:
        self.run_id = run_id
        self.closed = False  # the terminal event is in, following failed, or the stream ended
        self.failure: BaseException | None = None
        self._db = db
        self._user_id = user_id
        self._room = room
        self._events: deque[AgentEvent] = deque()
        self._arrived: asyncio.Future[None] | None = None  # the stream waiting for an event
        self._drained: asyncio.Future[None] | None = None  # a replay waiting for room

    # -- the follower's side ------------------------------------------------
    def send_event(self, event: AgentEvent) -> None:
        if self.closed or event.run_id != self.run_id:
            return
        self._events.append(event)
        if event.is_terminal:  # nothing after it belongs to this response
            self.closed = True
        _wake(self._arrived)

    async def send_event_when_room(self, event: AgentEvent) -> None:
        while len(self._events) >= self._room and not self.closed:
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained
        self.send_event(event)

    async def read_events(self, thread_id: str, after_seq: int, limit: int) -> list[AgentEvent]:
        return await read_thread_events(self._db, self._user_id, thread_id, after_seq, limit)

    def follow_failed(self, follower: ThreadFollower, exc: BaseException) -> None:
        log.error("following %s for an AG-UI stream failed", follower.thread_id, exc_info=exc)
        self.failure = exc
        self.closed = True
        _wake(self._arrived)

    # -- the stream's side --------------------------------------------------
    async def next(self, idle: float | None = None) -> AgentEvent | None:
        """The run's next event, or None after `idle` seconds without one.

        Raises RunStreamFailed once the events before the failure have been taken.
        """
        while not self._events:
            if self.failure is not None:
                raise RunStreamFailed(f"following run {self.run_id} failed") from self.failure
            self._arrived = arrived = asyncio.get_running_loop().create_future()
            done, _ = await asyncio.wait((arrived,), timeout=idle)
            self._arrived = None
            if not done:
                return None
        event = self._events.popleft()
        if len(self._events) < self._room:
            _wake(self._drained)
        return event

    def close(self) -> None:
        """The stream has ended: nothing more is kept, and a waiting replay goes on (to stop)."""
        self.closed = True
        self._events.clear()
        _wake(self._drained)


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


async def follow_run(
    db: Database,
    bus: EventBus,
    user_id: str,
    thread_id: str,
    run_id: str,
    after_seq: int,
    idle: float | None = None,
) -> AsyncGenerator[AgentEvent | None, None]:
    """The run's events with seq > after_seq, each once and in order, ending with its
    terminal event; None after `idle` seconds without one (for keep-alives).

    The thread is followed the way every transport follows one (`ThreadFollower`):
    what is stored first, then live, gaps and the bus's resyncs filled from the log.
    Raises RunStreamFailed if that fails before the terminal event. Close the
    iterator (`contextlib.aclosing`) to stop following at once: it returns once the
    replay, if one was under way, has stopped.
    """
    stream = RunStream(db, user_id, run_id)
    follower = ThreadFollower(bus, thread_id, after_seq, stream, replay=True)
    try:
        while True:
            event = await stream.next(idle)
            yield event
            if event is not None and event.is_terminal:
                return
    finally:
        stream.close()
        stopping = follower.stop()
        if stopping is not None:
            # A replay cut off in a read still gives its connection back: a caller that
            # goes on to close the database (or its event loop) must not find that half
            # done. asyncio.wait, not gather: a caller cancelled meanwhile (a stream
            # whose client left) must not cancel that cleanup a second time.
            await asyncio.wait({stopping})
