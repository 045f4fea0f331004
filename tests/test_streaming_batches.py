"""Public and hashtag updates of a whole fan-out batch, loaded and rendered together
(domain.streaming.publish_posts_created, from the timeline queue): each post reaches the streams it belongs
to, in order, rendered as a signed-in and a signed-out reader see it, and a post deleted before its batch
ran is announced only by its delete (from the streaming queue). A small batch reuses what its home updates
loaded and rendered; a large one loads itself: both are checked."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import UserFactory
from social import Client, post_status
from streams import connect, frames_until, run_queues, subscribe

from domain.streaming import PUBLISH_CONCURRENCY
from storage.resources import Resources

pytestmark = pytest.mark.valkey_modes


@pytest.mark.parametrize("followers_only", [0, PUBLISH_CONCURRENCY], ids=["loaded-with-home-updates", "large-batch"])
async def test_a_batch_of_new_posts_reaches_the_public_streams_in_order(
    client: Client, res: Resources, make_user: UserFactory, followers_only: int
) -> None:
    alice, bob, carol = await make_user("alice"), await make_user("bob"), await make_user("carol")
    signed_out = await connect(client)
    signed_in = await connect(client, carol.token)
    for ws in (signed_out, signed_in):
        await subscribe(client, ws, "public")
    first = await post_status(client, alice, "first #batch")
    for n in range(1 + followers_only):  # in the batch, not on the public streams
        await post_status(client, alice, f"followers only {n}", visibility="private")
    quote = await post_status(client, bob, "a quote", quote_id=first["id"])
    gone = await post_status(client, bob, "soon gone")
    await expect_deleted(client, bob, gone["id"])
    sentinel = await post_status(client, bob, "sentinel")
    await run_queues(res, "timeline")  # one batch: every new post above
    await run_queues(res, "streaming")  # the delete

    def is_delete(f: dict[str, Any]) -> bool:
        return bool(f["event"] == "delete")

    for ws, current_user in ((signed_out, "unknown"), (signed_in, "automatic")):
        frames = await frames_until(ws, is_delete)
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
