"""Follows: who follows whom, and the follower/following counters on accounts."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from core.pagination import Page
from storage.db import Executor


async def insert_follow(
    conn: Executor, follow_id: int, account_id: int, target_id: int, *, show_reposts: bool, notify: bool
) -> bool:
    """True when the follow is new."""
    inserted = await conn.fetchval(
        """
        INSERT INTO follows (id, account_id, target_account_id, show_reposts, notify)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (account_id, target_account_id) DO NOTHING
        RETURNING id
        """,
        follow_id,
        account_id,
        target_id,
        show_reposts,
        notify,
    )
    return inserted is not None


async def update_follow_options(
    conn: Executor, account_id: int, target_id: int, *, show_reposts: bool | None, notify: bool | None
) -> None:
    """Change an existing follow's options (following again with other options, as Mastodon allows)."""
    await conn.execute(
        """
        UPDATE follows SET show_reposts = coalesce($3, show_reposts), notify = coalesce($4, notify)
        WHERE account_id = $1 AND target_account_id = $2
        """,
        account_id,
        target_id,
        show_reposts,
        notify,
    )


async def delete_follow(conn: Executor, account_id: int, target_id: int) -> int | None:
    """The removed follow's id, or None when there was none."""
    removed: int | None = await conn.fetchval(
        "DELETE FROM follows WHERE account_id = $1 AND target_account_id = $2 RETURNING id", account_id, target_id
    )
    return removed


async def add_follow_counts(conn: Executor, follower_id: int, target_id: int, delta: int) -> None:
    """Move the follower's following_count and the target's followers_count together (never below zero).

    Both rows are locked in id order, so two accounts following each other at once cannot deadlock.
    """
    await conn.execute(
        "SELECT id FROM accounts WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE",
        [follower_id, target_id],
    )
    await conn.execute(
        """
        UPDATE accounts SET
            following_count = GREATEST(following_count + CASE WHEN id = $1 THEN $3 ELSE 0 END, 0),
            followers_count = GREATEST(followers_count + CASE WHEN id = $2 THEN $3 ELSE 0 END, 0)
        WHERE id = ANY(ARRAY[$1, $2]::bigint[])
        """,
        follower_id,
        target_id,
        delta,
    )


async def follows_among(db: Executor, account_id: int, target_ids: Iterable[int]) -> dict[int, asyncpg.Record]:
    """`account_id`'s follows of any of `target_ids`: target id → (show_reposts, notify)."""
    ids = list(set(target_ids))
    if not ids:
        return {}
    rows = await db.fetch(
        """
        SELECT target_account_id, show_reposts, notify FROM follows
        WHERE account_id = $1 AND target_account_id = ANY($2::bigint[])
        """,
        account_id,
        ids,
    )
    return {row["target_account_id"]: row for row in rows}


async def followers_among(db: Executor, account_id: int, follower_ids: Iterable[int]) -> set[int]:
    """Which of `follower_ids` follow `account_id`."""
    ids = list(set(follower_ids))
    if not ids:
        return set()
    rows = await db.fetch(
        "SELECT account_id FROM follows WHERE target_account_id = $1 AND account_id = ANY($2::bigint[])",
        account_id,
        ids,
    )
    return {row["account_id"] for row in rows}


async def follower_page(db: Executor, account_id: int, page: Page) -> list[asyncpg.Record]:
    """(id, account_id) of an account's followers, one page, newest follow first."""
    where, bounds = page.where("f.id", 2)
    rows = await db.fetch(
        f"""
        SELECT f.id, f.account_id FROM follows f
        WHERE f.target_account_id = $1 AND {where}
        ORDER BY f.id {page.order}
        LIMIT $4
        """,
        account_id,
        *bounds,
        page.limit,
    )
    return page.arrange(rows)


async def following_page(db: Executor, account_id: int, page: Page) -> list[asyncpg.Record]:
    """(id, account_id) of the accounts an account follows, one page, newest follow first."""
    where, bounds = page.where("f.id", 2)
    rows = await db.fetch(
        f"""
        SELECT f.id, f.target_account_id AS account_id FROM follows f
        WHERE f.account_id = $1 AND {where}
        ORDER BY f.id {page.order}
        LIMIT $4
        """,
        account_id,
        *bounds,
        page.limit,
    )
    return page.arrange(rows)
