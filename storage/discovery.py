"""Finding people and hashtags: featured hashtags with their use, the profile directory, familiar followers,
suggested accounts and the suggestions one dismissed. Every list of accounts here leaves out the suspended
and anyone blocking or blocked by the viewer (`_SHOWN`), as account search does (domain/search.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from storage.db import Executor

# `a` is the account row, `$1` the viewer (NULL when signed out: then only suspension hides).
_SHOWN = """
    a.suspended_at IS NULL
    AND NOT EXISTS (SELECT 1 FROM blocks b
                    WHERE (b.account_id = $1 AND b.target_account_id = a.id)
                       OR (b.account_id = a.id AND b.target_account_id = $1))
"""
# Who may be shown to strangers (directory, suggestions): opted in to discovery, neither silenced nor suspended.
_DISCOVERABLE = f"a.discoverable AND a.silenced_at IS NULL AND {_SHOWN}"


# Featured hashtags -------------------------------------------------------------------------------------


async def lock_account(conn: Executor, account_id: int) -> None:
    """Serialise an account's featured tags (their limit is counted under this lock)."""
    await conn.execute("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", account_id)


async def featured_names(db: Executor, account_id: int) -> dict[str, int]:
    """An account's featured tags: name -> featured tag id."""
    rows = await db.fetch("SELECT id, tag FROM featured_tags WHERE account_id = $1", account_id)
    return {row["tag"]: row["id"] for row in rows}


async def insert_featured(conn: Executor, featured_id: int, account_id: int, tag: str) -> int:
    """The featured tag's id: the new row's, or the existing one's when the tag is already featured."""
    found = await conn.fetchval(
        """
        INSERT INTO featured_tags (id, account_id, tag) VALUES ($1, $2, $3)
        ON CONFLICT (account_id, tag) DO NOTHING RETURNING id
        """,
        featured_id,
        account_id,
        tag,
    )
    if found is None:
        found = await conn.fetchval("SELECT id FROM featured_tags WHERE account_id = $1 AND tag = $2", account_id, tag)
    return int(found)


async def delete_featured(db: Executor, account_id: int, featured_id: int) -> bool:
    removed = await db.fetchval(
        "DELETE FROM featured_tags WHERE id = $1 AND account_id = $2 RETURNING id", featured_id, account_id
    )
    return removed is not None


async def featured_with_use(db: Executor, account_id: int, featured_id: int | None = None) -> list[asyncpg.Record]:
    """(id, tag, statuses_count, last_status_at) of an account's featured tags, oldest first: its public and
    unlisted original posts with each tag, counted now (so they follow posts made and deleted)."""
    rows: list[asyncpg.Record] = await db.fetch(
        """
        SELECT f.id, f.tag, u.statuses_count, u.last_status_at
        FROM featured_tags f
        CROSS JOIN LATERAL (
            SELECT count(*) AS statuses_count, max(p.created_at) AS last_status_at
            FROM post_tags t JOIN posts p ON p.id = t.post_id
            WHERE t.tag = f.tag AND p.account_id = f.account_id
              AND p.visibility IN ('public', 'unlisted') AND p.reblog_of_id IS NULL
        ) u
        WHERE f.account_id = $1 AND ($2::bigint IS NULL OR f.id = $2)
        ORDER BY f.id
        """,
        account_id,
        featured_id,
    )
    return rows


async def most_used_tags(db: Executor, account_id: int, limit: int, exclude: Sequence[str]) -> list[str]:
    """The tags an account used most in its last 1,000 posts, most used first, leaving out `exclude`."""
    rows = await db.fetch(
        """
        SELECT t.tag FROM (
            SELECT id FROM posts WHERE account_id = $1 AND reblog_of_id IS NULL ORDER BY id DESC LIMIT 1000
        ) p JOIN post_tags t ON t.post_id = p.id
        WHERE NOT (t.tag = ANY($3::text[]))
        GROUP BY t.tag ORDER BY count(*) DESC, max(p.id) DESC LIMIT $2
        """,
        account_id,
        limit,
        list(exclude),
    )
    return [row["tag"] for row in rows]


# People ------------------------------------------------------------------------------------------------


