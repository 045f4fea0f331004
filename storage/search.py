"""SQL behind search: the rows search documents are built from, the indexing lock, and viewer lookups.

Documents are always built from the rows as they are now (never from event payloads), so indexing the
same change twice, or out of order, converges on the same documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from storage.db import Executor

# What a post document needs: the post and its author's names, in one join.
_POST_ROW = """
    p.id, p.account_id, p.visibility::text AS visibility, p.text, p.entities, p.spoiler_text, p.language,
    p.has_media, p.in_reply_to_id, p.reblog_of_id, p.replies_count, p.reposts_count, p.likes_count,
    p.quotes_count, p.created_at, a.username, a.display_name
"""

_ACCOUNT_ROW = "a.id, a.username, a.display_name, a.note, a.followers_count, a.discoverable, a.created_at"

# Hashtag suggestions rank by uses among public and unlisted posts, counted up to this many: enough
# to order tags, and a hot tag costs a bounded index scan rather than a count of millions.
TAG_USES_CAP = 10_000


async def lock_indexing(conn: asyncpg.Connection, prefix: str) -> None:
    """Serialise index writes of one index prefix until the transaction ends.

    Whoever reads rows and sends the documents built from them does both under this lock, so
    Meilisearch receives document versions in the order they were read: an older read can never
    overwrite a newer one, across worker processes and the reindex alike.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('chirp-search:' || $1))", prefix)


async def post_rows(db: Executor, post_ids: Iterable[int]) -> dict[int, asyncpg.Record]:
    ids = list(set(post_ids))
    if not ids:
        return {}
    rows = await db.fetch(
        f"SELECT {_POST_ROW} FROM posts p JOIN accounts a ON a.id = p.account_id WHERE p.id = ANY($1::bigint[])", ids
    )
    return {row["id"]: row for row in rows}


async def author_post_rows(db: Executor, account_id: int, before_id: int | None, limit: int) -> list[asyncpg.Record]:
    """An author's posts newest first, below `before_id`: a page of re-rendering after a profile change."""
    rows: list[asyncpg.Record] = await db.fetch(
        f"""
        SELECT {_POST_ROW} FROM posts p JOIN accounts a ON a.id = p.account_id
        WHERE p.account_id = $1 AND ($2::bigint IS NULL OR p.id < $2)
        ORDER BY p.id DESC LIMIT $3
        """,
        account_id,
        before_id,
        limit,
    )
    return rows


async def post_rows_after(db: Executor, after_id: int, limit: int) -> list[asyncpg.Record]:
    """All posts in id order, a page at a time (the reindex scan)."""
    rows: list[asyncpg.Record] = await db.fetch(
        f"""
        SELECT {_POST_ROW} FROM posts p JOIN accounts a ON a.id = p.account_id
        WHERE p.id > $1 ORDER BY p.id LIMIT $2
        """,
        after_id,
        limit,
    )
    return rows


async def count_posts(db: Executor) -> int:
    value: int = await db.fetchval("SELECT count(*) FROM posts")
    return value


async def account_rows(db: Executor, account_ids: Iterable[int]) -> dict[int, asyncpg.Record]:
    ids = list(set(account_ids))
    if not ids:
        return {}
    rows = await db.fetch(f"SELECT {_ACCOUNT_ROW} FROM accounts a WHERE a.id = ANY($1::bigint[])", ids)
    return {row["id"]: row for row in rows}


async def account_rows_after(db: Executor, after_id: int, limit: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch(
        f"SELECT {_ACCOUNT_ROW} FROM accounts a WHERE a.id > $1 ORDER BY a.id LIMIT $2", after_id, limit
    )
    return rows


async def count_accounts(db: Executor) -> int:
    value: int = await db.fetchval("SELECT count(*) FROM accounts")
    return value


async def tag_uses(db: Executor, tags: Iterable[str]) -> dict[str, int]:
    """Public and unlisted posts carrying each tag (capped at TAG_USES_CAP); 0 for a tag no longer used."""
    names = list(set(tags))
    if not names:
        return {}
    rows = await db.fetch(
        """
        SELECT t.tag, (
            SELECT count(*) FROM (
                SELECT 1 FROM post_tags pt JOIN posts p ON p.id = pt.post_id
                WHERE pt.tag = t.tag AND p.visibility IN ('public', 'unlisted')
                LIMIT $2
            ) AS used
        ) AS uses
        FROM unnest($1::text[]) AS t(tag)
        """,
        names,
        TAG_USES_CAP,
    )
    return {row["tag"]: row["uses"] for row in rows}


async def count_used_tags(db: Executor) -> int:
    """How many tags `tag_uses_after` will page through: those on a public or unlisted post."""
    value: int = await db.fetchval(
        """
        SELECT count(DISTINCT pt.tag) FROM post_tags pt JOIN posts p ON p.id = pt.post_id
        WHERE p.visibility IN ('public', 'unlisted')
        """
    )
    return value


async def tag_uses_after(db: Executor, after_tag: str, limit: int) -> list[asyncpg.Record]:
    """Tags in order with their uses (capped), a page at a time (the reindex scan); unused tags absent."""
    rows: list[asyncpg.Record] = await db.fetch(
        """
        SELECT pt.tag, LEAST(count(*), $3) AS uses
        FROM post_tags pt JOIN posts p ON p.id = pt.post_id
        WHERE pt.tag > $1 AND p.visibility IN ('public', 'unlisted')
        GROUP BY pt.tag ORDER BY pt.tag LIMIT $2
        """,
        after_tag,
        limit,
        TAG_USES_CAP,
    )
    return rows


async def used_tags(db: Executor, tags: Sequence[str]) -> set[str]:
    """Which of `tags` some public or unlisted post still carries (search results are checked against it)."""
    if not tags:
        return set()
    rows = await db.fetch(
        """
        SELECT t.tag FROM unnest($1::text[]) AS t(tag)
        WHERE EXISTS (
            SELECT 1 FROM post_tags pt JOIN posts p ON p.id = pt.post_id
            WHERE pt.tag = t.tag AND p.visibility IN ('public', 'unlisted')
        )
        """,
        list(tags),
    )
    return {row["tag"] for row in rows}


async def followed_ids(db: Executor, account_id: int, limit: int) -> list[int]:
    """Whom the account follows, most recent follows first, at most `limit` (the private-post filter)."""
    rows = await db.fetch(
        "SELECT target_account_id FROM follows WHERE account_id = $1 ORDER BY id DESC LIMIT $2", account_id, limit
    )
    return [row["target_account_id"] for row in rows]


async def account_ids_by_username(db: Executor, usernames: Sequence[str]) -> list[int]:
    """The ids of the accounts with these usernames (case-insensitive); unknown names are skipped."""
    if not usernames:
        return []
    rows = await db.fetch(
        "SELECT id FROM accounts WHERE lower(username) = ANY($1::text[])", [name.lower() for name in usernames]
    )
    return [row["id"] for row in rows]
