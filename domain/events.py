"""Durable domain events: what happened, recorded in the same transaction as the write.

Each event kind is delivered to the queues that care about it (fan-out, search indexing, notifications, ...),
one job per queue (a queue acting on few events of a kind, `WANTS`, receives only those), through the
transactional outbox in `storage.jobs`. The kinds and their payloads are in
`domain.event_kinds`, the routing table in `domain.subscriptions`; a write records an event without knowing
who consumes it, and mypy checks that the payload it writes is the one its kind carries.
"""

from __future__ import annotations

from typing import Any, Literal, cast, overload

import asyncpg

from domain.event_kinds import (
    AccountChanged,
    EventKind,
    Follow,
    Like,
    Payload,
    PollVoted,
    PostCreated,
    PostDeleted,
    PostEdited,
    PostUpdated,
    Reaction,
    RepostCreated,
    RepostDeleted,
)
from domain.subscriptions import IN_ORDER_OF, SUBSCRIPTIONS, WANTS
from storage import jobs as job_store


def _queues_by_kind() -> dict[str, tuple[str, ...]]:
    """The routing table turned around: kind -> the queues receiving it, in the table's order."""
    by_kind: dict[str, tuple[str, ...]] = {}
    for queue, kinds in SUBSCRIPTIONS.items():
        for kind in kinds:
            by_kind[kind] = (*by_kind.get(kind, ()), queue)
    return by_kind


# Derived once from the literal table, never registered into. (Tests route a kind to a queue of their own
# by patching an item for the duration.)
EVENT_QUEUES: dict[str, tuple[str, ...]] = _queues_by_kind()


@overload
async def record_event(
    conn: asyncpg.Connection, kind: Literal[EventKind.POST_CREATED], payload: PostCreated
) -> None: ...


@overload
async def record_event(
    conn: asyncpg.Connection, kind: Literal[EventKind.POST_UPDATED], payload: PostUpdated
) -> None: ...


@overload
async def record_event(conn: asyncpg.Connection, kind: Literal[EventKind.POST_EDITED], payload: PostEdited) -> None: ...


@overload
async def record_event(
    conn: asyncpg.Connection, kind: Literal[EventKind.POST_DELETED], payload: PostDeleted
) -> None: ...


@overload
async def record_event(
    conn: asyncpg.Connection, kind: Literal[EventKind.REPOST_CREATED], payload: RepostCreated
) -> None: ...


@overload
async def record_event(
    conn: asyncpg.Connection, kind: Literal[EventKind.REPOST_DELETED], payload: RepostDeleted
) -> None: ...


@overload
async def record_event(conn: asyncpg.Connection, kind: Literal[EventKind.LIKE_CREATED], payload: Like) -> None: ...


@overload
async def record_event(conn: asyncpg.Connection, kind: Literal[EventKind.LIKE_DELETED], payload: Like) -> None: ...


@overload
async def record_event(
    conn: asyncpg.Connection, kind: Literal[EventKind.REACTION_CREATED], payload: Reaction
) -> None: ...


@overload
async def record_event(
    conn: asyncpg.Connection, kind: Literal[EventKind.REACTION_DELETED], payload: Reaction
) -> None: ...


@overload
async def record_event(conn: asyncpg.Connection, kind: Literal[EventKind.FOLLOW_CREATED], payload: Follow) -> None: ...


@overload
async def record_event(conn: asyncpg.Connection, kind: Literal[EventKind.FOLLOW_DELETED], payload: Follow) -> None: ...


@overload
async def record_event(
    conn: asyncpg.Connection, kind: Literal[EventKind.FOLLOW_REQUEST_CREATED], payload: Follow
) -> None: ...


@overload
async def record_event(
    conn: asyncpg.Connection, kind: Literal[EventKind.FOLLOW_REQUEST_DELETED], payload: Follow
) -> None: ...


@overload
async def record_event(
    conn: asyncpg.Connection, kind: Literal[EventKind.ACCOUNT_CREATED], payload: AccountChanged
) -> None: ...


@overload
async def record_event(
    conn: asyncpg.Connection, kind: Literal[EventKind.ACCOUNT_UPDATED], payload: AccountChanged
) -> None: ...


@overload
async def record_event(
    conn: asyncpg.Connection, kind: Literal[EventKind.ACCOUNT_DELETED], payload: AccountChanged
) -> None: ...


@overload
async def record_event(conn: asyncpg.Connection, kind: Literal[EventKind.POLL_VOTED], payload: PollVoted) -> None: ...


async def record_event(conn: asyncpg.Connection, kind: EventKind, payload: Payload) -> None:
    """Record `kind` for every queue subscribed to it (that wants this event: `WANTS`). Call inside the
    write's transaction."""
    await job_store.enqueue_many(conn, outbox_jobs(kind, payload))


def outbox_jobs(kind: EventKind, payload: Payload) -> list[job_store.NewJob]:
    """The jobs that record `kind`: one for every queue subscribed to it that wants this event, keyed where
    the queue keeps the kind's order (`IN_ORDER_OF`). For a write whose statement carries its own jobs
    (`storage.posts.insert_post`); any other write calls `record_event`."""
    job_payload = cast(dict[str, Any], payload)  # the TypedDict is the JSON object, as it is
    return [
        job_store.NewJob(queue, kind.value, job_payload, _order_key(queue, kind, job_payload))
        for queue in EVENT_QUEUES.get(kind, ())
        if _wanted(queue, kind, job_payload)
    ]


def _order_key(queue: str, kind: EventKind, payload: dict[str, Any]) -> int | None:
    key = IN_ORDER_OF.get((queue, kind))
    return None if key is None else key(payload)


def _wanted(queue: str, kind: EventKind, payload: dict[str, Any]) -> bool:
    wants = WANTS.get((queue, kind))
    return wants is None or wants(payload)