async def directory_ids(db: Executor, viewer_id: int | None, *, order: str, offset: int, limit: int) -> list[int]:
    """Discoverable accounts, most recently posting (`active`) or newest (`new`) first; the viewer's
    mutes leave it too (as Mastodon's directory)."""
    by = "a.last_post_at DESC NULLS LAST, a.id DESC" if order == "active" else "a.id DESC"
    rows = await db.fetch(
        f"""
        SELECT a.id FROM accounts a
        WHERE {_DISCOVERABLE}
          AND NOT EXISTS (SELECT 1 FROM mutes m WHERE m.account_id = $1 AND m.target_account_id = a.id)
        ORDER BY {by} OFFSET $2 LIMIT $3
        """,
        viewer_id,
        offset,
        limit,
    )
    return [row["id"] for row in rows]


async def familiar_followers(
    db: Executor, viewer_id: int, target_ids: Sequence[int], per_target: int
) -> dict[int, list[int]]:
    """For each existing, unsuspended target: the accounts the viewer follows that follow it (newest follow
    first, up to `per_target`)."""
    rows = await db.fetch(
        f"""
        SELECT t.id AS target_id,
               ARRAY(SELECT a.id FROM follows mine
                     JOIN follows theirs
                       ON theirs.account_id = mine.target_account_id AND theirs.target_account_id = t.id
                     JOIN accounts a ON a.id = mine.target_account_id
                     WHERE mine.account_id = $1 AND {_SHOWN}
                     ORDER BY theirs.id DESC LIMIT $3) AS followers
        FROM accounts t
        WHERE t.id = ANY($2::bigint[]) AND t.suspended_at IS NULL
        """,
        viewer_id,
        list(target_ids),
        per_target,
    )
    return {row["target_id"]: list(row["followers"]) for row in rows}


# Friends of friends: the viewer's followees' followees, counted, from the most recent follows of each.
_FRIENDS_OF_FRIENDS = f"""
    SELECT a.id, count(*) AS score FROM (
        SELECT target_account_id FROM follows WHERE account_id = $1 ORDER BY id DESC LIMIT 200
    ) mine
    CROSS JOIN LATERAL (
        SELECT target_account_id FROM follows WHERE account_id = mine.target_account_id ORDER BY id DESC LIMIT 200
    ) theirs
    JOIN accounts a ON a.id = theirs.target_account_id
    WHERE a.id <> $1 AND {_DISCOVERABLE}
      AND NOT EXISTS (SELECT 1 FROM follows f WHERE f.account_id = $1 AND f.target_account_id = a.id)
      AND NOT EXISTS (SELECT 1 FROM suggestion_dismissals d WHERE d.account_id = $1 AND d.target_account_id = a.id)
    GROUP BY a.id ORDER BY count(*) DESC, max(a.followers_count) DESC, a.id DESC LIMIT $2
"""

# The most followed among accounts that posted since $3.
_MOST_FOLLOWED = f"""
    SELECT a.id, a.followers_count AS score FROM accounts a
    WHERE a.last_post_at > $3 AND a.id <> $1 AND {_DISCOVERABLE}
      AND NOT EXISTS (SELECT 1 FROM follows f WHERE f.account_id = $1 AND f.target_account_id = a.id)
      AND NOT EXISTS (SELECT 1 FROM suggestion_dismissals d WHERE d.account_id = $1 AND d.target_account_id = a.id)
    ORDER BY a.followers_count DESC, a.id DESC LIMIT $2
"""


async def friends_of_friends(db: Executor, viewer_id: int, limit: int) -> list[int]:
    return [row["id"] for row in await db.fetch(_FRIENDS_OF_FRIENDS, viewer_id, limit)]


async def most_followed_active(db: Executor, viewer_id: int, limit: int, active_since: datetime) -> list[int]:
    return [row["id"] for row in await db.fetch(_MOST_FOLLOWED, viewer_id, limit, active_since)]


async def dismiss_suggestion(db: Executor, account_id: int, target_id: int) -> None:
    await db.execute(
        """
        INSERT INTO suggestion_dismissals (account_id, target_account_id) VALUES ($1, $2)
        ON CONFLICT DO NOTHING
        """,
        account_id,
        target_id,
    )


async def hidden_from(db: Executor, viewer_id: int | None, account_ids: Sequence[int]) -> set[int]:
    """Which of `account_ids` the viewer may not be shown: suspended, or blocked either way."""
    if not account_ids:
        return set()
    rows = await db.fetch(
        f"SELECT a.id FROM accounts a WHERE a.id = ANY($2::bigint[]) AND NOT ({_SHOWN})", viewer_id, list(account_ids)
    )
    return {row["id"] for row in rows}
