"""Process identity: every API and worker process leases its own node id in PostgreSQL, keeps it with a
heartbeat, and an explicit CHIRP_NODE_ID held by a live process is refused at start (real processes, as
tests/test_streaming_processes.py spawns them, and the lease functions against the test PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import sys
from contextlib import AsyncExitStack

import aiohttp
import pytest
from conftest import UserFactory
from processes import REPO, chirp, chirp_env, free_port
from test_streaming_processes import post

from core.ids import NodeLeaseLapsed, node_of
from storage.node_leases import NodeIdTaken, NodeLeaseError, hold_node, owner_name
from storage.resources import Resources

LEASE = 3.0  # the shortest lease Settings allows: renewals every second


async def live_leases(res: Resources) -> dict[int, str]:
    rows = await res.db.fetch("SELECT node, owner FROM node_leases WHERE expires_at > now()")
    return {int(r["node"]): str(r["owner"]) for r in rows}


async def lease_of(res: Resources, pid: int) -> int:
    """The node the process `pid` holds, once it has leased one."""
    for _ in range(300):
        for node, owner in (await live_leases(res)).items():
            if f":{pid}#" in owner:
                return node
        await asyncio.sleep(0.1)
    raise AssertionError(f"process {pid} leased no node id")


async def test_processes_started_without_a_node_id_each_lease_their_own(
    stack_env: dict[str, str], res: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    env = chirp_env(stack_env)
    first_port, second_port = free_port(), free_port()
    with (
        chirp("serve", env, port=first_port) as first,
        chirp("serve", env, port=second_port) as second,
        chirp("worker", env) as worker,
    ):
        nodes = {await lease_of(res, p.pid) for p in (first, second, worker)}
        assert len(nodes) == 3
        assert res.ids.node_id not in nodes  # the test's own Resources hold one too
        # Each API process mints its posts' ids under the node it leased.
        async with aiohttp.ClientSession() as session:
            one = await post(session, first_port, alice.token, "through the first")
            two = await post(session, second_port, alice.token, "through the second")
        assert node_of(int(one["id"])) == await lease_of(res, first.pid)
        assert node_of(int(two["id"])) == await lease_of(res, second.pid)
    # Stopped in order, they hand their ids back at once (expired, not deleted: the next holder reads last_ms).
    assert set(await live_leases(res)) == {res.ids.node_id}


async def test_an_explicit_node_id_held_by_a_live_process_is_refused_naming_it(
    stack_env: dict[str, str], res: Resources
) -> None:
    port = free_port()
    with chirp("serve", chirp_env(stack_env, CHIRP_NODE_ID="40"), port=port) as holder:
        duplicate = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "app.cli", "worker"),
            env=chirp_env(stack_env, CHIRP_NODE_ID="40"),
            cwd=REPO,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(duplicate.communicate(), 60)
        assert duplicate.returncode == 2
        message = stderr.decode()
        assert "CHIRP_NODE_ID=40 is already held by a live process" in message
        assert f":{holder.pid}#" in message  # it names the holder
        assert "Traceback" not in message
        assert holder.poll() is None  # the holder serves on
        assert (await live_leases(res))[40].startswith("api@")


class RolledBack(Exception):
    """Raised to roll the test's schema change back."""


async def test_a_database_not_yet_migrated_is_named_as_the_reason(res: Resources) -> None:
    with pytest.raises(RolledBack):
        async with res.db.acquire() as conn, conn.transaction():
            await conn.execute("ALTER TABLE node_leases RENAME TO node_leases_before")
            with pytest.raises(NodeLeaseError, match="run `chirp migrate` before starting"):
                # A connection answers the same calls as the pool, inside this transaction.
                async with hold_node(conn, role="t", node_id=None, seconds=LEASE):
                    pass
            raise RolledBack
    assert res.ids.node_id in await live_leases(res)


async def test_concurrent_starts_never_share_a_node(res: Resources) -> None:
    async with AsyncExitStack() as stack:
        generators = await asyncio.gather(
            *(stack.enter_async_context(hold_node(res.db, role="t", node_id=None, seconds=LEASE)) for _ in range(12))
        )
        nodes = [g.node_id for g in generators]
        assert len(set(nodes)) == 12
        assert res.ids.node_id not in nodes
        assert set(await live_leases(res)) == {res.ids.node_id, *nodes}


async def test_an_explicit_node_id_is_refused_in_process_too_and_free_again_after_release(res: Resources) -> None:
    async with hold_node(res.db, role="t", node_id=900, seconds=LEASE):
        with pytest.raises(NodeIdTaken, match="CHIRP_NODE_ID=900 is already held"):
            async with hold_node(res.db, role="t", node_id=900, seconds=LEASE):
                pass
    async with hold_node(res.db, role="t", node_id=900, seconds=LEASE) as ids:
        assert ids.node_id == 900


async def test_the_next_holder_starts_after_the_last_millisecond_the_previous_one_used(res: Resources) -> None:
    async with hold_node(res.db, role="t", node_id=901, seconds=LEASE) as ids:
        last = ids.next_id()
    async with hold_node(res.db, role="t", node_id=901, seconds=LEASE) as ids:
        assert ids.next_id() > last


async def test_a_holder_on_this_host_whose_process_is_gone_is_taken_over_at_once(res: Resources) -> None:
    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await gone.wait()
    dead_owner = owner_name("api").replace(f":{os.getpid()}#", f":{gone.pid}#")
    await res.db.execute(
        "INSERT INTO node_leases (node, owner, expires_at) VALUES (902, $1, now() + interval '1 hour')", dead_owner
    )
    async with hold_node(res.db, role="t", node_id=902, seconds=LEASE) as ids:
        assert ids.node_id == 902
    # A holder elsewhere (another host) is live until its lease expires.
    await res.db.execute(
        "INSERT INTO node_leases (node, owner, expires_at) VALUES (903, 'api@elsewhere:1#0', now() + interval '1 hour')"
    )
    with pytest.raises(NodeIdTaken, match="api@elsewhere:1#0"):
        async with hold_node(res.db, role="t", node_id=903, seconds=LEASE):
            pass


async def test_an_expired_lease_is_free_for_the_next_process(res: Resources) -> None:
    await res.db.execute(
        "INSERT INTO node_leases (node, owner, expires_at) VALUES (905, 'api@elsewhere:1#0', now() - interval '1 s')"
    )
    async with hold_node(res.db, role="t", node_id=905, seconds=LEASE) as ids:
        assert ids.node_id == 905


async def test_the_heartbeat_keeps_the_lease_and_a_stolen_one_stops_the_ids(res: Resources) -> None:
    lost = asyncio.Event()
    async with hold_node(res.db, role="t", node_id=904, seconds=LEASE, on_lost=lost.set) as ids:
        first = await res.db.fetchval("SELECT expires_at FROM node_leases WHERE node = 904")
        for _ in range(50):  # a renewal comes every third of the lease
            await asyncio.sleep(0.1)
            if await res.db.fetchval("SELECT expires_at FROM node_leases WHERE node = 904") > first:
                break
        else:
            raise AssertionError("the heartbeat never renewed the lease")
        ids.next_id()
        await res.db.execute("UPDATE node_leases SET owner = 'api@elsewhere:1#0' WHERE node = 904")
        await asyncio.wait_for(lost.wait(), LEASE * 3)
        with pytest.raises(NodeLeaseLapsed):
            ids.next_id()
    # Leaving did not hand back a lease that was no longer ours.
    assert await res.db.fetchval("SELECT owner FROM node_leases WHERE node = 904") == "api@elsewhere:1#0"
