"""Reposts (Mastodon's reblogs): a post row pointing at the original, one per account and original."""

from __future__ import annotations

from typing import Any

import asyncpg

from core.errors import ApiError, validation_error
from core.pagination import Page
from domain.accounts import account_entity
from domain.event_kinds import EventKind
from domain.events import record_event
from domain.posts import record_counts_changed
from domain.visibility import repostable_privately, visible_original
from storage import accounts as account_store
from storage import posts as post_store
from storage.db import in_transaction
from storage.posts import PostRow
from storage.resources import Resources

REPOST_VISIBILITIES = ("public", "unlisted", "private")


def _repost_visibility(original: PostRow, account_id: int, requested: str | None) -> str:
    """Who may see the repost. Only public and unlisted posts can be reposted, except that an author may
    repost their own private post, privately (as Mastodon)."""
    private = repostable_privately(original, account_id)
    if private is None:
        raise ApiError(403, "This action is not allowed: private posts cannot be reposted")
    if private:
        return "private"
    visibility = requested or "public"
    if visibility not in REPOST_VISIBILITIES:
        raise validation_error("visibility", f"must be one of {', '.join(REPOST_VISIBILITIES)}")
    return visibility


async def repost(
    res: Resources, account_id: int, post_id: int, *, visibility: str | None = None, application_id: int | None = None
) -> int:
    """Repost a post (a repost stands for its original); idempotent. Returns the repost's id."""
    original = await visible_original(res, post_id, account_id)
    repost_visibility = _repost_visibility(original, account_id, visibility)
    new_id = res.ids.next_id()

    async def write(conn: asyncpg.Connection) -> int:
        if not await post_store.lock_posts(conn, [original.id]):
            raise ApiError(404, "Record not found")
        inserted = await post_store.insert_repost(
            conn, new_id, account_id, original.id, repost_visibility, application_id
        )
        if not inserted:
            existing = await post_store.find_repost(conn, account_id, original.id)
            if existing is None:  # cannot happen under the lock, but never answer with a wrong id
                raise ApiError(409, "The repost changed concurrently; try again")
            return existing
        counts = await post_store.add_to_counter(conn, original.id, "reposts_count", 1)
        await record_event(
            conn,
            EventKind.POST_CREATED,
            {
                "id": new_id,
                "account_id": account_id,
                "visibility": repost_visibility,
                "in_reply_to_id": None,
                "in_reply_to_account_id": None,
                "thread_root_id": new_id,
                "reblog_of_id": original.id,
                "quote_of_id": None,
                "mention_ids": [],
                "tags": [],
            },
        )
        await record_event(
            conn,
            EventKind.REPOST_CREATED,
            {
                "id": new_id,
                "account_id": account_id,
                "reblog_of_id": original.id,
                "post_account_id": original.account_id,
                "visibility": repost_visibility,
            },
        )
        await record_counts_changed(conn, counts, "repost")
        return new_id

    return await in_transaction(res.db, write)


async def unrepost(res: Resources, account_id: int, post_id: int) -> int:
    """Undo the account's repost of a post; idempotent. Returns the original's id."""
    original = await visible_original(res, post_id, account_id)

    async def write(conn: asyncpg.Connection) -> None:
        if not await post_store.lock_posts(conn, [original.id]):
            raise ApiError(404, "Record not found")
        gone = await post_store.delete_repost(conn, account_id, original.id)
        if gone is None:
            return
        counts = await post_store.add_to_counter(conn, original.id, "reposts_count", -1)
        await post_store.add_posts_counts(conn, {account_id: -1})
        await record_event(
            conn,
            EventKind.POST_DELETED,
            {
                "id": gone.id,
                "account_id": account_id,
                "visibility": gone.visibility,
                "reblog_of_id": original.id,
                "in_reply_to_id": None,
                "quote_of_id": None,
                "tags": [],
            },
        )
        await record_event(
            conn, EventKind.REPOST_DELETED, {"id": gone.id, "account_id": account_id, "reblog_of_id": original.id}
        )
        await record_counts_changed(conn, counts, "unrepost")

    await in_transaction(res.db, write)
    return int(original.id)


async def reposters_page(
    res: Resources, post_id: int, viewer_id: int | None, page: Page
) -> tuple[list[dict[str, Any]], list[int]]:
    """Accounts that reposted a post, newest repost first, and the page's cursors (repost ids)."""
    original = await visible_original(res, post_id, viewer_id)
    rows = await post_store.reposters(res.db, original.id, page)
    accounts = await account_store.get_accounts(res.db, (row.account_id for row in rows))
    entities = [account_entity(accounts[r.account_id], res.settings) for r in rows if r.account_id in accounts]
    return entities, [row.id for row in rows]
