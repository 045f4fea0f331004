"""Followed hashtags: who follows which tag, the tag followers of new posts (for the fan-out), the followed
tags' recent posts (for rebuilding a home timeline) and a tag's daily use."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from core.pagination import Page
from storage.db import Executor
from storage.rows import rows_of
from storage.timelines import TimelinePostRow


async def insert_follow(db: Executor, follow_id: int, account_id: int, tag: str) -> bool:
    inserted = await db.fetchval(
        """
        INSERT INTO tag_follows (id, account_id, tag) VALUES ($1, $2, $3)
        ON CONFLICT (account_id, tag) DO NOTHING RETURNING id
        """,
        follow_id,
        account_id,
        tag,
    )
    return inserted is not None


async def delete_follow(db: Executor, account_id: int, tag: str) -> bool:
    removed = await db.fetchval(
        "DELETE FROM tag_follows WHERE account_id = $1 AND tag = $2 RETURNING id", account_id, tag
    )
    return removed is not None


async def follows_tag(db: Executor, account_id: int, tag: str) -> bool:
    return bool(
        await db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM tag_follows WHERE account_id = $1 AND tag = $2)", account_id, tag
        )
    )


async def followed_page(db: Executor, account_id: int, page: Page) -> list[asyncpg.Record]:
    """(id, tag) of the tags an account follows, one page, newest follow first."""
    where, bounds = page.where("f.id", 2)
    rows = await db.fetch(
        f"""
        SELECT f.id, f.tag FROM tag_follows f
        WHERE f.account_id = $1 AND {where}
        ORDER BY f.id {page.order}
        LIMIT $4
        """,
        account_id,
        *bounds,
        page.limit,
    )
    return page.arrange(rows)


async def tag_audiences(db: Executor, post_ids: Sequence[int]) -> dict[int, list[int]]:
    """For each public original post among `post_ids`, the accounts following any of its tags: one statement
    (post_tags_by_post, then tag_follows_of_tag), nothing for posts without followed tags."""
    if not post_ids:
        return {}
    rows = await db.fetch(
        """
        SELECT t.post_id, array_agg(DISTINCT f.account_id) AS followers
        FROM post_tags t
        JOIN posts p ON p.id = t.post_id
        JOIN tag_follows f ON f.tag = t.tag
        WHERE t.post_id = ANY($1::bigint[]) AND p.visibility = 'public' AND p.reblog_of_id IS NULL
        GROUP BY t.post_id
        """,
        list(post_ids),
    )
    return {row["post_id"]: list(row["followers"]) for row in rows}


async def tag_follower_ids(db: Executor, tags: Sequence[str]) -> list[int]:
    """The accounts following any of the tags (tag_follows_of_tag): who a deleted public post's tags reached."""
    if not tags:
        return []
    rows = await db.fetch("SELECT DISTINCT account_id FROM tag_follows WHERE tag = ANY($1::text[])", list(tags))
    return [row["account_id"] for row in rows]


_TAG_ROWS = """
    SELECT p.id, p.account_id, p.reblog_of_id
    FROM tag_follows tf
    CROSS JOIN LATERAL (
        SELECT t.post_id FROM post_tags t WHERE t.tag = tf.tag ORDER BY t.post_id DESC LIMIT $2
    ) t
    JOIN posts p ON p.id = t.post_id
    WHERE tf.account_id = $1 AND ($3::text IS NULL OR tf.tag = $3)
      AND p.visibility = 'public' AND p.reblog_of_id IS NULL
    ORDER BY p.id DESC
    LIMIT $2
"""


async def followed_tag_rows(db: Executor, account_id: int, limit: int, tag: str | None = None) -> list[TimelinePostRow]:
    """The newest public posts with the tags the account follows (or with `tag`), newest first: per tag an
    index range of post_tags' primary key (at most `limit` each)."""
    return rows_of(TimelinePostRow, await db.fetch(_TAG_ROWS, account_id, limit, tag))


async def daily_uses(db: Executor, tag: str, since_id: int) -> list[tuple[datetime, int, int]]:
    """(day, posts, accounts) of a tag's public use since the post id `since_id`, per UTC day."""
    rows = await db.fetch(
        """
        SELECT date_trunc('day', p.created_at AT TIME ZONE 'UTC') AS day, count(*) AS uses,
               count(DISTINCT p.account_id) AS accounts
        FROM post_tags t JOIN posts p ON p.id = t.post_id
        WHERE t.tag = $1 AND t.post_id > $2 AND p.visibility = 'public'
        GROUP BY 1
        """,
        tag,
        since_id,
    )
    return [(row["day"], row["uses"], row["accounts"]) for row in rows]
