"""Endorsed accounts: the accounts one features on one's profile (Mastodon's `/endorse`)."""

from __future__ import annotations

import asyncpg

from core.pagination import Page
from storage.db import Executor


async def insert_endorsement(conn: Executor, endorsement_id: int, account_id: int, target_id: int) -> bool:
    inserted = await conn.fetchval(
        """
        INSERT INTO endorsements (id, account_id, target_account_id) VALUES ($1, $2, $3)
        ON CONFLICT (account_id, target_account_id) DO NOTHING RETURNING id
        """,
        endorsement_id,
        account_id,
        target_id,
    )
    return inserted is not None


async def delete_endorsement(conn: Executor, account_id: int, target_id: int) -> bool:
    removed = await conn.fetchval(
        "DELETE FROM endorsements WHERE account_id = $1 AND target_account_id = $2 RETURNING id", account_id, target_id
    )
    return removed is not None


async def endorsed_among(db: Executor, account_id: int, target_ids: list[int]) -> set[int]:
    rows = await db.fetch(
        "SELECT target_account_id FROM endorsements WHERE account_id = $1 AND target_account_id = ANY($2::bigint[])",
        account_id,
        target_ids,
    )
    return {row["target_account_id"] for row in rows}


async def endorsements_of(db: Executor, account_id: int, page: Page) -> list[asyncpg.Record]:
    """(id, target_account_id) of an account's endorsements, one page, newest first."""
    where, bounds = page.where("e.id", 2)
    rows = await db.fetch(
        f"""
        SELECT e.id, e.target_account_id FROM endorsements e
        WHERE e.account_id = $1 AND {where}
        ORDER BY e.id {page.order}
        LIMIT $4
        """,
        account_id,
        *bounds,
        page.limit,
    )
    return page.arrange(rows)
