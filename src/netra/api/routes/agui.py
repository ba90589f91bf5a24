"""POST /api/agui: run an agent for an AG-UI client, streaming AG-UI events over SSE.

The run is an ordinary Netra run: the same engine, the same persisted events,
visible over /ws and GET /api/threads/{id}/events. This endpoint only changes
the wire format. A client that disconnects before the run's end (an AG-UI
`abortRun()`, a closed tab) cancels it, as a REST cancel would: the run ends
with agent_cancelled and the thread takes the next message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing

from ag_ui.core import RunAgentInput
from ag_ui.encoder import EventEncoder
from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from netra.api.agui.service import RunStreamFailed, follow_run, start_run
from netra.api.agui.translate import AguiTranslator
from netra.api.deps import AguiUserId, PlatformDep
from netra.api.openapi import BODY, error_responses
from netra.inputs import NulFree

router = APIRouter(prefix="/api")

#: Seconds of silence before an SSE comment line, so proxies keep a quiet stream open.
KEEPALIVE_SECONDS = 15.0


class AguiInput(NulFree, RunAgentInput):
    """AG-UI's RunAgentInput, with no NUL character anywhere."""


class EventStream(StreamingResponse):
    """An SSE response; `on_close`, if set, is called once it is over, however it ended:
    streamed to the end, or cut short by a client that left (even before the first
    event, when the stream's own code never runs)."""

    media_type = "text/event-stream"
    on_close: Callable[[], None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self.on_close is not None:
                self.on_close()


@router.post(
    "/agui",
    response_class=EventStream,
    response_model=None,
    responses={
        **error_responses(*BODY, 401, 404, 409, 429, 503),
        200: {
            "description": "AG-UI events as server-sent events, until RUN_FINISHED or RUN_ERROR",
            "content": {
                "text/event-stream": {
                    # One server-sent event; its `data` is an AG-UI event as JSON.
                    "schema": {
                        "type": "object",
                        "required": ["data"],
                        "properties": {"data": {"type": "string"}, "event": {"type": "string"}},
                    }
                }
            },
        },
    },
)
async def run_agent(
    run_input: AguiInput, user_id: AguiUserId, platform: PlatformDep
) -> EventStream:
    """Start the run, then stream its AG-UI events until RUN_FINISHED or RUN_ERROR.

    Authenticated by an access token or by an API token (POST /api/me/api-tokens).

    Errors found before the run starts (bad input, another user's thread, a busy
    thread) are ordinary JSON error responses, not streams.
    """
    ticket = await start_run(platform.runs, platform.db, user_id, run_input)
    translator = AguiTranslator(run_input.thread_id, run_input.run_id, run_input)
    encoder = EventEncoder()
    answered = False  # the client got the run's end, or was told where to find it

    async def stream() -> AsyncIterator[str]:
        events = follow_run(
            platform.db,
            platform.bus,
            user_id,
            ticket.thread_id,
            ticket.run_id,
            ticket.start_seq,
            idle=KEEPALIVE_SECONDS,
        )
        nonlocal answered
        open_streams = platform.obs.metrics.connections.labels("agui")
        open_streams.inc()
        try:
            async with aclosing(events):  # a client that leaves stops the following at once
                async for event in events:
                    if event is None:
                        yield ": keepalive\n\n"
                        continue
                    for agui_event in translator.translate(event):
                        yield encoder.encode(agui_event)
            answered = True
        except RunStreamFailed:
            answered = True
            message = (
                "this stream stopped following the run, which goes on; its events are at "
                f"GET /api/threads/{ticket.thread_id}/events"
            )
            for agui_event in translator.failed("subscription_failed", message):
                yield encoder.encode(agui_event)
        finally:
            open_streams.dec()

    def closed() -> None:
        if not answered:  # the client went away (or the server is stopping) mid-run
            platform.runs.abandon(user_id, ticket.run_id)

    response = EventStream(
        stream(),
        media_type=encoder.get_content_type(),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    response.on_close = closed
    return response
