"""Slow and greedy clients are bounded: headers sent byte by byte are cut off, a stalled body gets a 408,
and streams per account, per token and subscriptions per socket stop at their settings, each with a clear
close code or error frame."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from aiohttp import WSMsgType
from conftest import ClientFactory, UserFactory
from live import serve_app
from streams import WAIT, connect

from api.keys import HUB
from app.main import create_app
from config import Settings
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


# The test's own limit on waiting for the server to act: far above the setting, so never a speed claim.
GIVE_UP_SECONDS = 30.0


async def _trickle_until_closed(base_url: str, head: bytes, pause: float) -> tuple[bool, bytes]:
    """Send `head`, then one more header byte every `pause` s, for ever; whether the server closed the
    connection (before GIVE_UP_SECONDS), and what it sent."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    received = b""
    try:
        writer.write(head)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GIVE_UP_SECONDS
        while loop.time() < deadline:
            try:
                chunk = await asyncio.wait_for(reader.read(1000), pause)
            except TimeoutError:
                writer.write(b"a")  # X-Slow: aaaa... never ends
                await writer.drain()
                continue
            if not chunk:
                return True, received
            received += chunk
        return False, received
    except ConnectionError:
        return True, received
    finally:
        writer.close()


async def test_headers_sent_byte_by_byte_are_cut_off_after_the_header_timeout(settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, header_timeout_seconds=1.0))
    async with serve_app(app) as base_url:
        closed, received = await _trickle_until_closed(
            base_url, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ", pause=0.2
        )
        assert closed and received == b"", received
        # The same limit after a first request on a keep-alive connection: its answer, then the cut.
        closed, received = await _trickle_until_closed(
            base_url, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\nGET /healthz HTTP/1.1\r\nX-Slow: ", pause=0.2
        )
        assert closed and received.startswith(b"HTTP/1.1 200"), received
        assert received.count(b"HTTP/1.1") == 1, received


async def test_headers_that_arrive_in_time_are_answered(settings: Settings) -> None:
    """Slow headers are fine within the limit: here, 12 pieces 0.1 s apart under a 30 s limit."""
    app = create_app(dataclasses.replace(settings, header_timeout_seconds=30.0))
    async with serve_app(app) as base_url:
        host, port = base_url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            for start in range(0, len(request), 6):
                writer.write(request[start : start + 6])
                await writer.drain()
                await asyncio.sleep(0.1)
            answer = await asyncio.wait_for(reader.read(), GIVE_UP_SECONDS)
            assert answer.startswith(b"HTTP/1.1 200"), answer
        finally:
            writer.close()


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


async def test_pings_are_answered_during_a_subscription_flood_and_valkey_holds_only_the_cap(
    make_client: ClientFactory, make_user: UserFactory, res: Resources
) -> None:
    # The issue's attack: 50,000 hashtag subscriptions on one socket made Valkey hold 20,984 channels. Here
    # 3,000 go out as fast as the client can write them while another socket pings, and then the flooder
    # pings itself: every ping gets its pong, and the flooder holds (and Valkey carries) at most the cap.
    client = await make_client(stream_max_subscriptions=100)
    alice, bob = await make_user("alice"), await make_user("bob")
    flooder = await client.ws_connect("/api/v1/streaming", headers=alice.headers, autoping=False)
    watcher = await client.ws_connect("/api/v1/streaming", headers=bob.headers, autoping=False)
    channels_before = len(await res.redis.pubsub_channels())

    async def flood() -> None:
        for n in range(3000):
            await flooder.send_json({"type": "subscribe", "stream": "hashtag", "tag": f"flood{n}"})

    flooding = asyncio.create_task(flood())
    pongs = 0
    while not flooding.done() or pongs < 5:
        await watcher.ping(f"{pongs}".encode())
        message = await watcher.receive(timeout=WAIT)
        assert (message.type, message.data) == (WSMsgType.PONG, f"{pongs}".encode()), message
        pongs += 1
    await flooding
    await flooder.ping(b"mine")
    refusals, ponged = 0, False
    while not ponged or refusals < 2900:  # its own pong does come (ahead of answers still queued, or after)
        message = await flooder.receive(timeout=WAIT)
        if message.type is WSMsgType.PONG:
            assert (message.data, ponged) == (b"mine", False)
            ponged = True
            continue
        assert message.type is WSMsgType.TEXT, message
        assert json.loads(message.data)["status"] == 429
        refusals += 1
    assert refusals == 2900
    held = [conn for conn in client.app[HUB].connections if conn.account_id == alice.account_id]
    assert [len(conn.streams) for conn in held] == [100]
    assert len(await res.redis.pubsub_channels()) - channels_before <= 100
    await flooder.close()
    await watcher.close()
