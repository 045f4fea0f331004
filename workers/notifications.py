"""The `notifications` queue: notifications written from the durable events, then pushed live."""

from __future__ import annotations

from domain.cached_posts import VALKEY_DOWN
from domain.notifications import apply_events
from domain.subscriptions import NOTIFICATIONS_QUEUE
from storage.jobs import Job
from storage.resources import Resources
from workers.runner import Queue, Unavailable


async def notify_batch(res: Resources, jobs: list[Job]) -> None:
    try:
        await apply_events(res, jobs)
    except VALKEY_DOWN as exc:  # a cluster failing over included
        # Valkey is away after the rows committed: a retry writes nothing twice, and connected clients
        # get what they missed when their API process reconnects (docs/streaming.md).
        raise Unavailable(f"Valkey unavailable: {exc!r}") from exc


# After a short batch, wait 50 ms before claiming again: a trickle of posts (most of which notify nobody)
# is handled in fewer batches, each one claim-and-complete transaction.
LINGER_SECONDS = 0.05


def queue() -> Queue:
    return Queue(NOTIFICATIONS_QUEUE, notify_batch, batch_size=100, concurrency=2, linger=LINGER_SECONDS)
