"""Reports (table `reports`): who reported whom, about which posts, with a snapshot of them as they were."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from storage.db import Executor

COLUMNS = (
    "id, account_id, target_account_id, status_ids, comment, category, rule_ids, forward, action_taken_at, created_at"
)


async def insert_report(
    db: Executor,
    report_id: int,
    account_id: int,
    target_id: int,
    *,
    status_ids: Sequence[int],
    snapshot: Sequence[Mapping[str, Any]],
    comment: str,
    category: str,
    rule_ids: Sequence[int],
    forward: bool,
) -> asyncpg.Record:
    row: asyncpg.Record = await db.fetchrow(
        f"""
        INSERT INTO reports (id, account_id, target_account_id, status_ids, snapshot, comment, category, rule_ids,
                             forward)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        RETURNING {COLUMNS}
        """,
        report_id,
        account_id,
        target_id,
        list(status_ids),
        list(snapshot),  # jsonb: encoded by the pool's codec (storage/resources.py)
        comment,
        category,
        list(rule_ids),
        forward,
    )
    return row
