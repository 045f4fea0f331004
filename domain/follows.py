"""Follows: following and unfollowing accounts (people, groups and bots alike), and Mastodon's Relationship.

Following a locked account asks it instead (a follow request, see domain/follow_requests.py): nothing is
followed, and nothing private is shown, until it says yes. Unfollowing withdraws a request still waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import asyncpg

from core.errors import ApiError
from core.pagination import Page
from domain.accounts import account_entity
from domain.cached_posts import VALKEY_DOWN
from domain.event_kinds import EventKind
from domain.events import record_event
from domain.lists import left_list
from storage import accounts as account_store
from storage import endorsements as endorsement_store
from storage import follow_requests as request_store
from storage import follows as follow_store
from storage import lists as list_store
from storage import safety as safety_store
from storage.db import in_transaction
from storage.resources import Resources


async def _existing_account(res: Resources, account_id: int) -> asyncpg.Record:
    account = await account_store.get_account(res.db, account_id)
    if account is None:
        raise ApiError(404, "Record not found")
    return account


async def follow(
    res: Resources, account_id: int, target_id: int, *, show_reposts: bool | None = None, notify: bool | None = None
) -> dict[str, Any]:
    """Follow an account; idempotent (following again updates the options). Returns the Relationship."""
    if account_id == target_id:
        raise ApiError(403, "This action is not allowed: you cannot follow yourself")
    target = await _existing_account(res, target_id)
    if await safety_store.blocked_either_way(res.db, account_id, target_id):
        raise ApiError(403, "This action is not allowed: a block stands between you")
    follow_id = res.ids.next_id()

    async def write(conn: asyncpg.Connection) -> None:
        if target["locked"] and not await follow_store.follows_among(conn, account_id, [target_id]):
            await _ask(conn, follow_id, account_id, target_id, show_reposts=show_reposts, notify=notify)
            return
        try:
            inserted = await follow_store.insert_follow(
                conn,
                follow_id,
                account_id,
                target_id,
                show_reposts=True if show_reposts is None else show_reposts,
                notify=bool(notify),
            )
        except asyncpg.ForeignKeyViolationError:
            raise ApiError(404, "Record not found") from None  # the account was deleted meanwhile
        if not inserted:
            if show_reposts is not None or notify is not None:
                await follow_store.update_follow_options(
                    conn, account_id, target_id, show_reposts=show_reposts, notify=notify
                )
            return
        await follow_store.add_follow_counts(conn, account_id, target_id, 1)
        await record_event(
            conn, EventKind.FOLLOW_CREATED, {"id": follow_id, "account_id": account_id, "target_account_id": target_id}
        )

    await in_transaction(res.db, write)
    return (await relationships(res, account_id, [target_id]))[0]


async def _ask(
    conn: asyncpg.Connection,
    request_id: int,
    account_id: int,
    target_id: int,
    *,
    show_reposts: bool | None,
    notify: bool | None,
) -> None:
    """Ask a locked account to be let follow it (asking again only changes the options given)."""
    try:
        inserted = await request_store.insert_request(
            conn,
            request_id,
            account_id,
            target_id,
            show_reposts=True if show_reposts is None else show_reposts,
            notify=bool(notify),
        )
    except asyncpg.ForeignKeyViolationError:
        raise ApiError(404, "Record not found") from None
    if not inserted:
        await request_store.update_request_options(
            conn, account_id, target_id, show_reposts=show_reposts, notify=notify
        )
        return
    await record_event(
        conn,
        EventKind.FOLLOW_REQUEST_CREATED,
        {"id": request_id, "account_id": account_id, "target_account_id": target_id},
    )


async def withdraw_request(conn: asyncpg.Connection, account_id: int, target_id: int) -> asyncpg.Record | None:
    """Remove a waiting request (withdrawn, authorized or rejected), recording it; the removed row."""
    removed = await request_store.delete_request(conn, account_id, target_id)
    if removed is not None:
        await record_event(
            conn,
            EventKind.FOLLOW_REQUEST_DELETED,
            {"id": removed["id"], "account_id": account_id, "target_account_id": target_id},
        )
    return removed


async def start_following(
    conn: asyncpg.Connection, follow_id: int, account_id: int, target_id: int, *, show_reposts: bool, notify: bool
) -> bool:
    """The follow an authorized request becomes: counted and recorded like any follow, but `authorized`,
    so it notifies nobody (the request did). False when it existed already."""
    inserted = await follow_store.insert_follow(
        conn, follow_id, account_id, target_id, show_reposts=show_reposts, notify=notify
    )
    if inserted:
        await follow_store.add_follow_counts(conn, account_id, target_id, 1)
        await record_event(
            conn,
            EventKind.FOLLOW_CREATED,
            {"id": follow_id, "account_id": account_id, "target_account_id": target_id, "authorized": True},
        )
    return inserted


async def unfollow(res: Resources, account_id: int, target_id: int) -> dict[str, Any]:
    """Stop following an account, or withdraw the request to; idempotent. Returns the Relationship."""
    await _existing_account(res, target_id)

    async def write(conn: asyncpg.Connection) -> list[int]:
        await withdraw_request(conn, account_id, target_id)
        removed = await follow_store.delete_follow(conn, account_id, target_id)
        if removed is None:
            return []
        await follow_store.add_follow_counts(conn, account_id, target_id, -1)
        await endorsement_store.delete_endorsement(conn, account_id, target_id)  # one endorses whom one follows
        await record_event(
            conn, EventKind.FOLLOW_DELETED, {"id": removed, "account_id": account_id, "target_account_id": target_id}
        )
        return await list_store.leave_lists(conn, account_id, target_id)  # lists hold only followed accounts

    left = await in_transaction(res.db, write)
    if left:
        with contextlib.suppress(*VALKEY_DOWN):  # the follow is gone; the lists' timelines follow when they can
            await left_list(res, account_id, left, [target_id])
    return (await relationships(res, account_id, [target_id]))[0]


async def relationships(res: Resources, account_id: int, target_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Mastodon's Relationship of the account to each existing account of `target_ids`, in that order."""
    ids = list(dict.fromkeys(target_ids))
    existing, following, followed_by, requested, requested_by, marks = await asyncio.gather(
        account_store.get_accounts(res.db, ids),
        follow_store.follows_among(res.db, account_id, ids),
        follow_store.followers_among(res.db, account_id, ids),
        request_store.requested_among(res.db, account_id, ids),
        request_store.requesters_among(res.db, account_id, ids),
        safety_store.relationship_marks(res.db, account_id, ids),
    )
    out: list[dict[str, Any]] = []
    for target in ids:
        if target not in existing:
            continue
        follow_row = following.get(target)
        out.append(
            {
                "id": str(target),
                "following": follow_row is not None,
                "showing_reblogs": bool(follow_row["show_reposts"]) if follow_row is not None else False,
                "notifying": bool(follow_row["notify"]) if follow_row is not None else False,
                "languages": None,
                "followed_by": target in followed_by,
                "blocking": target in marks.blocking,
                "blocked_by": target in marks.blocked_by,
                "muting": target in marks.muting,
                "muting_notifications": target in marks.muting_notifications,
                "requested": target in requested,
                "requested_by": target in requested_by,
                "domain_blocking": False,
                "endorsed": False,
                "note": marks.notes.get(target, ""),
            }
        )
    endorsed = await endorsement_store.endorsed_among(res.db, account_id, [int(r["id"]) for r in out])
    for relationship in out:
        relationship["endorsed"] = int(relationship["id"]) in endorsed
    return out


async def followers_page(res: Resources, account_id: int, page: Page) -> tuple[list[dict[str, Any]], list[int]]:
    """An account's followers, newest follow first, and the page's cursors (follow ids)."""
    await _existing_account(res, account_id)
    rows = await follow_store.follower_page(res.db, account_id, page)
    return await _accounts(res, rows), [row["id"] for row in rows]


async def following_page(res: Resources, account_id: int, page: Page) -> tuple[list[dict[str, Any]], list[int]]:
    """The accounts an account follows, newest follow first, and the page's cursors (follow ids)."""
    await _existing_account(res, account_id)
    rows = await follow_store.following_page(res.db, account_id, page)
    return await _accounts(res, rows), [row["id"] for row in rows]


async def _accounts(res: Resources, rows: Sequence[asyncpg.Record]) -> list[dict[str, Any]]:
    accounts = await account_store.get_accounts(res.db, (row["account_id"] for row in rows))
    return [account_entity(accounts[r["account_id"]], res.settings) for r in rows if r["account_id"] in accounts]
