"""A local OpenAI-compatible Chat Completions server that replays recorded streams.

Tests point the real `openai` client (through Netra's provider) at it and
queue what it should answer: a recorded SSE stream, an HTTP error, a stream
that stops mid-way, or no answer at all. With nothing queued it answers by a
small rule (arithmetic -> a `calculator` tool call, a tool result -> a short
answer, anything else -> an echo), so it also serves a manual try-out::

    python -m netra.testing.fake_openai --port 8001
    NETRA_MODEL_PROVIDER=openai NETRA_MODEL_BASE_URL=http://127.0.0.1:8001/v1 \\
    NETRA_MODEL_NAME=fake-gpt netra serve

A plain asyncio HTTP/1.1 server: each response closes its connection, which
keeps the framing trivial and lets a "stall" hold a request open for real.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
from collections import deque
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

MODEL = "fake-gpt"
_ARITHMETIC = re.compile(r"\d[\d\s.+\-*/%()]*[+\-*/%][\d\s.+\-*/%()]*\d\)?")


def _recording(name: str) -> str:
    return (files("netra.testing") / "recordings" / name).read_text(encoding="utf-8")


# Streamed Chat Completions responses written field for field in the shape OpenAI's API
# streams them (gpt-4o-mini, `stream_options: {"include_usage": true}`): the tool call's
# arguments arrive split across chunks, and usage comes in a last chunk with no choices.
RECORDED_TOOL_CALL = _recording("openai_tool_call.sse")

# The answer after the tool result, from the same conversation.
RECORDED_ANSWER = _recording("openai_answer.sse")


@dataclass(frozen=True)
class Stream:
    """A 200 SSE response: `body` is the raw event stream, sent one event at a time.

    With `stall_after` set, only that many `data:` events are sent and the stream
    then goes silent without ending (the client's read timeout must notice). With
    `hold_after` and `release`, that many are sent, then the rest once `release` is set:
    a test can look at a half-streamed answer for as long as it needs.
    """

    body: str
    stall_after: int | None = None
    hold_after: int | None = None
    release: asyncio.Event | None = None


@dataclass(frozen=True)
class Status:
    """An HTTP error with an OpenAI-shaped JSON body."""

    status: int
    message: str = "error"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Stall:
    """Read the request, then never answer."""


Reply = Stream | Status | Stall


def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> str:
    """One `data:` line of a chat.completion.chunk, shaped like OpenAI's."""
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1747400000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        **extra,
    }
    return f"data: {json.dumps(body)}\n\n"


def usage_chunk(prompt_tokens: int, completion_tokens: int) -> str:
    """The final usage chunk sent when `stream_options.include_usage` is set."""
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1747400000,
        "model": MODEL,
        "choices": [],
        "usage": usage,
    }
    return f"data: {json.dumps(body)}\n\n"


def text_stream(
    *pieces: str, usage: tuple[int, int] = (10, 5), release: asyncio.Event | None = None
) -> Stream:
    """A streamed plain answer in `pieces`, then usage and [DONE]. With `release`, the
    stream holds after the first half of the pieces until that event is set."""
    parts = [chunk({"role": "assistant", "content": ""})]
    parts += [chunk({"content": piece}) for piece in pieces]
    parts += [chunk({}, "stop"), usage_chunk(*usage), "data: [DONE]\n\n"]
    hold_after = 1 + len(pieces) // 2 if release is not None else None
    return Stream("".join(parts), hold_after=hold_after, release=release)


