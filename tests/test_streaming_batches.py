"""Public and hashtag updates of a whole streaming batch, loaded and rendered together
(domain.streaming.publish_posts_created): each post reaches the streams it belongs to, in order, rendered
as a signed-in and a signed-out reader see it, and a post deleted within the batch is announced only
by its delete."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import UserFactory
from social import Client, post_status
from streams import connect, frames_until, run_queues, subscribe

from storage.resources import Resources

pytestmark = pytest.mark.valkey_modes


async def test_a_batch_of_new_posts_reaches_the_public_streams_in_order(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    signed_out = await connect(client)
    signed_in = await connect(client, carol.token)
    for ws in (signed_out, signed_in):
        await subscribe(client, ws, "public")
    first = await post_status(client, alice, "first #batch")
    await post_status(client, alice, "followers only", visibility="private")
    quote = await post_status(client, bob, "a quote", quote_id=first["id"])
    gone = await post_status(client, bob, "soon gone")
    await expect_deleted(client, bob, gone["id"])
    sentinel = await post_status(client, bob, "sentinel")
    await run_queues(res, "streaming")  # one batch: every job above is ready

    def is_sentinel(f: dict[str, Any]) -> bool:
        return f["event"] == "update" and bool(f["payload"]["id"] == sentinel["id"])

    for ws, current_user in ((signed_out, "unknown"), (signed_in, "automatic")):
        frames = await frames_until(ws, is_sentinel)
        updates = [f["payload"]["id"] for f in frames if f["event"] == "update"]
        assert updates == [first["id"], quote["id"], sentinel["id"]]  # not the private one, not the deleted one
        assert [f["payload"] for f in frames if f["event"] == "delete"] == [gone["id"]]
        shown = frames[0]["payload"]
        assert shown["content"].startswith("<p>first") and shown["tags"][0]["name"] == "batch"
        assert shown["quote_approval"]["current_user"] == current_user
        quoting = next(f["payload"] for f in frames if f["event"] == "update" and f["payload"]["id"] == quote["id"])
        assert quoting["quote"]["quoted_status"]["id"] == first["id"]
        await ws.close()


async def expect_deleted(client: Client, user: Any, status_id: str) -> None:
    response = await client.delete(f"/api/v1/statuses/{status_id}", headers=user.headers)
    assert response.status == 200, await response.text()
