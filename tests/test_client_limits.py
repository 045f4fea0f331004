"""Slow and greedy clients are bounded: a stalled body gets a 408, and streams per account, per token and
subscriptions per socket stop at their settings, each with a clear close code or error frame."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSMsgType
from conftest import ClientFactory, UserFactory
from streams import WAIT, connect

from api.keys import HUB
from storage.resources import Resources
from storage.tokens import issue_token


async def _close_code(ws: Any) -> tuple[int, str]:
    message = await ws.receive(timeout=WAIT)
    assert message.type is WSMsgType.CLOSE, message
    return int(message.data), str(message.extra)


async def _assert_open(ws: Any) -> None:
    """The socket answers a command (with an error frame: a hashtag stream needs a tag), so it is open."""
    await ws.send_json({"type": "subscribe", "stream": "hashtag"})
    message = await ws.receive(timeout=WAIT)
    assert message.type is WSMsgType.TEXT, message
    assert json.loads(message.data)["status"] == 400


async def test_a_body_that_stops_arriving_is_answered_408(make_client: ClientFactory, make_user: UserFactory) -> None:
    client = await make_client(body_timeout_seconds=0.5)
    alice = await make_user("alice")
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(
            b"POST /api/v1/statuses HTTP/1.1\r\nHost: localhost\r\n"
            + f"Authorization: Bearer {alice.token}\r\n".encode()
            + b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nstatus=hel"
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
        assert head.startswith(b"HTTP/1.1 408"), head
        body = await asyncio.wait_for(reader.read(1000), 5)
        assert b"made no progress for 0.5 s" in body
    finally:
        writer.close()


async def test_a_slow_but_steady_body_is_read(make_client: ClientFactory, make_user: UserFactory) -> None:
    client = await make_client(body_timeout_seconds=0.5)
    alice = await make_user("alice")

    async def trickle() -> Any:
        for piece in (b"status=", b"slow", b"ly"):
            yield piece
            await asyncio.sleep(0.3)

    response = await client.post(
        "/api/v1/statuses",
        data=trickle(),
        headers={**alice.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["content"] == "<p>slowly</p>"


async def test_streams_per_account_stop_at_the_setting(make_client: ClientFactory, make_user: UserFactory) -> None:
    client = await make_client(stream_max_per_user=2, stream_max_per_token=10)
    alice = await make_user("alice")
    first, second = await connect(client, alice.token), await connect(client, alice.token)
    third = await connect(client, alice.token)
    assert await _close_code(third) == (4429, "Too many streams for this account (the limit is 2)")
    sse = await client.get("/api/v1/streaming/public", headers=alice.headers)
    assert sse.status == 429
    assert (await sse.json())["error"] == "Too many streams for this account (the limit is 2)"
    # Another account is not affected; and a closed stream frees its place.
    bob = await make_user("bob")
    other = await connect(client, bob.token)
    await _assert_open(other)
    await first.close()
    hub = client.app[HUB]
    for _ in range(250):
        if sum(conn.account_id == alice.account_id for conn in hub.connections) < 2:
            break
        await asyncio.sleep(0.02)
    again = await connect(client, alice.token)
    await _assert_open(again)
    for ws in (second, other, again):
        await ws.close()


async def test_streams_per_token_stop_at_the_setting(
    make_client: ClientFactory, make_user: UserFactory, res: Resources
) -> None:
    client = await make_client(stream_max_per_user=10, stream_max_per_token=1)
    alice = await make_user("alice")
    second_token = await issue_token(
        res.db, res.ids.next_id(), app_id=None, account_id=alice.account_id, scopes=("read",)
    )
    first = await connect(client, alice.token)
    refused = await connect(client, alice.token)
    assert await _close_code(refused) == (4429, "Too many streams for this access token (the limit is 1)")
    other_client = await connect(client, second_token.access_token)  # the same account, another app: allowed
    await _assert_open(other_client)
    await first.close()
    await other_client.close()


async def test_subscriptions_per_socket_stop_at_the_setting(make_client: ClientFactory, make_user: UserFactory) -> None:
    client = await make_client(stream_max_subscriptions=3)
    alice = await make_user("alice")
    ws = await connect(client, alice.token)
    for tag in ("a", "b", "c", "d"):
        await ws.send_json({"type": "subscribe", "stream": "hashtag", "tag": tag})
    error = json.loads((await ws.receive(timeout=WAIT)).data)
    assert error == {"error": "Too many subscriptions on this connection (the limit is 3)", "status": 429}
    # Subscribing again to one it holds is no new subscription; unsubscribing makes room.
    await ws.send_json({"type": "unsubscribe", "stream": "hashtag", "tag": "a"})
    await ws.send_json({"type": "subscribe", "stream": "hashtag", "tag": "d"})
    await ws.send_json({"type": "subscribe", "stream": "hashtag", "tag": "e"})
    error = json.loads((await ws.receive(timeout=WAIT)).data)
    assert error["status"] == 429
    hub_streams = [conn for conn in client.app[HUB].connections if conn.account_id == alice.account_id]
    assert [sorted(str(tag) for _, tag in conn.streams) for conn in hub_streams] == [["b", "c", "d"]]
    await ws.close()
