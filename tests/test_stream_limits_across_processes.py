"""The stream limits per account and per token hold across API processes: two real `chirp serve` processes
share one count in Valkey (storage/stream_leases.py), with the same close code (4429) and 429 as on one
process; a stream that closes frees its place everywhere, and a process that dies stops counting within one
lease TTL (CHIRP_STREAM_PRESENCE_TTL_SECONDS)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import aiohttp
import pytest
from conftest import UserFactory
from processes import chirp, chirp_env, free_port

from storage.keys import stream_leases_key
from storage.resources import Resources
from storage.tokens import issue_token

pytestmark = pytest.mark.processes

WAIT = 20.0  # seconds: a hang guard far above the 3 s lease TTL, never a speed claim
TTL = "3"


@contextmanager
def two_apis(stack_env: dict[str, str], **limits: str) -> Iterator[tuple[list[int], list[Any]]]:
    env = chirp_env(stack_env, CHIRP_STREAM_PRESENCE_TTL_SECONDS=TTL, **limits)
    ports = [free_port(), free_port()]
    with ExitStack() as stack:
        processes = [stack.enter_context(chirp("serve", env, port=port)) for port in ports]
        yield ports, processes


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _open(session: aiohttp.ClientSession, port: int, token: str) -> aiohttp.ClientWebSocketResponse:
    return await session.ws_connect(
        f"ws://127.0.0.1:{port}/api/v1/streaming?stream=public",
        headers={"Authorization": f"Bearer {token}"},
        timeout=aiohttp.ClientWSTimeout(ws_close=WAIT),
    )


async def _is_open(ws: aiohttp.ClientWebSocketResponse) -> bool:
    """The socket answers a command (an error frame: a hashtag stream needs a tag), so it was admitted."""
    await ws.send_json({"type": "subscribe", "stream": "hashtag"})
    message = await ws.receive(timeout=WAIT)
    return message.type is aiohttp.WSMsgType.TEXT and message.json()["status"] == 400


async def _closed_with(ws: aiohttp.ClientWebSocketResponse) -> tuple[int, str]:
    message = await ws.receive(timeout=WAIT)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
    return int(message.data or ws.close_code or 0), str(message.extra or "")


async def _leases(res: Resources, account_id: int) -> int:
    """Live leases: those whose end (the score, in ms) is still ahead."""
    return int(await res.redis.zcount(stream_leases_key(account_id), int(time.time() * 1000), "+inf"))


async def _until_leases(res: Resources, account_id: int, count: int) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while await _leases(res, account_id) != count:
        assert loop.time() < deadline, f"leases stayed at {await _leases(res, account_id)}, not {count}"
        await asyncio.sleep(0.05)


async def test_streams_per_account_are_counted_across_two_api_processes(
    stack_env: dict[str, str], make_user: UserFactory, res: Resources, session: aiohttp.ClientSession
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    with two_apis(stack_env, CHIRP_STREAM_MAX_PER_USER="2", CHIRP_STREAM_MAX_PER_TOKEN="10") as (ports, _):
        first = await _open(session, ports[0], alice.token)
        second = await _open(session, ports[1], alice.token)
        assert await _is_open(first) and await _is_open(second)
        # Each process holds one of alice's streams: the third is refused on either, as one process would.
        third = await _open(session, ports[0], alice.token)
        assert await _closed_with(third) == (4429, "Too many streams for this account (the limit is 2)")
        sse = await session.get(f"http://127.0.0.1:{ports[1]}/api/v1/streaming/public", headers=alice.headers)
        assert sse.status == 429
        assert await sse.json() == {"error": "Too many streams for this account (the limit is 2)"}
        assert await _leases(res, alice.account_id) == 2
        bob_ws = await _open(session, ports[1], bob.token)  # another account is not affected
        assert await _is_open(bob_ws)
        # Closing the stream on the first process frees its place on the second.
        await first.close()
        await _until_leases(res, alice.account_id, 1)
        again = await _open(session, ports[1], alice.token)
        assert await _is_open(again)
        for ws in (second, bob_ws, again):
            await ws.close()
        await _until_leases(res, alice.account_id, 0)


async def test_streams_per_token_are_counted_across_two_api_processes(
    stack_env: dict[str, str], make_user: UserFactory, res: Resources, session: aiohttp.ClientSession
) -> None:
    alice = await make_user("alice")
    other = await issue_token(res.db, res.ids.next_id(), app_id=None, account_id=alice.account_id, scopes=("read",))
    with two_apis(stack_env, CHIRP_STREAM_MAX_PER_USER="10", CHIRP_STREAM_MAX_PER_TOKEN="1") as (ports, _):
        first = await _open(session, ports[0], alice.token)
        assert await _is_open(first)
        refused = await _open(session, ports[1], alice.token)
        assert await _closed_with(refused) == (4429, "Too many streams for this access token (the limit is 1)")
        sse = await session.get(f"http://127.0.0.1:{ports[1]}/api/v1/streaming/public", headers=alice.headers)
        assert sse.status == 429
        assert (await sse.json())["error"] == "Too many streams for this access token (the limit is 1)"
        second_token = await _open(session, ports[1], other.access_token)  # the same account, another token
        assert await _is_open(second_token)
        await first.close()
        await second_token.close()


async def test_the_streams_of_a_process_that_dies_stop_counting_within_one_lease(
    stack_env: dict[str, str], make_user: UserFactory, res: Resources, session: aiohttp.ClientSession
) -> None:
    alice = await make_user("alice")
    with two_apis(stack_env, CHIRP_STREAM_MAX_PER_USER="1", CHIRP_STREAM_MAX_PER_TOKEN="10") as (ports, processes):
        held = await _open(session, ports[0], alice.token)
        assert await _is_open(held)
        refused = await _open(session, ports[1], alice.token)
        assert (await _closed_with(refused))[0] == 4429
        processes[0].send_signal(signal.SIGKILL)  # no goodbye: its lease is simply no longer renewed
        processes[0].wait()
        await _until_leases(res, alice.account_id, 0)
        admitted = await _open(session, ports[1], alice.token)
        assert await _is_open(admitted)
        # The survivor renews its own lease: it outlives several TTLs and still counts.
        await asyncio.sleep(float(TTL) * 2)
        assert await _leases(res, alice.account_id) == 1
        refused_again = await _open(session, ports[1], alice.token)
        assert (await _closed_with(refused_again))[0] == 4429
        await admitted.close()
