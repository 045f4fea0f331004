"""Mutes: a muted account's posts, and reposts of them, leave the muter's timelines and streams, and with
`notifications` its notifications too (the rule is in domain/visibility.py). A mute with a duration ends by
itself: it is read as gone once `expires_at` has passed. Muting a conversation silences the notifications
of the posts in its thread.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from core.errors import ApiError, validation_error
from core.pagination import Page
from core.times import iso
from domain.accounts import account_entity
from domain.blocks import existing_target, forget_timelines
from domain.follows import relationships
from domain.visibility import visible_original
from storage import accounts as account_store
from storage import safety as safety_store
from storage.resources import Resources

MAX_DURATION_SECONDS = 10 * 365 * 86_400  # ten years: any longer is "until unmuted" (duration 0)


def mute_expiry(duration: int | None, now: datetime | None = None) -> datetime | None:
    """When a mute of `duration` seconds ends; None (never) for no duration or 0, as Mastodon."""
    if not duration:
        return None
    if duration < 0 or duration > MAX_DURATION_SECONDS:
        raise validation_error("duration", f"must be between 0 and {MAX_DURATION_SECONDS} seconds")
    return (now or datetime.now(UTC)) + timedelta(seconds=duration)


async def mute(
    res: Resources, account_id: int, target_id: int, *, notifications: bool = True, duration: int | None = None
) -> dict[str, Any]:
    """Mute an account; muting again changes the options. The Relationship."""
    expires_at = mute_expiry(duration)
    await existing_target(res, account_id, target_id, "mute")
    await safety_store.upsert_mute(
        res.db, res.ids.next_id(), account_id, target_id, notifications=notifications, expires_at=expires_at
    )
    return (await relationships(res, account_id, [target_id]))[0]


async def unmute(res: Resources, account_id: int, target_id: int) -> dict[str, Any]:
    """Lift a mute (idempotent). The home and list timelines are rebuilt on their next read: reads meanwhile
    dropped the muted posts from them."""
    await existing_target(res, account_id, target_id, "unmute")
    if await safety_store.delete_mute(res.db, account_id, target_id):
        await forget_timelines(res, account_id)
    return (await relationships(res, account_id, [target_id]))[0]


async def mutes_page(res: Resources, account_id: int, page: Page) -> tuple[list[dict[str, Any]], list[int]]:
    """The accounts `account_id` mutes, newest mute first, each with `mute_expires_at` (Mastodon 4.3)."""
    rows = await safety_store.mute_page(res.db, account_id, page)
    accounts = await account_store.get_accounts(res.db, (row["target_account_id"] for row in rows))
    entities = [
        {**account_entity(accounts[r["target_account_id"]], res.settings), "mute_expires_at": iso(r["expires_at"])}
        for r in rows
        if r["target_account_id"] in accounts
    ]
    return entities, [row["id"] for row in rows]


async def mute_conversation(res: Resources, account_id: int, post_id: int, *, muted: bool) -> int:
    """Mute (or unmute) the conversation of a post the account may see; the post's id for the answer."""
    row = await visible_original(res, post_id, account_id)
    if muted:
        await safety_store.mute_conversation(res.db, account_id, row.thread_root_id)
    else:
        await safety_store.unmute_conversation(res.db, account_id, row.thread_root_id)
    return row.id


async def set_note(res: Resources, account_id: int, target_id: int, comment: str) -> dict[str, Any]:
    """The private note about another account (empty removes it). The Relationship."""
    if await account_store.get_account(res.db, target_id) is None:
        raise ApiError(404, "Record not found")
    await safety_store.set_note(res.db, account_id, target_id, comment)
    return (await relationships(res, account_id, [target_id]))[0]


async def purge_expired_mutes(res: Resources) -> None:
    """Housekeeping: expired mutes are already read as gone; this only removes their rows."""
    await safety_store.purge_expired_mutes(res.db)
