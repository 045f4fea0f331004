"""The websocket wire once the connection holds the socket itself (api/takeover.py, realtime/connection.py):
handshake refusals, fragmented and oversized messages, protocol errors, the client's close, commands in
order under a flood, and idle sockets holding no task of their own."""

from __future__ import annotations

import asyncio
import json
import os
import struct
from typing import Any

from conftest import ClientFactory, UserFactory
from social import Client
from streams import WAIT, connect, online, raw_websocket, read_frame, until

from api.keys import HUB
from bench.stream_client import client_frame
from config import Settings
from storage import presence


def masked(opcode: int, payload: bytes, *, final: bool = True) -> bytes:
    """A client frame of any length (client_frame is for short ones), FIN set unless `final` is False."""
    mask = os.urandom(4)
    data = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    first = (0x80 if final else 0) | opcode
    length = len(payload)
    if length < 126:
        head = bytes((first, 0x80 | length))
    elif length < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, length)
    return head + mask + data


async def next_text(reader: asyncio.StreamReader) -> Any:
    """The next text frame's JSON, skipping pings."""
    while True:
        opcode, data = await read_frame(reader)
        if opcode == 0x1:
            return json.loads(data)
        assert opcode == 0x9, (opcode, data)


async def close_frame(reader: asyncio.StreamReader) -> int:
    while True:
        opcode, data = await read_frame(reader)
        if opcode == 0x8:
            return int.from_bytes(data[:2], "big")


async def test_a_handshake_that_is_not_one_gets_a_json_400(client: Client) -> None:
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}
    response = await client.get("/api/v1/streaming", headers={**headers, "Sec-WebSocket-Key": "short"})
    assert response.status == 400
    assert "Sec-WebSocket-Key" in (await response.json())["error"]
    response = await client.get("/api/v1/streaming", headers={**headers, "Sec-WebSocket-Version": "12"})
    assert response.status == 400
    assert "error" in await response.json()


async def test_a_fragmented_command_with_a_ping_between_its_parts_is_understood(
    make_client: ClientFactory, make_user: UserFactory
) -> None:
    client = await make_client(stream_heartbeat_seconds=30)
    alice = await make_user("alice")
    reader, writer = await raw_websocket(client, alice.token, "user", receive_buffer=65536)
    command = json.dumps({"type": "subscribe", "stream": "hashtag", "tag": "chirp"}).encode()
    writer.write(masked(0x1, command[:10], final=False))
    writer.write(client_frame(0x9, b"mid-message"))
    writer.write(masked(0x0, command[10:20], final=False))
    writer.write(masked(0x0, command[20:]))
    assert await read_frame(reader) == (0xA, b"mid-message")
    hub = client.app[HUB]
    await until(lambda: any(("hashtag", "chirp") in conn.streams for conn in hub.connections))
    writer.write(masked(0x1, b"not", final=False) + masked(0x0, b" json"))
    assert (await next_text(reader))["status"] == 400
    writer.close()


async def test_a_message_over_the_limit_closes_with_1009(make_client: ClientFactory, make_user: UserFactory) -> None:
    client = await make_client(stream_heartbeat_seconds=30)
    alice = await make_user("alice")
    reader, writer = await raw_websocket(client, alice.token, "user", receive_buffer=65536)
    writer.write(masked(0x1, b"x" * 5000))
    assert await close_frame(reader) == 1009
    assert await reader.read() == b""  # and the server closes the socket
    writer.close()


async def test_fragments_adding_up_past_the_limit_close_with_1009(
    make_client: ClientFactory, make_user: UserFactory
) -> None:
    client = await make_client(stream_heartbeat_seconds=30)
    alice = await make_user("alice")
    reader, writer = await raw_websocket(client, alice.token, "user", receive_buffer=65536)
    writer.write(masked(0x1, b"x" * 3000, final=False) + masked(0x0, b"x" * 3000))
    assert await close_frame(reader) == 1009
    writer.close()


async def test_an_unmasked_client_frame_closes_with_1002(make_client: ClientFactory, make_user: UserFactory) -> None:
    client = await make_client(stream_heartbeat_seconds=30)
    alice = await make_user("alice")
    reader, writer = await raw_websocket(client, alice.token, "user", receive_buffer=65536)
    writer.write(bytes((0x81, 2)) + b"{}")
    assert await close_frame(reader) == 1002
    writer.close()


