"""Likes and reactions (the notes' like, love and dislike counts). The reaction named "like" is the like."""

from __future__ import annotations

from typing import Any

import asyncpg

from core.errors import ApiError, validation_error
from core.pagination import Page
from domain.accounts import account_entity
from domain.event_kinds import EventKind, Reaction
from domain.events import record_event
from domain.post_entities import post_entities
from domain.posts import record_counts_changed
from domain.visibility import visible_original
from storage import accounts as account_store
from storage import likes as like_store
from storage import posts as post_store
from storage.db import in_transaction
from storage.posts import PostRow
from storage.resources import Resources

LIKE = "like"
REACTORS_SHOWN = 40  # accounts listed per reaction by GET .../reactions


async def _lock_post(conn: asyncpg.Connection, post_id: int) -> None:
    """Lock the post whose counters change; 404 when it was deleted since it was read."""
    if not await post_store.lock_posts(conn, [post_id]):
        raise ApiError(404, "Record not found")


async def like_post(res: Resources, account_id: int, post_id: int) -> int:
    """Like a post (a repost stands for its original); idempotent. Returns the liked post's id."""
    post = await visible_original(res, post_id, account_id)

    async def write(conn: asyncpg.Connection) -> None:
        await _lock_post(conn, post.id)
        if await like_store.insert_like(conn, res.ids.next_id(), account_id, post.id):
            counts = await post_store.add_to_counter(conn, post.id, "likes_count", 1)
            await record_event(
                conn,
                EventKind.LIKE_CREATED,
                {"post_id": post.id, "post_account_id": post.account_id, "account_id": account_id},
            )
            await record_counts_changed(conn, counts, "like")

    await in_transaction(res.db, write)
    return int(post.id)


async def unlike_post(res: Resources, account_id: int, post_id: int) -> int:
    """Take a like back; idempotent. Returns the post's id."""
    post = await visible_original(res, post_id, account_id)

    async def write(conn: asyncpg.Connection) -> None:
        await _lock_post(conn, post.id)
        if await like_store.delete_like(conn, account_id, post.id):
            counts = await post_store.add_to_counter(conn, post.id, "likes_count", -1)
            await record_event(
                conn,
                EventKind.LIKE_DELETED,
                {"post_id": post.id, "post_account_id": post.account_id, "account_id": account_id},
            )
            await record_counts_changed(conn, counts, "unlike")

    await in_transaction(res.db, write)
    return int(post.id)


def check_reaction(res: Resources, name: str) -> str:
    reaction = name.strip().lower()
    if reaction not in res.settings.reactions:
        raise validation_error("name", f"is not a known reaction (one of {', '.join(res.settings.reactions)})")
    return reaction


async def react(res: Resources, account_id: int, post_id: int, name: str) -> int:
    """Add the reaction `name` (one of settings.reactions); idempotent. Returns the post's id."""
    reaction = check_reaction(res, name)
    if reaction == LIKE:
        return await like_post(res, account_id, post_id)
    post = await visible_original(res, post_id, account_id)

    async def write(conn: asyncpg.Connection) -> None:
        await _lock_post(conn, post.id)
        count = await like_store.insert_reaction(conn, res.ids.next_id(), account_id, post.id, reaction)
        if count is not None:
            await record_event(conn, EventKind.REACTION_CREATED, _reaction_payload(post, account_id, reaction, count))

    await in_transaction(res.db, write)
    return int(post.id)


async def unreact(res: Resources, account_id: int, post_id: int, name: str) -> int:
    """Remove the reaction `name`; idempotent. Returns the post's id."""
    reaction = check_reaction(res, name)
    if reaction == LIKE:
        return await unlike_post(res, account_id, post_id)
    post = await visible_original(res, post_id, account_id)

    async def write(conn: asyncpg.Connection) -> None:
        await _lock_post(conn, post.id)
        count = await like_store.delete_reaction(conn, account_id, post.id, reaction)
        if count is not None:
            await record_event(conn, EventKind.REACTION_DELETED, _reaction_payload(post, account_id, reaction, count))

    await in_transaction(res.db, write)
    return int(post.id)


def _reaction_payload(post: PostRow, account_id: int, name: str, count: int) -> Reaction:
    return {
        "post_id": post.id,
        "post_account_id": post.account_id,
        "account_id": account_id,
        "name": name,
        "count": count,
    }


async def post_reactions(res: Resources, post_id: int, viewer_id: int | None) -> list[dict[str, Any]]:
    """The post's reactions `[{name, count, me, accounts}]`, with the latest accounts to react each way."""
    post = await visible_original(res, post_id, viewer_id)
    entities = await post_entities(res, [post.id], viewer_id)
    if not entities:
        raise ApiError(404, "Record not found")
    reactions: list[dict[str, Any]] = entities[0]["reactions"]
    reactors = await like_store.recent_reactors(
        res.db, post.id, [r["name"] for r in reactions], per_name=REACTORS_SHOWN
    )
    accounts = await account_store.get_accounts(res.db, {a for ids in reactors.values() for a in ids})
    return [
        {
            **reaction,
            "accounts": [
                account_entity(accounts[a], res.settings) for a in reactors.get(reaction["name"], []) if a in accounts
            ],
        }
        for reaction in reactions
    ]


async def likers_page(
    res: Resources, post_id: int, viewer_id: int | None, page: Page
) -> tuple[list[dict[str, Any]], list[int]]:
    """Accounts that liked a post, newest like first, and the page's cursors (like ids)."""
    post = await visible_original(res, post_id, viewer_id)
    rows = await like_store.likers(res.db, post.id, page)
    accounts = await account_store.get_accounts(res.db, (row["account_id"] for row in rows))
    entities = [account_entity(accounts[r["account_id"]], res.settings) for r in rows if r["account_id"] in accounts]
    return entities, [row["id"] for row in rows]


async def liked_posts(res: Resources, account_id: int, page: Page) -> tuple[list[dict[str, Any]], list[int]]:
    """The account's liked posts, newest like first, and the page's cursors (like ids)."""
    rows = await like_store.likes_of_account(res.db, account_id, page)
    return await post_entities(res, [row["post_id"] for row in rows], account_id), [row["id"] for row in rows]
