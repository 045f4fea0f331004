"""The `conversations` queue: new direct posts into their participants' conversations, then pushed live."""

from __future__ import annotations

from domain.cached_posts import VALKEY_DOWN
from domain.conversations import record_direct_posts
from domain.subscriptions import CONVERSATIONS_QUEUE
from storage.jobs import Job
from storage.resources import Resources
from workers.runner import Queue, Unavailable


async def record_batch(res: Resources, jobs: list[Job]) -> None:
    try:
        await record_direct_posts(res, jobs)
    except VALKEY_DOWN as exc:  # the rows committed; a retry writes nothing twice
        raise Unavailable(f"Valkey unavailable: {exc!r}") from exc


# Only direct posts come here (domain.subscriptions.WANTS), often one at a time: without a pause after a
# short batch each took a claim and a completion of its own, two transactions a post at a steady rate.
LINGER_SECONDS = 0.05


def queue() -> Queue:
    return Queue(CONVERSATIONS_QUEUE, record_batch, batch_size=100, linger=LINGER_SECONDS)
