"""The `scheduled` queue: scheduled posts published at their time, exactly once (domain.scheduled)."""

from __future__ import annotations

from domain.scheduled import PUBLISH_SCHEDULED, SCHEDULED_QUEUE, publish_due
from storage.jobs import Job
from storage.resources import Resources
from workers.runner import Queue


async def run_batch(res: Resources, jobs: list[Job]) -> None:
    for job in jobs:
        if job.kind != PUBLISH_SCHEDULED:
            raise ValueError(f"{job.kind!r} is not a job of the scheduled queue")
        await publish_due(res, int(job.payload["id"]))


def queue() -> Queue:
    return Queue(SCHEDULED_QUEUE, run_batch, batch_size=10)
