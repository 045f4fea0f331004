"""Read markers (table `markers`): one row per account and timeline, updated in place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

from storage.db import Executor

_COLUMNS = "timeline, last_read_id, version, updated_at"


async def get_markers(db: Executor, account_id: int, timelines: Sequence[str]) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch(
        f"SELECT {_COLUMNS} FROM markers WHERE account_id = $1 AND timeline = ANY($2::text[]) ORDER BY timeline",
        account_id,
        list(timelines),
    )
    return rows


# A marker set to where it already is stays as it was (its version and time too), as Rails' update! does.
_UPSERT = f"""
INSERT INTO markers AS m (account_id, timeline, last_read_id)
SELECT $1, t.timeline, t.last_read_id FROM unnest($2::text[], $3::bigint[]) AS t(timeline, last_read_id)
ON CONFLICT (account_id, timeline) DO UPDATE
    SET last_read_id = EXCLUDED.last_read_id, version = m.version + 1, updated_at = now()
    WHERE m.last_read_id <> EXCLUDED.last_read_id
RETURNING {_COLUMNS}
"""


async def set_markers(db: Executor, account_id: int, positions: Mapping[str, int]) -> None:
    """Move the account's markers to `positions` (timeline → last read id), creating them as needed."""
    names = sorted(positions)
    await db.execute(_UPSERT, account_id, names, [positions[name] for name in names])


async def last_read_id(db: Executor, account_id: int, timeline: str) -> int | None:
    value: int | None = await db.fetchval(
        "SELECT last_read_id FROM markers WHERE account_id = $1 AND timeline = $2", account_id, timeline
    )
    return value
