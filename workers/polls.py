"""The `polls` queue: a poll's end (notifications) and the trailing live update of a window of votes. Its
jobs are not domain events; each is a kind of its own (domain.polls)."""

from __future__ import annotations

from domain.cached_posts import VALKEY_DOWN
from domain.poll_expiry import notify_expired
from domain.polls import POLL_COUNTS, POLL_EXPIRE, POLLS_QUEUE
from domain.streaming import publish_posts_changed
from storage.jobs import Job
from storage.resources import Resources
from workers.runner import Queue, Unavailable


async def run_batch(res: Resources, jobs: list[Job]) -> None:
    try:
        counts: list[int] = []
        for job in jobs:
            if job.kind == POLL_EXPIRE:
                await notify_expired(res, int(job.payload["poll_id"]))
            elif job.kind == POLL_COUNTS:
                counts.append(int(job.payload["post_id"]))
            else:
                raise ValueError(f"{job.kind!r} is not a job of the polls queue")
        await publish_posts_changed(res, counts)
    except VALKEY_DOWN as exc:
        raise Unavailable(f"Valkey unavailable: {exc!r}") from exc


def queue() -> Queue:
    return Queue(POLLS_QUEUE, run_batch, batch_size=100)
