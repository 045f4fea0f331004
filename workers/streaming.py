"""The `streaming` queue: deletes and status updates published to Valkey pub/sub after the write committed
(a new post's updates, on every stream, are published by its fan-out: workers/timeline.py)."""

from __future__ import annotations

from domain.cached_posts import VALKEY_DOWN
from domain.event_kinds import EventKind, decode
from domain.polls import counts_turn
from domain.streaming import publish_post_deleted, publish_posts_changed, publish_posts_created
from domain.subscriptions import STREAMING_QUEUE
from storage.jobs import Job
from storage.resources import Resources
from workers.runner import Queue, Unavailable


async def publish_batch(res: Resources, jobs: list[Job]) -> None:
    try:
        await _publish(res, jobs)
    except VALKEY_DOWN as exc:  # a cluster failing over included
        raise Unavailable(f"Valkey unavailable: {exc!r}") from exc


async def _publish(res: Resources, jobs: list[Job]) -> None:
    # Counter changes in one batch are coalesced: a post liked ten times in a moment gets one status.update
    # with the latest counts, sent after the batch's creations and deletions.
    # Consecutive creations are published together (one load and rendering for the run); a deletion ends
    # the run, so a post created and deleted in one batch is announced, if at all, before its delete.
    changed: list[int] = []
    created_run: list[int] = []
    for job in jobs:
        match decode(job):
            case (EventKind.POST_CREATED, created):  # recorded before new posts went to the fan-out only
                created_run.append(int(created["id"]))
            case (EventKind.POST_DELETED, deleted):
                await publish_posts_created(res, created_run)
                created_run = []
                await publish_post_deleted(res, deleted)
            case (EventKind.POST_UPDATED, post) | (EventKind.POST_EDITED, post):
                changed.append(int(post["id"]))
            case (EventKind.REACTION_CREATED | EventKind.REACTION_DELETED, reaction):
                changed.append(int(reaction["post_id"]))
            case (EventKind.POLL_VOTED, voted):
                if await counts_turn(res, int(voted["post_id"])):  # throttled: one per window, and a last
                    changed.append(int(voted["post_id"]))
    await publish_posts_created(res, created_run)
    await publish_posts_changed(res, changed)


# After a short batch, wait 20 ms before claiming again: under a steady trickle, a batch of several posts is
# one load, one rendering and one claim-and-complete transaction instead of several (home updates, where
# latency is measured, go out from the timeline fan-out, not from here).
LINGER_SECONDS = 0.02


def queue() -> Queue:
    return Queue(STREAMING_QUEUE, publish_batch, batch_size=100, linger=LINGER_SECONDS)
