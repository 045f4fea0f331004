"""Announcements the operator publishes, and each user's dismissals of and reactions to them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from storage.db import Executor

_COLUMNS = "id, text, starts_at, ends_at, all_day, published_at, updated_at"


async def insert_announcement(
    db: Executor,
    announcement_id: int,
    *,
    text: str,
    starts_at: datetime | None,
    ends_at: datetime | None,
    all_day: bool,
) -> asyncpg.Record:
    row: asyncpg.Record = await db.fetchrow(
        f"""
        INSERT INTO announcements (id, text, starts_at, ends_at, all_day) VALUES ($1, $2, $3, $4, $5)
        RETURNING {_COLUMNS}
        """,
        announcement_id,
        text,
        starts_at,
        ends_at,
        all_day,
    )
    return row


async def delete_announcement(db: Executor, announcement_id: int) -> bool:
    deleted = await db.fetchval("DELETE FROM announcements WHERE id = $1 RETURNING id", announcement_id)
    return deleted is not None


async def all_announcements(db: Executor) -> list[asyncpg.Record]:
    """Every announcement, current or ended, newest first (for the operator)."""
    rows: list[asyncpg.Record] = await db.fetch(f"SELECT {_COLUMNS} FROM announcements ORDER BY id DESC")
    return rows


async def current_announcements(db: Executor, account_id: int, *, with_dismissed: bool) -> list[asyncpg.Record]:
    """Announcements published and not ended, newest first, with whether this account dismissed each."""
    rows: list[asyncpg.Record] = await db.fetch(
        f"""
        SELECT {", ".join("a." + c.strip() for c in _COLUMNS.split(","))}, d.account_id IS NOT NULL AS read
        FROM announcements a
        LEFT JOIN announcement_dismissals d ON d.announcement_id = a.id AND d.account_id = $1
        WHERE a.published_at <= now() AND (a.ends_at IS NULL OR a.ends_at > now())
          AND ($2 OR d.account_id IS NULL)
        ORDER BY a.id DESC
        """,
        account_id,
        with_dismissed,
    )
    return rows


async def is_current(db: Executor, announcement_id: int) -> bool:
    found = await db.fetchval(
        "SELECT 1 FROM announcements WHERE id = $1 AND published_at <= now() AND (ends_at IS NULL OR ends_at > now())",
        announcement_id,
    )
    return found is not None


async def dismiss(db: Executor, announcement_id: int, account_id: int) -> None:
    await db.execute(
        "INSERT INTO announcement_dismissals (announcement_id, account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        announcement_id,
        account_id,
    )


async def add_reaction(db: Executor, announcement_id: int, account_id: int, name: str) -> None:
    await db.execute(
        """
        INSERT INTO announcement_reactions (announcement_id, account_id, name) VALUES ($1, $2, $3)
        ON CONFLICT DO NOTHING
        """,
        announcement_id,
        account_id,
        name,
    )


async def remove_reaction(db: Executor, announcement_id: int, account_id: int, name: str) -> None:
    await db.execute(
        "DELETE FROM announcement_reactions WHERE announcement_id = $1 AND account_id = $2 AND name = $3",
        announcement_id,
        account_id,
        name,
    )


async def reaction_counts(
    db: Executor, announcement_ids: Sequence[int], account_id: int
) -> dict[int, list[tuple[str, int, bool]]]:
    """announcement id -> (name, count, whether this account reacted so), in the order names were first used."""
    rows = await db.fetch(
        """
        SELECT announcement_id, name, count(*) AS count, bool_or(account_id = $2) AS me
        FROM announcement_reactions
        WHERE announcement_id = ANY($1::bigint[])
        GROUP BY announcement_id, name
        ORDER BY announcement_id, min(created_at), name
        """,
        list(announcement_ids),
        account_id,
    )
    out: dict[int, list[tuple[str, int, bool]]] = {}
    for row in rows:
        out.setdefault(row["announcement_id"], []).append((row["name"], row["count"], row["me"]))
    return out
