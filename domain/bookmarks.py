"""Bookmarks (posts saved for later, seen only by whoever saved them) and pinned posts (up to five of one's
own public or unlisted posts, shown first on one's profile). Both are marks of the viewer on a post:
Status `bookmarked` and `pinned` come from `storage.bookmarks.marks_of` when entities are rendered."""

from __future__ import annotations

from typing import Any

import asyncpg

from core.errors import ApiError, validation_error
from core.pagination import Page
from domain.post_entities import post_entities
from domain.visibility import visible_original, visible_post
from storage import bookmarks as bookmark_store
from storage.db import in_transaction
from storage.resources import Resources

MAX_PINS = 5
PINNABLE = ("public", "unlisted")


async def bookmark_post(res: Resources, account_id: int, post_id: int) -> int:
    """Bookmark a post the account may see (a repost stands for its original); idempotent."""
    post = await visible_original(res, post_id, account_id)
    await bookmark_store.insert_bookmark(res.db, res.ids.next_id(), account_id, post.id)
    return int(post.id)


async def unbookmark_post(res: Resources, account_id: int, post_id: int) -> int:
    post = await visible_original(res, post_id, account_id)
    await bookmark_store.delete_bookmark(res.db, account_id, post.id)
    return int(post.id)


async def bookmarked_posts(res: Resources, account_id: int, page: Page) -> tuple[list[dict[str, Any]], list[int]]:
    """The account's bookmarked posts (those it may still see), newest bookmark first, and the page's
    cursors (bookmark ids, as Mastodon paginates bookmarks)."""
    rows = await bookmark_store.bookmarks_of_account(res.db, account_id, page)
    entities = await post_entities(res, [row["post_id"] for row in rows], account_id)
    return entities, [row["id"] for row in rows]


async def pin_post(res: Resources, account_id: int, post_id: int) -> int:
    """Pin one of the account's own public or unlisted posts; at most MAX_PINS; idempotent."""
    post = await visible_post(res, post_id, account_id)
    if post.account_id != account_id:
        raise ApiError(422, "Validation failed: you can only pin your own posts")
    if post.reblog_of_id is not None:
        raise ApiError(422, "Validation failed: a repost cannot be pinned")
    if post.visibility not in PINNABLE:
        raise ApiError(422, "Validation failed: only public and unlisted posts can be pinned")

    async def write(conn: asyncpg.Connection) -> None:
        await bookmark_store.lock_account(conn, account_id)
        if await bookmark_store.is_pinned(conn, account_id, post.id):
            return
        if await bookmark_store.pin_count(conn, account_id) >= MAX_PINS:
            raise validation_error("pins", f"are limited to {MAX_PINS}: unpin a post first")
        await bookmark_store.insert_pin(conn, res.ids.next_id(), account_id, post.id)

    await in_transaction(res.db, write)
    return int(post.id)


async def unpin_post(res: Resources, account_id: int, post_id: int) -> int:
    post = await visible_post(res, post_id, account_id)
    await bookmark_store.delete_pin(res.db, account_id, post.id)
    return int(post.id)


async def pinned_posts(
    res: Resources, account_id: int, viewer_id: int | None
) -> tuple[list[dict[str, Any]], list[int]]:
    """An account's pinned posts as the viewer may see them, newest pin first (no pages: at most five)."""
    ids = await bookmark_store.pinned_post_ids(res.db, account_id)
    return await post_entities(res, ids, viewer_id), []
