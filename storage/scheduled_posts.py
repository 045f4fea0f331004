"""Scheduled posts (table `scheduled_posts`): drafts waiting for their time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.pagination import Page
from storage.db import Executor
from storage.rows import Row, columns, row_of, rows_of


@dataclass(slots=True, frozen=True)
class ScheduledRow(Row):
    id: int
    account_id: int
    scheduled_at: datetime
    draft: dict[str, Any]
    application_id: int | None


SCHEDULED_COLUMNS = columns(ScheduledRow)


async def lock_account(conn: Executor, account_id: int) -> None:
    """Serialise one account's scheduling, so its limits hold under concurrent requests."""
    await conn.execute("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", account_id)


async def counts(conn: Executor, account_id: int, day_of: datetime, *, other_than: int | None) -> tuple[int, int]:
    """How many posts the account has scheduled in all, and on the (UTC) day of `day_of`, besides `other_than`."""
    row = await conn.fetchrow(
        """
        SELECT count(*) AS total,
               count(*) FILTER (WHERE (scheduled_at AT TIME ZONE 'UTC')::date = ($2 AT TIME ZONE 'UTC')::date) AS day
        FROM scheduled_posts WHERE account_id = $1 AND id IS DISTINCT FROM $3
        """,
        account_id,
        day_of,
        other_than,
    )
    assert row is not None
    return int(row["total"]), int(row["day"])


async def insert(conn: Executor, row: ScheduledRow) -> None:
    await conn.execute(
        """
        INSERT INTO scheduled_posts (id, account_id, scheduled_at, draft, application_id)
        VALUES ($1, $2, $3, $4, $5)
        """,
        row.id,
        row.account_id,
        row.scheduled_at,
        row.draft,
        row.application_id,
    )


async def get(db: Executor, account_id: int, scheduled_id: int) -> ScheduledRow | None:
    row = await db.fetchrow(
        f"SELECT {SCHEDULED_COLUMNS} FROM scheduled_posts WHERE id = $1 AND account_id = $2", scheduled_id, account_id
    )
    return row_of(ScheduledRow, row)


async def find(db: Executor, scheduled_id: int) -> ScheduledRow | None:
    row = await db.fetchrow(f"SELECT {SCHEDULED_COLUMNS} FROM scheduled_posts WHERE id = $1", scheduled_id)
    return row_of(ScheduledRow, row)


async def page_of(db: Executor, account_id: int, page: Page) -> list[ScheduledRow]:
    where, bounds = page.where("id", 2)
    rows = await db.fetch(
        f"""
        SELECT {SCHEDULED_COLUMNS} FROM scheduled_posts WHERE account_id = $1 AND {where}
        ORDER BY id {page.order} LIMIT $4
        """,
        account_id,
        *bounds,
        page.limit,
    )
    return list(page.arrange(rows_of(ScheduledRow, rows)))


async def reschedule(conn: Executor, account_id: int, scheduled_id: int, when: datetime) -> ScheduledRow | None:
    row = await conn.fetchrow(
        f"""
        UPDATE scheduled_posts SET scheduled_at = $3 WHERE id = $1 AND account_id = $2
        RETURNING {SCHEDULED_COLUMNS}
        """,
        scheduled_id,
        account_id,
        when,
    )
    return row_of(ScheduledRow, row)


async def remove(db: Executor, account_id: int, scheduled_id: int) -> bool:
    result: str = await db.execute(
        "DELETE FROM scheduled_posts WHERE id = $1 AND account_id = $2", scheduled_id, account_id
    )
    return result.endswith(" 1")


async def take_due(conn: Executor, scheduled_id: int) -> ScheduledRow | None:
    """Delete the scheduled post if its time has come, returning it: inside the publishing transaction, so a
    second worker waits on the row and then finds nothing."""
    row = await conn.fetchrow(
        f"DELETE FROM scheduled_posts WHERE id = $1 AND scheduled_at <= now() RETURNING {SCHEDULED_COLUMNS}",
        scheduled_id,
    )
    return row_of(ScheduledRow, row)
