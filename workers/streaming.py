"""The `streaming` queue: public and hashtag updates, deletes and status updates published to Valkey
pub/sub after the write committed (home updates are published by the timeline fan-out)."""

from __future__ import annotations

from domain.cached_posts import VALKEY_DOWN
from domain.event_kinds import EventKind, decode
from domain.polls import counts_turn
from domain.streaming import publish_post_created, publish_post_deleted, publish_posts_changed
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
    changed: list[int] = []
    for job in jobs:
        match decode(job):
            case (EventKind.POST_CREATED, created):
                await publish_post_created(res, int(created["id"]))
            case (EventKind.POST_DELETED, deleted):
                await publish_post_deleted(res, deleted)
            case (EventKind.POST_UPDATED, post) | (EventKind.POST_EDITED, post):
                changed.append(int(post["id"]))
            case (EventKind.REACTION_CREATED | EventKind.REACTION_DELETED, reaction):
                changed.append(int(reaction["post_id"]))
            case (EventKind.POLL_VOTED, voted):
                if await counts_turn(res, int(voted["post_id"])):  # throttled: one per window, and a last
                    changed.append(int(voted["post_id"]))
    await publish_posts_changed(res, changed)


def queue() -> Queue:
    return Queue(STREAMING_QUEUE, publish_batch, batch_size=100)
