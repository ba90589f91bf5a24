"""/api/threads: the caller's own threads, their messages, events and runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from netra.api.deps import PlatformDep, UserId
from netra.api.openapi import BODY, error_responses
from netra.api.schemas import MessageOut, RunAccepted, ThreadOut
from netra.db.models import Message, Thread
from netra.db.repositories import ThreadRepository
from netra.errors import not_found
from netra.inputs import NulFree
from netra.realtime.events import MAX_SEQ, AgentEvent
from netra.web.markdown import render_markdown

router = APIRouter(prefix="/api")


class ThreadIn(NulFree):
    title: str = Field("New thread", min_length=1, max_length=200)


class ThreadPatch(NulFree):
    title: str = Field(min_length=1, max_length=200, pattern=r"\S")  # not only blanks


class RunIn(NulFree):
    text: str = Field(min_length=1)
    agent: str | None = Field(None, max_length=64)


@router.post("/threads", status_code=201, responses=error_responses(*BODY, 401))
async def create_thread(
    user_id: UserId, platform: PlatformDep, body: ThreadIn | None = None
) -> ThreadOut:
    async with platform.db.session() as session:
        thread = await ThreadRepository(session, user_id).add((body or ThreadIn()).title)
        return ThreadOut.model_validate(thread)


@router.get("/threads", responses=error_responses(401, 422))
async def list_threads(
    user_id: UserId, platform: PlatformDep, limit: int = Query(100, ge=1, le=500)
) -> list[ThreadOut]:
    async with platform.db.read() as session:
        repository = ThreadRepository(session, user_id)
        threads = await repository.list(limit)
        return await _with_active_runs(repository, threads)


@router.get("/threads/{thread_id}", responses=error_responses(401, 404, 422))
async def get_thread(thread_id: str, user_id: UserId, platform: PlatformDep) -> ThreadOut:
    async with platform.db.read() as session:
        repository = ThreadRepository(session, user_id)
        thread = await repository.get(thread_id)
        if thread is None:  # another user's thread is indistinguishable from none
            raise not_found("thread")
        return (await _with_active_runs(repository, [thread]))[0]


@router.patch("/threads/{thread_id}", responses=error_responses(*BODY, 401, 404))
async def rename_thread(
    thread_id: str, body: ThreadPatch, user_id: UserId, platform: PlatformDep
) -> ThreadOut:
    async with platform.db.session() as session:
        repository = ThreadRepository(session, user_id)
        thread = await repository.rename(thread_id, body.title.strip())
        if thread is None:
            raise not_found("thread")
        return (await _with_active_runs(repository, [thread]))[0]


@router.delete(
    "/threads/{thread_id}", status_code=204, responses=error_responses(401, 404, 409, 422)
)
async def delete_thread(thread_id: str, user_id: UserId, platform: PlatformDep) -> Response:
    await platform.runs.delete_thread(user_id, thread_id)
    return Response(status_code=204)


@router.get("/threads/{thread_id}/messages", responses=error_responses(401, 404, 422))
async def list_messages(thread_id: str, user_id: UserId, platform: PlatformDep) -> list[MessageOut]:
    async with platform.db.read() as session:
        threads = ThreadRepository(session, user_id)
        if await threads.get(thread_id) is None:
            raise not_found("thread")
        messages = await threads.messages(thread_id)
    return await run_in_threadpool(_rendered, messages)  # rendering is CPU work


@router.get("/threads/{thread_id}/messages/{message_id}", responses=error_responses(401, 404, 422))
async def get_message(
    thread_id: str, message_id: str, user_id: UserId, platform: PlatformDep
) -> MessageOut:
    async with platform.db.read() as session:
        message = await ThreadRepository(session, user_id).message(thread_id, message_id)
    if message is None:
        raise not_found("message")
    return (await run_in_threadpool(_rendered, [message]))[0]


@router.get(
    "/threads/{thread_id}/events",
    responses={
        **error_responses(401, 404, 422),
        200: {"description": "the events", "model": list[dict[str, Any]]},
    },
)
async def list_events(
    thread_id: str,
    user_id: UserId,
    platform: PlatformDep,
    after_seq: int = Query(0, ge=0, le=MAX_SEQ),
    limit: int = Query(1000, ge=1, le=5000),
) -> Response:
    async with platform.db.read() as session:
        threads = ThreadRepository(session, user_id)
        if await threads.get(thread_id) is None:
            raise not_found("thread")
        events = await threads.events(thread_id, after_seq=after_seq, limit=limit)
    # The frames exactly as the WebSocket sends them, encoded once each.
    body = "[" + ",".join(AgentEvent.from_record(e).frame for e in events) + "]"
    return Response(body, media_type="application/json")


@router.post(
    "/threads/{thread_id}/runs",
    status_code=202,
    responses=error_responses(*BODY, 401, 404, 409, 429, 503),
)
async def start_run(
    thread_id: str, body: RunIn, user_id: UserId, platform: PlatformDep
) -> RunAccepted:
    ticket = await platform.runs.start(user_id, body.text, thread_id, body.agent)
    return RunAccepted(run_id=ticket.run_id, thread_id=ticket.thread_id)


@router.post(
    "/runs/{run_id}/cancel", status_code=202, responses=error_responses(401, 404, 409, 422)
)
async def cancel_run(run_id: str, user_id: UserId, platform: PlatformDep) -> RunAccepted:
    thread_id = await platform.runs.cancel(user_id, run_id)
    return RunAccepted(run_id=run_id, thread_id=thread_id)


def _rendered(messages: Sequence[Message]) -> list[MessageOut]:
    """Messages with their HTML: an answer's Markdown rendered; the person's own text is not."""
    return [
        MessageOut.model_validate(m).model_copy(
            update={"html": render_markdown(m.text) if m.role == "assistant" else None}
        )
        for m in messages
    ]


async def _with_active_runs(
    repository: ThreadRepository, threads: Sequence[Thread]
) -> list[ThreadOut]:
    active = await repository.active_runs([t.id for t in threads])
    return [
        ThreadOut.model_validate(t).model_copy(update={"active_run_id": active.get(t.id)})
        for t in threads
    ]
