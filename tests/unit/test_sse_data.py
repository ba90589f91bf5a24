"""Reading an OpenAI-compatible stream's server-sent events as plain JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from netra.agents.models.openai_compat import _sse_data, _StreamError


async def lines(*items: str) -> AsyncIterator[str]:
    for item in items:
        yield item


async def read(*items: str) -> list[dict[str, object]]:
    return [chunk async for chunk in _sse_data(lines(*items))]


async def test_each_event_is_one_object_and_done_ends_the_stream() -> None:
    chunks = await read(
        ": a comment",
        "event: completion",
        'data: {"n": 1}',
        "",
        'data:{"n": 2}',
        "",
        "data: [DONE]",
        "",
        'data: {"n": 3}',
        "",
    )
    assert chunks == [{"n": 1}, {"n": 2}]


async def test_an_events_data_lines_are_joined() -> None:
    assert await read('data: {"n":', "data: 1}", "") == [{"n": 1}]


async def test_an_error_object_in_the_stream_raises_with_its_message() -> None:
    with pytest.raises(_StreamError, match="overloaded"):
        await read('data: {"n": 1}', "", 'data: {"error": {"message": "overloaded"}}', "")


@pytest.mark.parametrize("payload", ["data: [1, 2]", "data: {not json"])
async def test_a_payload_that_is_not_an_object_is_refused(payload: str) -> None:
    with pytest.raises((TypeError, ValueError)):
        await read(payload, "")
