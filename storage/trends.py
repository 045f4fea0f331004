"""Trends: what the trends pass reads (hashtag and link uses, and interactions with posts, in one slice of
post ids at a time) and where it leaves its result (one Valkey key per kind, read whole and paged in memory).

Only what may trend is read (`_ELIGIBLE`): public, not sensitive, original posts by accounts neither silenced
nor suspended; likes and reposts by silenced or suspended accounts do not count either. Ids begin with their
time, so a slice of ids is a slice of time read through the primary key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg
import orjson

from core.ids import CHIRP_EPOCH_MS, TIME_SHIFT
from storage.db import Executor
from storage.keys import TRENDS_PREFIX, Valkey

_ELIGIBLE = """
    p.id >= $1 AND p.id < $2 AND p.visibility = 'public' AND NOT p.sensitive AND p.reblog_of_id IS NULL
    AND NOT EXISTS (SELECT 1 FROM accounts a
                    WHERE a.id = p.account_id AND (a.silenced_at IS NOT NULL OR a.suspended_at IS NOT NULL))
"""
_COUNTED = "(x.silenced_at IS NULL AND x.suspended_at IS NULL)"  # `x` is the interacting account


async def tag_uses(db: Executor, low_id: int, high_id: int) -> list[asyncpg.Record]:
    """(name, account_id, uses, last_id): each account's use of each hashtag in posts [low_id, high_id)."""
    rows: list[asyncpg.Record] = await db.fetch(
        f"""
        SELECT t.tag AS name, p.account_id, count(*) AS uses, max(p.id) AS last_id
        FROM posts p JOIN post_tags t ON t.post_id = p.id
        WHERE {_ELIGIBLE}
        GROUP BY t.tag, p.account_id
        """,
        low_id,
        high_id,
    )
    return rows


async def link_uses(db: Executor, low_id: int, high_id: int) -> list[asyncpg.Record]:
    """(name, account_id, uses, last_id) as `tag_uses`, for the URLs posts link (their `link` entities)."""
    rows: list[asyncpg.Record] = await db.fetch(
        f"""
        SELECT substr(p.text, (e->>'start')::int + 1, (e->>'end')::int - (e->>'start')::int) AS name,
               p.account_id, count(*) AS uses, max(p.id) AS last_id
        FROM posts p CROSS JOIN LATERAL jsonb_array_elements(p.entities) e
        WHERE {_ELIGIBLE} AND e->>'type' = 'link'
        GROUP BY 1, p.account_id
        """,
        low_id,
        high_id,
    )
    return rows


async def post_interactions(
    db: Executor, low_id: int, high_id: int, *, since_id: int, until_id: int, now_ms: int, half_life_ms: float
) -> list[asyncpg.Record]:
    """(post_id, score) of the eligible posts [low_id, high_id) liked or reposted in [since_id, until_id) by
    others: each interaction weighs 2^(-age / half-life) at `now_ms` (its age from its id's millisecond)."""
    rows: list[asyncpg.Record] = await db.fetch(
        f"""
        SELECT p.id AS post_id, sum(power(0.5, ($5 - ((i.id >> {TIME_SHIFT}) + {CHIRP_EPOCH_MS})) / $6)) AS score
        FROM posts p
        CROSS JOIN LATERAL (
            SELECT l.id, l.account_id FROM likes l WHERE l.post_id = p.id AND l.id >= $3 AND l.id < $4
            UNION ALL
            SELECT r.id, r.account_id FROM posts r WHERE r.reblog_of_id = p.id AND r.id >= $3 AND r.id < $4
        ) i
        JOIN accounts x ON x.id = i.account_id
        WHERE {_ELIGIBLE} AND (p.likes_count > 0 OR p.reposts_count > 0)
          AND i.account_id <> p.account_id AND {_COUNTED}
        GROUP BY p.id
        """,
        low_id,
        high_id,
        since_id,
        until_id,
        float(now_ms),
        half_life_ms,
    )
    return rows


async def followed_among(db: Executor, account_id: int, names: list[str]) -> set[str]:
    """Which of the hashtags `names` the account follows."""
    if not names:
        return set()
    rows = await db.fetch(
        "SELECT tag FROM tag_follows WHERE account_id = $1 AND tag = ANY($2::text[])", account_id, names
    )
    return {row["tag"] for row in rows}


# The result: one key per kind, read on its own.
def trends_key(kind: str) -> str:
    return f"{TRENDS_PREFIX}{kind}"


async def store_trends(valkey: Valkey, result: Mapping[str, list[dict[str, Any]]]) -> None:
    """Replace every kind's trends (one round trip; each key is whole at every moment)."""
    async with valkey.pipeline(transaction=False) as pipe:
        for kind, items in result.items():
            pipe.set(trends_key(kind), orjson.dumps(items))
        await pipe.execute()


async def read_trends(valkey: Valkey, kind: str) -> list[dict[str, Any]]:
    """A kind's trends, best first; empty until a pass has run (or after a flush, until the next one)."""
    raw = await valkey.get(trends_key(kind))
    if raw is None:
        return []
    items: list[dict[str, Any]] = orjson.loads(raw)
    return items
