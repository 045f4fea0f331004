"""Keyword filters (Mastodon's v2 Filter, with its keywords and posts): the rows, and the JSON column a
viewer's rules are read with (`storage.safety.load_rules`, kept in memory by domain/viewer_rules.py).

An expired filter (`expires_at` past) is read as gone everywhere, as an expired mute is: the rules keep
every filter with the moment it ends (`ends_at`, epoch seconds), and drop it from that moment on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from storage.db import Executor

LIVE_FILTER = "(f.expires_at IS NULL OR f.expires_at > now())"

# One filter as JSON: what domain.filters needs to match posts and to render the Filter entity.
_FILTER_JSON = """json_build_object(
    'id', f.id::text, 'title', f.title, 'context', f.context, 'action', f.action, 'expires_at', f.expires_at,
    'ends_at', extract(epoch FROM f.expires_at),
    'keywords', (SELECT coalesce(json_agg(json_build_object(
                     'id', k.id::text, 'keyword', k.keyword, 'whole_word', k.whole_word) ORDER BY k.id), '[]')
                 FROM filter_keywords k WHERE k.filter_id = f.id),
    'statuses', (SELECT coalesce(json_agg(json_build_object(
                     'id', s.id::text, 'status_id', s.post_id::text) ORDER BY s.id), '[]')
                 FROM filter_statuses s WHERE s.filter_id = f.id))"""


def filters_column(viewer: str) -> str:
    """SQL select-list item: all the viewer's filters, expired ones too, as a JSON array (`filters`), oldest
    first (each says when it ends: a viewer's rules are kept in memory beyond that moment)."""
    return f"""(SELECT coalesce(json_agg({_FILTER_JSON} ORDER BY f.id), '[]')
        FROM filters f WHERE f.account_id = {viewer}) AS filters"""


async def filters_json(db: Executor, account_id: int, filter_id: int | None = None) -> str:
    """The account's live filters (or the one asked for, live or not) as a JSON array."""
    value: str = await db.fetchval(
        f"""
        SELECT coalesce(json_agg({_FILTER_JSON} ORDER BY f.id), '[]') FROM filters f
        WHERE f.account_id = $1 AND ($2::bigint IS NULL OR f.id = $2) AND ($2::bigint IS NOT NULL OR {LIVE_FILTER})
        """,
        account_id,
        filter_id,
    )
    return value


async def insert_filter(
    conn: Executor,
    filter_id: int,
    account_id: int,
    *,
    title: str,
    context: Sequence[str],
    action: str,
    expires_at: datetime | None,
) -> None:
    await conn.execute(
        "INSERT INTO filters (id, account_id, title, context, action, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        filter_id,
        account_id,
        title,
        list(context),
        action,
        expires_at,
    )


async def update_filter(
    conn: Executor,
    filter_id: int,
    account_id: int,
    *,
    title: str | None,
    context: Sequence[str] | None,
    action: str | None,
    expires_at: datetime | None,
    change_expiry: bool,
) -> bool:
    result: str = await conn.execute(
        """
        UPDATE filters SET title = coalesce($3, title), context = coalesce($4, context), action = coalesce($5, action),
            expires_at = CASE WHEN $7 THEN $6 ELSE expires_at END
        WHERE id = $1 AND account_id = $2
        """,
        filter_id,
        account_id,
        title,
        list(context) if context is not None else None,
        action,
        expires_at,
        change_expiry,
    )
    return result != "UPDATE 0"


async def delete_filter(db: Executor, filter_id: int, account_id: int) -> bool:
    result: str = await db.execute("DELETE FROM filters WHERE id = $1 AND account_id = $2", filter_id, account_id)
    return result != "DELETE 0"


async def owns_filter(db: Executor, filter_id: int, account_id: int) -> bool:
    found = await db.fetchval("SELECT 1 FROM filters WHERE id = $1 AND account_id = $2", filter_id, account_id)
    return found is not None


async def insert_keyword(conn: Executor, keyword_id: int, filter_id: int, keyword: str, whole_word: bool) -> None:
    await conn.execute(
        "INSERT INTO filter_keywords (id, filter_id, keyword, whole_word) VALUES ($1, $2, $3, $4)",
        keyword_id,
        filter_id,
        keyword,
        whole_word,
    )


async def update_keyword(
    conn: Executor, keyword_id: int, account_id: int, keyword: str | None, whole_word: bool | None
) -> bool:
    result: str = await conn.execute(
        """
        UPDATE filter_keywords k SET keyword = coalesce($3, k.keyword), whole_word = coalesce($4, k.whole_word)
        FROM filters f WHERE k.id = $1 AND f.id = k.filter_id AND f.account_id = $2
        """,
        keyword_id,
        account_id,
        keyword,
        whole_word,
    )
    return result != "UPDATE 0"


async def keyword_of(db: Executor, keyword_id: int, account_id: int) -> asyncpg.Record | None:
    """(id, filter_id, keyword, whole_word) of one of the account's filter keywords; None: none, or another's."""
    row: asyncpg.Record | None = await db.fetchrow(
        "SELECT k.id, k.filter_id, k.keyword, k.whole_word FROM filter_keywords k JOIN filters f ON f.id = k.filter_id "
        "WHERE k.id = $1 AND f.account_id = $2",
        keyword_id,
        account_id,
    )
    return row


async def status_of(db: Executor, status_filter_id: int, account_id: int) -> asyncpg.Record | None:
    """(id, post_id) of one of the account's filtered posts; None: none, or another's."""
    row: asyncpg.Record | None = await db.fetchrow(
        "SELECT s.id, s.post_id FROM filter_statuses s JOIN filters f ON f.id = s.filter_id "
        "WHERE s.id = $1 AND f.account_id = $2",
        status_filter_id,
        account_id,
    )
    return row


async def delete_keyword(conn: Executor, keyword_id: int, account_id: int) -> bool:
    result: str = await conn.execute(
        "DELETE FROM filter_keywords k USING filters f WHERE k.id = $1 AND f.id = k.filter_id AND f.account_id = $2",
        keyword_id,
        account_id,
    )
    return result != "DELETE 0"


async def keyword_filter_id(db: Executor, keyword_id: int, account_id: int) -> int | None:
    """The filter of one of the account's keywords; None: none, or another's."""
    row = await keyword_of(db, keyword_id, account_id)
    return None if row is None else int(row["filter_id"])


async def insert_status(conn: Executor, status_filter_id: int, filter_id: int, post_id: int) -> None:
    await conn.execute(
        "INSERT INTO filter_statuses (id, filter_id, post_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        status_filter_id,
        filter_id,
        post_id,
    )


async def delete_status(db: Executor, status_filter_id: int, account_id: int) -> bool:
    result: str = await db.execute(
        "DELETE FROM filter_statuses s USING filters f WHERE s.id = $1 AND f.id = s.filter_id AND f.account_id = $2",
        status_filter_id,
        account_id,
    )
    return result != "DELETE 0"
