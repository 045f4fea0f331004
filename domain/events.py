"""Durable domain events: what happened, recorded in the same transaction as the write.

Each event kind is delivered to the queues that care about it (fan-out, search indexing, media, ...),
one job per queue, through the transactional outbox in `storage.jobs`. Capability modules register
their interest here, so a write records an event without knowing who consumes it.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from storage import jobs as job_store

# event kind -> the queues that receive it
EVENT_QUEUES: dict[str, tuple[str, ...]] = {}


def subscribe(queue: str, *kinds: str) -> None:
    """Route events of `kinds` to `queue` (called once at import by the module owning the queue)."""
    for kind in kinds:
        queues = EVENT_QUEUES.get(kind, ())
        if queue not in queues:
            EVENT_QUEUES[kind] = (*queues, queue)


async def record_event(conn: asyncpg.Connection, kind: str, payload: dict[str, Any]) -> None:
    """Record `kind` for every queue subscribed to it. Call inside the write's transaction."""
    await job_store.enqueue_many(conn, [(queue, kind, payload) for queue in EVENT_QUEUES.get(kind, ())])


# The routing table, loaded with this module (after `subscribe` exists) so that every process routes alike.
import domain.subscriptions  # noqa: E402, F401
