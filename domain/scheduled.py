"""Scheduled posts: a draft checked now and published at `scheduled_at` (at least 5 minutes ahead), exactly
once, by a delayed job of the `scheduled` queue; listed, rescheduled and cancelled until then. Limits as
Mastodon's: 25 a day (by the UTC day of `scheduled_at`) and 300 in all per account.

Exactly once: the publishing transaction deletes the scheduled row and writes the post (create_post's
`claim`), so two workers on one job serialise on the row and the second finds nothing, and a worker that
dies mid-publish leaves both untouched for the retry its expired lease brings.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from core.errors import ApiError, validation_error
from core.pagination import Page
from core.times import iso
from domain import media as media_domain
from domain.polls import PollDraft
from domain.posts import PostDraft, check_draft, create_post
from storage import jobs as job_store
from storage import media as media_store
from storage import scheduled_posts as store
from storage.db import in_transaction
from storage.resources import Resources
from storage.scheduled_posts import ScheduledRow

log = logging.getLogger("chirp.scheduled")

SCHEDULED_QUEUE = "scheduled"
PUBLISH_SCHEDULED = "scheduled.publish"  # {"id"}: not a domain event (docs/events.md)
MIN_LEAD_SECONDS = 300
MAX_PER_DAY = 25
MAX_TOTAL = 300


class _NotDue(Exception):
    """The scheduled post is gone (published, cancelled) or not due: the transaction writes nothing."""


def _now() -> datetime:
    return datetime.now(UTC)


def check_time(when: datetime) -> datetime:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if (when - _now()).total_seconds() < MIN_LEAD_SECONDS:
        raise validation_error("scheduled_at", "must be at least 5 minutes in the future")
    return when


def _draft_json(draft: PostDraft) -> dict[str, Any]:
    data = dataclasses.asdict(draft)
    data["media_ids"] = list(draft.media_ids)
    return data


def _draft_of(data: dict[str, Any]) -> PostDraft:
    poll = PollDraft(**data["poll"]) if data.get("poll") else None
    return PostDraft(**{**data, "media_ids": tuple(data.get("media_ids") or ()), "poll": poll})


async def _check_media(res: Resources, account_id: int, media_ids: Sequence[int]) -> None:
    for media_id in media_ids:
        try:
            row = await media_domain.own_media(res, account_id, media_id)
        except ApiError:
            raise validation_error("media_ids", f"contains an unknown media id {media_id}") from None
        if row.post_id is not None:
            raise validation_error("media_ids", f"contains media {media_id}, which is attached to another post")


async def _within_limits(conn: asyncpg.Connection, account_id: int, when: datetime, other_than: int | None) -> None:
    await store.lock_account(conn, account_id)
    total, day = await store.counts(conn, account_id, when, other_than=other_than)
    if total >= MAX_TOTAL:
        raise validation_error("scheduled_at", f"you may have at most {MAX_TOTAL} scheduled posts")
    if day >= MAX_PER_DAY:
        raise validation_error("scheduled_at", f"you may schedule at most {MAX_PER_DAY} posts for one day")


async def _enqueue(conn: asyncpg.Connection, scheduled_id: int, when: datetime) -> None:
    delay = max(0.0, (when - _now()).total_seconds())
    await job_store.enqueue(conn, SCHEDULED_QUEUE, PUBLISH_SCHEDULED, {"id": scheduled_id}, delay=delay)


async def schedule_post(
    res: Resources, account_id: int, draft: PostDraft, when: datetime, *, application_id: int | None
) -> dict[str, Any]:
    """Keep the draft (checked as a post would be) for `when`; its ScheduledStatus."""
    when = check_time(when)
    await check_draft(res, account_id, draft)
    await _check_media(res, account_id, draft.media_ids)
    row = ScheduledRow(res.ids.next_id(), account_id, when, _draft_json(draft), application_id)

    async def write(conn: asyncpg.Connection) -> None:
        await _within_limits(conn, account_id, when, None)
        await store.insert(conn, row)
        await _enqueue(conn, row.id, when)

    await in_transaction(res.db, write)
    return await scheduled_entity(res, row)


async def scheduled_entity(res: Resources, row: ScheduledRow) -> dict[str, Any]:
    """Mastodon's ScheduledStatus."""
    draft = _draft_of(row.draft)
    media = []
    for media_id in draft.media_ids:
        found = await media_store.get_media(res.db, media_id)
        if found is not None:
            media.append(await media_domain.media_entity(res, found))
    poll = draft.poll
    return {
        "id": str(row.id),
        "scheduled_at": iso(row.scheduled_at),
        "params": {
            "text": draft.text,
            "poll": dataclasses.asdict(poll) if poll is not None else None,
            "media_ids": [str(m) for m in draft.media_ids] or None,
            "sensitive": draft.sensitive,
            "spoiler_text": draft.spoiler_text or None,
            "visibility": draft.visibility or "public",
            "in_reply_to_id": str(draft.in_reply_to_id) if draft.in_reply_to_id else None,
            "language": draft.language,
            "application_id": str(row.application_id) if row.application_id else None,
            "scheduled_at": None,
            "idempotency": None,
            "with_rate_limit": False,
        },
        "media_attachments": media,
    }


async def scheduled_page(res: Resources, account_id: int, page: Page) -> tuple[list[dict[str, Any]], list[int]]:
    rows = await store.page_of(res.db, account_id, page)
    return [await scheduled_entity(res, row) for row in rows], [row.id for row in rows]


async def get_scheduled(res: Resources, account_id: int, scheduled_id: int) -> dict[str, Any]:
    row = await store.get(res.db, account_id, scheduled_id)
    if row is None:
        raise ApiError(404, "Record not found")
    return await scheduled_entity(res, row)


async def reschedule(res: Resources, account_id: int, scheduled_id: int, when: datetime) -> dict[str, Any]:
    """A new time; the old time's job finds the post not due and does nothing."""
    when = check_time(when)

    async def write(conn: asyncpg.Connection) -> ScheduledRow:
        await _within_limits(conn, account_id, when, scheduled_id)
        row = await store.reschedule(conn, account_id, scheduled_id, when)
        if row is None:
            raise ApiError(404, "Record not found")
        await _enqueue(conn, scheduled_id, when)
        return row

    return await scheduled_entity(res, await in_transaction(res.db, write))


async def cancel(res: Resources, account_id: int, scheduled_id: int) -> None:
    if not await store.remove(res.db, account_id, scheduled_id):
        raise ApiError(404, "Record not found")


async def publish_due(res: Resources, scheduled_id: int) -> int | None:
    """Publish the scheduled post if it is due and not published yet; the new post's id, else None. A draft
    that can no longer be posted (its reply target or media gone) is dropped, as Mastodon does."""
    row = await store.find(res.db, scheduled_id)
    if row is None or row.scheduled_at > _now():
        return None

    async def claim(conn: asyncpg.Connection) -> None:
        if await store.take_due(conn, scheduled_id) is None:
            raise _NotDue

    try:
        return await create_post(
            res, row.account_id, _draft_of(row.draft), application_id=row.application_id, claim=claim
        )
    except _NotDue:
        return None
    except ApiError as exc:
        log.warning("scheduled post %d dropped: %s", scheduled_id, exc)
        await store.remove(res.db, row.account_id, scheduled_id)
        return None