def tool_call_stream(
    name: str, arguments: str, call_id: str = "call_fake1", pieces: int = 3
) -> Stream:
    """A streamed tool call whose JSON `arguments` arrive split in `pieces` chunks."""
    step = max(1, -(-len(arguments) // pieces))
    head = {"index": 0, "id": call_id, "type": "function"}
    parts = [
        chunk({"role": "assistant", "tool_calls": [{**head, "function": {"name": name}}]}),
    ]
    for start in range(0, len(arguments), step):
        fragment = {"index": 0, "function": {"arguments": arguments[start : start + step]}}
        parts.append(chunk({"tool_calls": [fragment]}))
    parts += [chunk({}, "tool_calls"), usage_chunk(20, 8), "data: [DONE]\n\n"]
    return Stream("".join(parts))


class FakeOpenAI:
    """The server. `start()` it, `enqueue()` replies, read `requests` afterwards."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._server: asyncio.Server | None = None
        self._closing = asyncio.Event()
        self._handlers: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def enqueue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    @property
    def open_connections(self) -> int:
        """Connections still being served, such as a stream the client has not closed."""
        return len(self._handlers)

    async def all_closed(self) -> None:
        """Return once every connection a client opened is closed again."""
        await self._idle.wait()

    async def start(self, port: int = 0) -> FakeOpenAI:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()

    async def __aenter__(self) -> FakeOpenAI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._idle.clear()
        try:
            request = await _read_request(reader)
            if request is None:
                return
            path, headers, body = request
            if not path.endswith("/chat/completions"):
                await _send_status(writer, Status(404, f"no route {path}"))
                return
            self.headers.append(headers)
            payload = json.loads(body or b"{}")
            self.requests.append(payload)
            reply = self.replies.popleft() if self.replies else respond_by_rule(payload)
            await self._reply(reader, writer, reply)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: nothing to answer
        except asyncio.CancelledError:
            # stop() cancels us; ending quietly keeps asyncio's server from logging it.
            if not self._closing.is_set():
                raise
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            self._handlers.discard(task)
            if not self._handlers:
                self._idle.set()

    async def _reply(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, reply: Reply
    ) -> None:
        if isinstance(reply, Status):
            await _send_status(writer, reply)
            return
        if isinstance(reply, Stall):
            await self._hold(reader)
            return
        head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
        writer.write(head.encode())
        events = [part + "\n\n" for part in reply.body.split("\n\n") if part.strip()]
        for index, event in enumerate(events):
            if reply.stall_after is not None and index >= reply.stall_after:
                await writer.drain()
                await self._hold(reader)
                return
            if index == reply.hold_after and reply.release is not None:
                await writer.drain()
                await reply.release.wait()
            writer.write(event.encode())
            await writer.drain()

    async def _hold(self, reader: asyncio.StreamReader) -> None:
        """Keep the connection open, silent, until the client leaves or we stop."""
        gone = asyncio.ensure_future(reader.read())
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({gone, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            closing.cancel()


def respond_by_rule(request: dict[str, Any]) -> Reply:
    """What the server says when nothing is queued: enough for a calculator demo."""
    messages = request.get("messages") or [{}]
    last = messages[-1]
    if last.get("role") == "tool":
        return text_stream("The tool answered: ", str(last.get("content")), ".")
    text = str(last.get("content") or "")
    tools = {t["function"]["name"] for t in request.get("tools") or []}
    if "calculator" in tools and (match := _ARITHMETIC.search(text)):
        return tool_call_stream("calculator", json.dumps({"expression": match.group().strip()}))
    return text_stream("You said: ", text)


async def _read_request(
    reader: asyncio.StreamReader,
) -> tuple[str, dict[str, str], bytes] | None:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) < 2:
        return None
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return parts[1], headers, body


async def _send_status(writer: asyncio.StreamWriter, reply: Status) -> None:
    kind = "rate_limit_exceeded" if reply.status == 429 else "server_error"
    body = json.dumps({"error": {"message": reply.message, "type": kind, "code": None}}).encode()
    lines = [
        f"HTTP/1.1 {reply.status} Error",
        "content-type: application/json",
        f"content-length: {len(body)}",
        "connection: close",
        *(f"{name}: {value}" for name, value in reply.headers.items()),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()


async def _main(port: int) -> None:
    server = await FakeOpenAI().start(port)
    print(f"fake OpenAI-compatible server on {server.base_url}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001)
    asyncio.run(_main(parser.parse_args().port))
