"""Blocks: neither side of a block sees the other's posts anywhere (the rule is in domain/visibility.py),
follows and follow requests between them end both ways, the blocked account cannot follow again, and
nothing either does notifies the other (storage/safety.py's `notification_allowed`).

Also here: removing a follower (`remove_from_followers`), the other way to end someone's follow.
"""

from __future__ import annotations

import contextlib
from typing import Any

import asyncpg

from core.errors import ApiError, validation_error
from core.pagination import Page
from domain.accounts import account_entity
from domain.cached_posts import VALKEY_DOWN, forget_marks
from domain.event_kinds import EventKind
from domain.events import record_event
from domain.follows import relationships, withdraw_request
from storage import accounts as account_store
from storage import follows as follow_store
from storage import lists as list_store
from storage import safety as safety_store
from storage import timeline_cache
from storage.db import in_transaction
from storage.lists import list_key
from storage.resources import Resources
from storage.timeline_cache import home_key


async def existing_target(res: Resources, account_id: int, target_id: int, action: str) -> None:
    """422 for acting on oneself (Mastodon's wording), 404 for an account that is not there."""
    if account_id == target_id:
        raise validation_error("account", f"cannot {action} yourself")
    if await account_store.get_account(res.db, target_id) is None:
        raise ApiError(404, "Record not found")


async def end_follow(conn: asyncpg.Connection, follower_id: int, target_id: int) -> None:
    """End `follower_id`'s follow of `target_id` (and a request waiting), counted and recorded as an unfollow."""
    await withdraw_request(conn, follower_id, target_id)
    removed = await follow_store.delete_follow(conn, follower_id, target_id)
    if removed is None:
        return
    await follow_store.add_follow_counts(conn, follower_id, target_id, -1)
    await list_store.leave_lists(conn, follower_id, target_id)  # lists hold only followed accounts
    await record_event(
        conn, EventKind.FOLLOW_DELETED, {"id": removed, "account_id": follower_id, "target_account_id": target_id}
    )


async def block(res: Resources, account_id: int, target_id: int) -> dict[str, Any]:
    """Block an account (idempotent): follows both ways end in the same transaction. The Relationship."""
    await existing_target(res, account_id, target_id, "block")
    block_id = res.ids.next_id()

    async def write(conn: asyncpg.Connection) -> None:
        try:
            await safety_store.insert_block(conn, block_id, account_id, target_id)
        except asyncpg.ForeignKeyViolationError:
            raise ApiError(404, "Record not found") from None
        # Lower id first, as every write locking both accounts' rows does.
        for follower, followed in sorted([(account_id, target_id), (target_id, account_id)]):
            await end_follow(conn, follower, followed)

    await in_transaction(res.db, write)
    await forget_marks(res, [target_id])  # its rules' stamp moved (the blocker's own goes after any write)
    # Members may have left lists on either side: those list timelines are rebuilt on their next read.
    await forget_lists(res, account_id)
    await forget_lists(res, target_id)
    return (await relationships(res, account_id, [target_id]))[0]


async def unblock(res: Resources, account_id: int, target_id: int) -> dict[str, Any]:
    """Lift a block (idempotent). The home and list timelines are rebuilt on their next read, as they may
    have dropped posts (a list member's repost of the blocked account's post, say)."""
    await existing_target(res, account_id, target_id, "unblock")
    if await safety_store.delete_block(res.db, account_id, target_id):
        await forget_marks(res, [target_id])
        await forget_timelines(res, account_id)
    return (await relationships(res, account_id, [target_id]))[0]


async def forget_timelines(res: Resources, account_id: int) -> None:
    """Drop the account's cached home and list timelines (rebuilt from PostgreSQL on their next read): after
    a rule that hid posts is lifted, the reads in between dropped those posts from them."""
    with contextlib.suppress(*VALKEY_DOWN):  # a timeline not forgotten is only missing a few posts
        await timeline_cache.forget(res.redis, home_key(account_id))
    await forget_lists(res, account_id)


async def forget_lists(res: Resources, account_id: int) -> None:
    lists = await list_store.lists_of(res.db, account_id)
    with contextlib.suppress(*VALKEY_DOWN):
        for row in lists:
            await timeline_cache.forget(res.redis, list_key(account_id, row.id))


async def blocks_page(res: Resources, account_id: int, page: Page) -> tuple[list[dict[str, Any]], list[int]]:
    """The accounts `account_id` blocks, newest block first, and the page's cursors (block ids)."""
    rows = await safety_store.block_page(res.db, account_id, page)
    accounts = await account_store.get_accounts(res.db, (row["target_account_id"] for row in rows))
    targets = [row["target_account_id"] for row in rows]
    entities = [account_entity(accounts[target], res.settings) for target in targets if target in accounts]
    return entities, [row["id"] for row in rows]


async def remove_from_followers(res: Resources, account_id: int, follower_id: int) -> dict[str, Any]:
    """End `follower_id`'s follow of `account_id` (idempotent). The Relationship to the former follower."""
    await existing_target(res, account_id, follower_id, "remove")
    await in_transaction(res.db, lambda conn: end_follow(conn, follower_id, account_id))
    return (await relationships(res, account_id, [follower_id]))[0]