async def test_a_continuation_with_no_message_closes_with_1002(
    make_client: ClientFactory, make_user: UserFactory
) -> None:
    client = await make_client(stream_heartbeat_seconds=30)
    alice = await make_user("alice")
    reader, writer = await raw_websocket(client, alice.token, "user", receive_buffer=65536)
    writer.write(masked(0x0, b"orphan"))
    assert await close_frame(reader) == 1002
    writer.close()


async def test_the_clients_close_is_answered_with_its_code_and_the_stream_ends(
    client: Client, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    res = client.app[HUB].res
    reader, writer = await raw_websocket(client, alice.token, "user", receive_buffer=65536)
    await online(res, alice.account_id)
    writer.write(masked(0x8, struct.pack("!H", 4000) + b"bye"))
    assert await close_frame(reader) == 4000
    assert await reader.read() == b""
    hub = client.app[HUB]
    await until(lambda: not hub.connections)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while await presence.online_among(res.redis, [alice.account_id]):
        assert loop.time() < deadline, "still present after the stream closed"
        await asyncio.sleep(0.01)
    writer.close()


async def test_a_flood_of_commands_is_answered_in_order(make_client: ClientFactory, make_user: UserFactory) -> None:
    client = await make_client(stream_heartbeat_seconds=30)
    alice = await make_user("alice")
    reader, writer = await raw_websocket(client, alice.token, "user", receive_buffer=65536)
    # More than a connection queues before it stops reading (realtime.connection.PENDING_MAX).
    commands = [json.dumps({"type": f"dance-{n}", "stream": "public"}).encode() for n in range(40)]
    writer.write(b"".join(client_frame(0x1, command) for command in commands))
    answers = [await next_text(reader) for _ in commands]
    assert [answer["error"] for answer in answers] == [f"Unknown message type: dance-{n}" for n in range(40)]
    # A subscription and its removal in one burst end with neither, whatever Valkey's pace.
    hashtag = {"stream": "hashtag", "tag": "order"}
    writer.write(
        client_frame(0x1, json.dumps({"type": "subscribe", **hashtag}).encode())
        + client_frame(0x1, json.dumps({"type": "unsubscribe", **hashtag}).encode())
        + client_frame(0x1, b"[]")
    )
    assert (await next_text(reader))["status"] == 400  # the third command: handled after the first two
    hub = client.app[HUB]
    assert all(("hashtag", "order") not in conn.streams for conn in hub.connections)
    writer.close()


async def test_idle_sockets_hold_no_task_of_their_own(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    hub = client.app[HUB]
    first = await connect(client, alice.token, stream="user")
    await until(lambda: len(hub.connections) == 1 and not any(conn._worker for conn in hub.connections))
    await asyncio.sleep(0.1)
    before = len(asyncio.all_tasks())
    sockets = [await connect(client, alice.token, stream="public") for _ in range(10)]
    await until(lambda: len(hub.connections) == 11 and not any(conn._worker for conn in hub.connections))
    await asyncio.sleep(0.1)
    # The client's own sockets each keep a reading task; the server's keep none (10 sockets: 10 tasks).
    assert len(asyncio.all_tasks()) - before <= len(sockets)
    for ws in [first, *sockets]:
        await ws.close()
    await until(lambda: not hub.connections)


async def test_an_sse_stream_ends_cleanly_at_shutdown(settings: Settings, make_user: UserFactory) -> None:
    from aiohttp import ClientSession, web

    from app.main import create_app

    alice = await make_user("alice")
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with ClientSession() as session:
        url = f"http://127.0.0.1:{port}/api/v1/streaming/user"
        async with session.get(url, headers={"Authorization": f"Bearer {alice.token}"}) as response:
            assert response.status == 200
            assert await response.content.readuntil(b"\n\n") == b":)\n\n"
            hub = runner.app[HUB]
            await until(lambda: len(hub.connections) == 1)
            await runner.cleanup()
            # The chunked body's last chunk came before the socket closed: a cut stream would raise here.
            rest = await asyncio.wait_for(response.content.read(), WAIT)
    assert rest in (b"", b":thump\n\n")


async def test_an_sse_client_that_goes_away_is_forgotten(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    hub = client.app[HUB]
    response = await client.get("/api/v1/streaming/user", headers=alice.headers)
    assert response.status == 200
    await until(lambda: len(hub.connections) == 1)
    response.close()
    await until(lambda: not hub.connections)
