"""Follow requests (table `follow_requests`): who waits for a locked account to let them follow it."""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from core.pagination import Page
from storage.db import Executor


async def insert_request(
    conn: Executor, request_id: int, account_id: int, target_id: int, *, show_reposts: bool, notify: bool
) -> bool:
    """True when the request is new (asking again changes nothing but the options given)."""
    inserted = await conn.fetchval(
        """
        INSERT INTO follow_requests (id, account_id, target_account_id, show_reposts, notify)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (account_id, target_account_id) DO NOTHING
        RETURNING id
        """,
        request_id,
        account_id,
        target_id,
        show_reposts,
        notify,
    )
    return inserted is not None


async def update_request_options(
    conn: Executor, account_id: int, target_id: int, *, show_reposts: bool | None, notify: bool | None
) -> None:
    await conn.execute(
        """
        UPDATE follow_requests SET show_reposts = coalesce($3, show_reposts), notify = coalesce($4, notify)
        WHERE account_id = $1 AND target_account_id = $2
        """,
        account_id,
        target_id,
        show_reposts,
        notify,
    )


async def delete_request(conn: Executor, account_id: int, target_id: int) -> asyncpg.Record | None:
    """Remove the request of `account_id` to follow `target_id`; the row (with its options), or None."""
    row: asyncpg.Record | None = await conn.fetchrow(
        """
        DELETE FROM follow_requests WHERE account_id = $1 AND target_account_id = $2
        RETURNING id, show_reposts, notify
        """,
        account_id,
        target_id,
    )
    return row


async def requested_among(db: Executor, account_id: int, target_ids: Iterable[int]) -> set[int]:
    """Which of `target_ids` `account_id` has asked to follow (still waiting)."""
    rows = await db.fetch(
        "SELECT target_account_id FROM follow_requests WHERE account_id = $1 AND target_account_id = ANY($2::bigint[])",
        account_id,
        list(set(target_ids)),
    )
    return {row["target_account_id"] for row in rows}


async def requesters_among(db: Executor, account_id: int, requester_ids: Iterable[int]) -> set[int]:
    """Which of `requester_ids` wait for `account_id` to let them follow it."""
    rows = await db.fetch(
        "SELECT account_id FROM follow_requests WHERE target_account_id = $1 AND account_id = ANY($2::bigint[])",
        account_id,
        list(set(requester_ids)),
    )
    return {row["account_id"] for row in rows}


async def request_page(db: Executor, account_id: int, page: Page) -> list[asyncpg.Record]:
    """(id, account_id) of the requests waiting for `account_id`, one page, newest first."""
    where, bounds = page.where("r.id", 2)
    rows = await db.fetch(
        f"""
        SELECT r.id, r.account_id FROM follow_requests r
        WHERE r.target_account_id = $1 AND {where}
        ORDER BY r.id {page.order}
        LIMIT $4
        """,
        account_id,
        *bounds,
        page.limit,
    )
    return page.arrange(rows)


async def pending_count(db: Executor, account_id: int) -> int:
    count: int = await db.fetchval("SELECT count(*) FROM follow_requests WHERE target_account_id = $1", account_id)
    return count
