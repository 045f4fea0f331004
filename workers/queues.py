"""Every queue the worker process serves and every periodic task it runs, in one list each.

A capability adds its queue here (fan-out, search indexing, media processing) and lists the domain events
the queue receives in the routing table, `domain/subscriptions.py`.
"""

from __future__ import annotations

from domain.oauth import purge_expired_codes
from domain.posts import purge_idempotency_keys
from storage import jobs as job_store
from storage.resources import Resources
from workers import conversations, media, notifications, polls, scheduled, search, streaming, timeline, trends
from workers.runner import Periodic, Queue


def all_queues() -> list[Queue]:
    return [
        media.queue(),
        search.queue(),
        notifications.queue(),
        streaming.queue(),
        *timeline.queues(),
        conversations.queue(),  # issue 23: direct messages
        polls.queue(),  # issue 23: poll ends, live counts
        scheduled.queue(),  # issue 23: scheduled posts
    ]


# How often each worker vacuums the jobs table (storage.jobs.vacuum).
JOBS_VACUUM_SECONDS = 2.0


async def vacuum_jobs(res: Resources) -> None:
    await job_store.vacuum(res.db)


def all_periodic() -> list[Periodic]:
    return [
        Periodic("vacuum_jobs", JOBS_VACUUM_SECONDS, vacuum_jobs),
        Periodic("purge_idempotency_keys", 600.0, purge_idempotency_keys),
        Periodic("purge_expired_codes", 3_600.0, purge_expired_codes),
        media.periodic(),
        trends.periodic(),  # issue 24: trends
    ]
