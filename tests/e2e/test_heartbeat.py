"""Heartbeats: a client that stops answering protocol pings is disconnected."""

from __future__ import annotations

import asyncio
import json

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from netra.testing.fixtures import register_user


async def test_a_client_that_never_answers_pings_is_dropped(netra_server_factory) -> None:
    server = netra_server_factory({"NETRA_WS_HEARTBEAT_INTERVAL": "0.5"})
    user = await register_user(server.base_url)
    # The sans-I/O protocol queues pongs in data_to_send; never flushing them after the
    # auth frame makes this a client that has gone silent without closing its socket.
    protocol = ClientProtocol(parse_uri(server.ws_url))
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    protocol.send_request(protocol.connect())
    writer.write(b"".join(protocol.data_to_send()))
    while protocol.state is not State.OPEN:
        protocol.receive_data(await asyncio.wait_for(reader.read(65536), timeout=10))
    protocol.send_text(json.dumps({"type": "auth", "token": user.access_token}).encode())
    writer.write(b"".join(protocol.data_to_send()))
    await writer.drain()

    pings = 0
    while data := await asyncio.wait_for(reader.read(65536), timeout=10):
        protocol.receive_data(data)
        events = protocol.events_received()
        pings += sum(1 for e in events if getattr(e, "opcode", None) is Opcode.PING)
    writer.close()

    assert pings >= 1  # the server did ask
    assert reader.at_eof()  # and then hung up on us
