"""The helper servers of bench/load.py, each run by it in a process of its own.

    python bench/load_servers.py model --port P --deltas K
    python bench/load_servers.py floor --port P --events E --size S --accepted-size A
    python bench/load_servers.py otlp --port P

`model` is an OpenAI-compatible Chat Completions endpoint that answers every
request with K streamed one-word text deltas and no tool call, as fast as it
can. It keeps connections alive (chunked transfer encoding), as hosted
endpoints do, and builds its response once: it should cost little CPU, since
it shares the machine with the server under test.

`floor` is a bare `websockets` server that speaks just enough of Netra's
protocol for load.py's client: the first frame gets `auth_ok`, and every later
frame gets a `run_accepted` of A bytes and E event frames of S bytes, the last
one `agent_completed`. What it does per frame is the least any server must do,
so its events/s is the ceiling Netra is measured against.

`otlp` is a trace sink for `load.py --otel`: it accepts OTLP/HTTP exports
(`POST /v1/traces`), reads each body and answers as a collector does, without
decoding it, so Netra's whole export path runs while the sink costs little.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

MODEL = "bench-model"
WORDS = ("The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".")


def _sse_chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> bytes:
    """One SSE event holding a chat.completion.chunk, as one HTTP/1.1 chunk."""
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1747400000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        **extra,
    }
    return _http_chunk(f"data: {json.dumps(body)}\n\n".encode())


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def streamed_answer(deltas: int) -> list[bytes]:
    """The whole response: a role chunk, `deltas` text chunks, stop, usage, [DONE]."""
    parts = [_sse_chunk({"role": "assistant", "content": ""})]
    parts += [_sse_chunk({"content": WORDS[i % len(WORDS)]}) for i in range(deltas)]
    parts.append(_sse_chunk({}, "stop"))
    usage = {"prompt_tokens": 20, "completion_tokens": deltas, "total_tokens": 20 + deltas}
    last = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1747400000}
    body = json.dumps({**last, "model": MODEL, "choices": [], "usage": usage})
    parts.append(_http_chunk(f"data: {body}\n\n".encode()))
    parts.append(_http_chunk(b"data: [DONE]\n\n"))
    parts.append(b"0\r\n\r\n")
    return parts


async def run_model(port: int, deltas: int) -> None:
    answer = streamed_answer(deltas)
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n"
    )
    missing = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"

    async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:  # keep-alive: one request after another on the same connection
                lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)  # the request body: not needed to answer
                if not lines[0].split(b" ")[1].endswith(b"/chat/completions"):
                    writer.write(missing)
                    continue
                writer.write(head)
                # One write per delta, as a model streams them: each is its own TCP send.
                for part in answer:
                    writer.write(part)
                    await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve_one, "127.0.0.1", port, limit=1 << 20)
    async with server:
        await server.serve_forever()


def padded(frame: dict[str, Any], size: int) -> str:
    """`frame` as JSON, padded with a `pad` field to `size` bytes where it is shorter."""
    text = json.dumps({**frame, "pad": ""})
    return json.dumps({**frame, "pad": "x" * max(0, size - len(text))})


async def run_floor(port: int, events: int, size: int, accepted_size: int) -> None:
    auth_ok = json.dumps({"type": "auth_ok", "user_id": "usr_floor"})
    accepted = padded(
        {"type": "run_accepted", "run_id": "run_floor", "thread_id": "thr_floor"}, accepted_size
    )
    body = [padded({"type": "agent_message_delta"}, size) for _ in range(events - 1)]
    body.append(padded({"type": "agent_completed"}, size))

    async def handler(connection: ServerConnection) -> None:
        await connection.recv()  # the auth frame
        await connection.send(auth_ok)
        async for message in connection:
            json.loads(message)  # as any server must, to know what was asked
            await connection.send(accepted)
            for frame in body:
                await connection.send(frame)

    # Netra's defaults: 64 KiB frames, 20 s heartbeats; compression as the client offers it.
    async with serve(handler, "127.0.0.1", port, max_size=64 * 1024, ping_interval=20) as server:
        await server.serve_forever()


class _OtlpSink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a collector offers

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)  # an empty ExportTraceServiceResponse is zero bytes
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def run_otlp(port: int) -> None:
    with ThreadingHTTPServer(("127.0.0.1", port), _OtlpSink) as server:
        server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    model = commands.add_parser("model")
    model.add_argument("--port", type=int, required=True)
    model.add_argument("--deltas", type=int, default=200)
    floor = commands.add_parser("floor")
    floor.add_argument("--port", type=int, required=True)
    floor.add_argument("--events", type=int, default=7)
    floor.add_argument("--size", type=int, default=300)
    floor.add_argument("--accepted-size", type=int, default=0)
    otlp = commands.add_parser("otlp")
    otlp.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    if args.command == "otlp":
        run_otlp(args.port)
    elif args.command == "model":
        asyncio.run(run_model(args.port, args.deltas))
    else:
        asyncio.run(run_floor(args.port, args.events, args.size, args.accepted_size))


if __name__ == "__main__":
    main()
