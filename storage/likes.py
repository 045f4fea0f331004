"""Likes (Mastodon's favourites) and the other reactions, with their per-post counters.

Each write is guarded by its row: the counter moves only when `INSERT ... ON CONFLICT DO NOTHING` inserted
or `DELETE` removed a row, in the caller's transaction, after the caller locked the post
(`storage.posts.lock_posts`), so retries and races never double-count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from core.pagination import Page
from storage.db import Executor

# likes ----------------------------------------------------------------------------------------------


async def insert_like(conn: Executor, like_id: int, account_id: int, post_id: int) -> bool:
    """True when the like is new."""
    inserted = await conn.fetchval(
        """
        INSERT INTO likes (id, account_id, post_id) VALUES ($1, $2, $3)
        ON CONFLICT (account_id, post_id) DO NOTHING
        RETURNING id
        """,
        like_id,
        account_id,
        post_id,
    )
    return inserted is not None


async def delete_like(conn: Executor, account_id: int, post_id: int) -> bool:
    """True when there was a like to remove."""
    removed = await conn.fetchval(
        "DELETE FROM likes WHERE account_id = $1 AND post_id = $2 RETURNING id", account_id, post_id
    )
    return removed is not None


async def liked_by(db: Executor, account_id: int, post_ids: Iterable[int]) -> set[int]:
    """Which of `post_ids` `account_id` likes."""
    ids = list(set(post_ids))
    if not ids:
        return set()
    rows = await db.fetch(
        "SELECT post_id FROM likes WHERE account_id = $1 AND post_id = ANY($2::bigint[])", account_id, ids
    )
    return {row["post_id"] for row in rows}


async def likers(db: Executor, post_id: int, page: Page) -> list[asyncpg.Record]:
    """(id, account_id) of a post's likes, one page, newest first."""
    where, bounds = page.where("l.id", 2)
    rows = await db.fetch(
        f"""
        SELECT l.id, l.account_id FROM likes l
        WHERE l.post_id = $1 AND {where}
        ORDER BY l.id {page.order}
        LIMIT $4
        """,
        post_id,
        *bounds,
        page.limit,
    )
    return page.arrange(rows)


async def likes_of_account(db: Executor, account_id: int, page: Page) -> list[asyncpg.Record]:
    """(id, post_id) of an account's likes, one page, newest first."""
    where, bounds = page.where("l.id", 2)
    rows = await db.fetch(
        f"""
        SELECT l.id, l.post_id FROM likes l
        WHERE l.account_id = $1 AND {where}
        ORDER BY l.id {page.order}
        LIMIT $4
        """,
        account_id,
        *bounds,
        page.limit,
    )
    return page.arrange(rows)


# reactions ------------------------------------------------------------------------------------------


async def insert_reaction(conn: Executor, reaction_id: int, account_id: int, post_id: int, name: str) -> int | None:
    """Add a reaction; the post's new count for `name`, or None when the account had already reacted so."""
    inserted = await conn.fetchval(
        """
        INSERT INTO reactions (id, account_id, post_id, name) VALUES ($1, $2, $3, $4)
        ON CONFLICT (account_id, post_id, name) DO NOTHING
        RETURNING id
        """,
        reaction_id,
        account_id,
        post_id,
        name,
    )
    if inserted is None:
        return None
    count: int = await conn.fetchval(
        """
        INSERT INTO post_reaction_counts (post_id, name, count) VALUES ($1, $2, 1)
        ON CONFLICT (post_id, name) DO UPDATE SET count = post_reaction_counts.count + 1
        RETURNING count
        """,
        post_id,
        name,
    )
    return count


async def delete_reaction(conn: Executor, account_id: int, post_id: int, name: str) -> int | None:
    """Remove a reaction; the post's new count for `name`, or None when there was none to remove."""
    removed = await conn.fetchval(
        "DELETE FROM reactions WHERE account_id = $1 AND post_id = $2 AND name = $3 RETURNING id",
        account_id,
        post_id,
        name,
    )
    if removed is None:
        return None
    count: int = await conn.fetchval(
        """
        UPDATE post_reaction_counts SET count = GREATEST(count - 1, 0)
        WHERE post_id = $1 AND name = $2
        RETURNING count
        """,
        post_id,
        name,
    )
    return count or 0


async def reaction_counts(
    db: Executor, post_ids: Iterable[int], viewer_id: int | None
) -> dict[int, list[tuple[str, int, bool]]]:
    """(name, count, viewer reacted) of each post's reactions with a count above zero."""
    ids = list(set(post_ids))
    if not ids:
        return {}
    rows = await db.fetch(
        """
        SELECT c.post_id, c.name, c.count,
               EXISTS (SELECT 1 FROM reactions r
                       WHERE r.account_id = $2 AND r.post_id = c.post_id AND r.name = c.name) AS me
        FROM post_reaction_counts c
        WHERE c.post_id = ANY($1::bigint[]) AND c.count > 0
        """,
        ids,
        viewer_id,
    )
    out: dict[int, list[tuple[str, int, bool]]] = {}
    for row in rows:
        out.setdefault(row["post_id"], []).append((row["name"], row["count"], row["me"]))
    return out


async def have_reactions(db: Executor, post_ids: Iterable[int]) -> bool:
    """Whether any of the posts has a reaction (other than a like) now."""
    found = await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM post_reaction_counts WHERE post_id = ANY($1::bigint[]) AND count > 0)",
        list(set(post_ids)),
    )
    return bool(found)


async def reacted_among(db: Executor, post_ids: Iterable[int]) -> set[int]:
    """Which of the posts have a reaction (other than a like) now."""
    ids = list(set(post_ids))
    if not ids:
        return set()
    rows = await db.fetch(
        "SELECT DISTINCT post_id FROM post_reaction_counts WHERE post_id = ANY($1::bigint[]) AND count > 0", ids
    )
    return {row["post_id"] for row in rows}


async def recent_reactors(db: Executor, post_id: int, names: Sequence[str], *, per_name: int) -> dict[str, list[int]]:
    """The latest accounts to react to a post with each of `names` (from the like table for "like")."""
    rows = await db.fetch(
        """
        SELECT n.name, r.account_id
        FROM unnest($2::text[]) AS n(name)
        CROSS JOIN LATERAL (
            SELECT account_id, id FROM likes WHERE n.name = 'like' AND post_id = $1
            UNION ALL
            SELECT account_id, id FROM reactions WHERE n.name <> 'like' AND post_id = $1 AND name = n.name
            ORDER BY id DESC LIMIT $3
        ) AS r
        """,
        post_id,
        list(names),
        per_name,
    )
    out: dict[str, list[int]] = {}
    for row in rows:
        out.setdefault(row["name"], []).append(row["account_id"])
    return out
