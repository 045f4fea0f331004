"""Bookmarks and pinned posts: one row per (account, post), the SQL next to each function.

Both are the viewer's own marks on posts (Status `bookmarked`, `pinned`); `marks_of` answers them for a
page of posts in one statement. Pins are limited per account (domain/bookmarks.py counts them with the
account row locked).
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from core.pagination import Page
from storage.db import Executor


async def insert_bookmark(conn: Executor, bookmark_id: int, account_id: int, post_id: int) -> bool:
    """True when the bookmark is new."""
    inserted = await conn.fetchval(
        """
        INSERT INTO bookmarks (id, account_id, post_id) VALUES ($1, $2, $3)
        ON CONFLICT (account_id, post_id) DO NOTHING RETURNING id
        """,
        bookmark_id,
        account_id,
        post_id,
    )
    return inserted is not None


async def delete_bookmark(conn: Executor, account_id: int, post_id: int) -> bool:
    removed = await conn.fetchval(
        "DELETE FROM bookmarks WHERE account_id = $1 AND post_id = $2 RETURNING id", account_id, post_id
    )
    return removed is not None


async def bookmarks_of_account(db: Executor, account_id: int, page: Page) -> list[asyncpg.Record]:
    """(id, post_id) of an account's bookmarks, one page, newest bookmark first (bookmarks_by_account)."""
    where, bounds = page.where("b.id", 2)
    rows = await db.fetch(
        f"""
        SELECT b.id, b.post_id FROM bookmarks b
        WHERE b.account_id = $1 AND {where}
        ORDER BY b.id {page.order}
        LIMIT $4
        """,
        account_id,
        *bounds,
        page.limit,
    )
    return page.arrange(rows)


async def have_marks(db: Executor, post_ids: Iterable[int]) -> bool:
    """Whether any of the posts has a reaction (other than a like) or a bookmark now: a live event then
    renders per viewer. One statement, so a new post's events cost no more queries than before bookmarks."""
    found = await db.fetchval(
        """
        SELECT EXISTS (SELECT 1 FROM post_reaction_counts WHERE post_id = ANY($1::bigint[]) AND count > 0)
            OR EXISTS (SELECT 1 FROM bookmarks WHERE post_id = ANY($1::bigint[]))
        """,
        list(set(post_ids)),
    )
    return bool(found)


async def marks_of(db: Executor, account_id: int, post_ids: Iterable[int]) -> tuple[set[int], set[int]]:
    """Which of the posts the account bookmarked, and which it pinned: one statement, index probes."""
    ids = list(set(post_ids))
    if not ids:
        return set(), set()
    rows = await db.fetch(  # one row
        """
        SELECT
            ARRAY(SELECT post_id FROM bookmarks WHERE account_id = $1 AND post_id = ANY($2::bigint[])) AS bookmarked,
            ARRAY(SELECT post_id FROM pins WHERE account_id = $1 AND post_id = ANY($2::bigint[])) AS pinned
        """,
        account_id,
        ids,
    )
    return set(rows[0]["bookmarked"]), set(rows[0]["pinned"])


# pins ---------------------------------------------------------------------------------------------------


async def lock_account(conn: Executor, account_id: int) -> None:
    """Serialise an account's pins (the limit is counted under this lock)."""
    await conn.execute("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", account_id)


async def pin_count(conn: Executor, account_id: int) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM pins WHERE account_id = $1", account_id))


async def insert_pin(conn: Executor, pin_id: int, account_id: int, post_id: int) -> bool:
    inserted = await conn.fetchval(
        """
        INSERT INTO pins (id, account_id, post_id) VALUES ($1, $2, $3)
        ON CONFLICT (account_id, post_id) DO NOTHING RETURNING id
        """,
        pin_id,
        account_id,
        post_id,
    )
    return inserted is not None


async def is_pinned(conn: Executor, account_id: int, post_id: int) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pins WHERE account_id = $1 AND post_id = $2)", account_id, post_id
        )
    )


async def delete_pin(conn: Executor, account_id: int, post_id: int) -> bool:
    removed = await conn.fetchval(
        "DELETE FROM pins WHERE account_id = $1 AND post_id = $2 RETURNING id", account_id, post_id
    )
    return removed is not None


async def pinned_post_ids(db: Executor, account_id: int) -> list[int]:
    """An account's pinned posts, newest pin first (at most the limit, so no page)."""
    rows = await db.fetch("SELECT post_id FROM pins WHERE account_id = $1 ORDER BY id DESC", account_id)
    return [row["post_id"] for row in rows]
