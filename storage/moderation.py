"""Moderation (issue 22): roles, the moderation state of accounts, warnings, and reports as moderators
handle them. The tables are migrations/0030_safety.sql's (`accounts.role`, `suspended_at`, `silenced_at`,
`disabled_at`, `sensitized_at`; `reports`; `account_warnings`) and 0060's (warning notifications)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import asyncpg

from core.pagination import Page
from storage.db import Executor

ROLES: Final = ("user", "moderator", "admin")
# Each moderation state is one timestamp column, set while the state holds. The names are code, never input.
STATE_COLUMNS: Final = {
    "suspend": "suspended_at",
    "silence": "silenced_at",
    "disable": "disabled_at",
    "sensitive": "sensitized_at",
}
ADMIN_ACCOUNT_COLUMNS: Final = """
    a.id, a.username, a.email, a.created_at, a.default_language, host(a.last_sign_in_ip) AS ip, a.role,
    a.suspended_at, a.silenced_at, a.disabled_at, a.sensitized_at
"""
REPORT_COLUMNS: Final = """
    r.id, r.account_id, r.target_account_id, r.status_ids, r.snapshot, r.comment, r.category,
    r.rule_ids, r.forward, r.assigned_account_id, r.action_taken_by_id, r.action_taken_at, r.created_at,
    r.updated_at
"""


# roles ---------------------------------------------------------------------------------------------------


async def set_role(db: Executor, username: str, role: str) -> int | None:
    """Give the account `username` the role; its id, or None when there is no such account."""
    if role not in ROLES:
        raise ValueError(f"not a role: {role}")
    account_id: int | None = await db.fetchval(
        "UPDATE accounts SET role = $2, updated_at = now() WHERE lower(username) = lower($1) RETURNING id",
        username,
        role,
    )
    return account_id


async def role_of(db: Executor, account_id: int) -> str | None:
    role: str | None = await db.fetchval("SELECT role FROM accounts WHERE id = $1", account_id)
    return role


# moderation state ----------------------------------------------------------------------------------------


async def set_state(conn: Executor, account_id: int, state: str, *, on: bool) -> bool:
    """Enter (`on`) or leave a moderation state (a key of STATE_COLUMNS); whether the account exists. Entering
    a state it is already in keeps its first moment."""
    column = STATE_COLUMNS[state]
    value = f"coalesce({column}, now())" if on else "NULL"
    found = await conn.fetchval(
        f"UPDATE accounts SET {column} = {value}, updated_at = now() WHERE id = $1 RETURNING id", account_id
    )
    return found is not None


async def insert_warning(
    conn: Executor,
    warning_id: int,
    *,
    moderator_id: int,
    target_id: int,
    action: str,
    text: str,
    report_id: int | None,
) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        """
        INSERT INTO account_warnings (id, account_id, target_account_id, action, text, report_id)
        VALUES ($1, $2, $3, $4, $5, $6)
        RETURNING id, account_id, target_account_id, action, text, report_id, created_at
        """,
        warning_id,
        moderator_id,
        target_id,
        action,
        text,
        report_id,
    )
    return row


async def insert_warning_notification(conn: Executor, notification_id: int, *, warning_id: int, target_id: int) -> None:
    """The warned account's `moderation_warning` notification (no post). As in Mastodon it comes from the
    account itself: who moderated is not told."""
    await conn.execute(
        """
        INSERT INTO notifications (id, account_id, from_account_id, type, warning_id)
        VALUES ($1, $2, $2, 'moderation_warning', $3)
        ON CONFLICT DO NOTHING
        """,
        notification_id,
        target_id,
        warning_id,
    )


async def warnings_of_notifications(db: Executor, notification_ids: Sequence[int]) -> dict[int, asyncpg.Record]:
    """The warnings shown by these notifications, by notification id."""
    if not notification_ids:
        return {}
    rows = await db.fetch(
        """
        SELECT n.id AS notification_id, w.id, w.target_account_id, w.action, w.text, w.report_id, w.created_at,
               coalesce((SELECT r.status_ids FROM reports r WHERE r.id = w.report_id), '{}') AS status_ids
        FROM notifications n JOIN account_warnings w ON w.id = n.warning_id
        WHERE n.id = ANY($1::bigint[])
        """,
        list(notification_ids),
    )
    return {row["notification_id"]: row for row in rows}


async def posts_of_suspended(db: Executor, post_ids: Sequence[int]) -> set[int]:
    """Which of the posts are by a suspended account, or repost a post by one."""
    if not post_ids:
        return set()
    rows = await db.fetch(
        """
        SELECT p.id FROM posts p
        LEFT JOIN posts o ON o.id = p.reblog_of_id
        JOIN accounts a ON a.id = p.account_id
        LEFT JOIN accounts oa ON oa.id = o.account_id
        WHERE p.id = ANY($1::bigint[]) AND (a.suspended_at IS NOT NULL OR oa.suspended_at IS NOT NULL)
        """,
        list(post_ids),
    )
    return {row["id"] for row in rows}


# accounts as moderators see them --------------------------------------------------------------------------


async def admin_accounts(db: Executor, account_ids: Iterable[int]) -> dict[int, asyncpg.Record]:
    ids = list(set(account_ids))
    if not ids:
        return {}
    rows = await db.fetch(f"SELECT {ADMIN_ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = ANY($1::bigint[])", ids)
    return {row["id"]: row for row in rows}


@dataclass(frozen=True)
class AccountQuery:
    """The admin account listing's filters (Mastodon's /api/v2/admin/accounts); None is "any"."""

    status: str | None = None  # active, pending, disabled, silenced, suspended
    username: str | None = None  # contains, ignoring case
    display_name: str | None = None  # contains, ignoring case
    email: str | None = None  # contains, ignoring case
    ip: str | None = None  # the address last signed in from, or within it (a CIDR)
    staff: bool = False
    remote: bool = False  # every account is local


# The status filter's SQL: what each listed state means (Mastodon's: active = not suspended; pending = not
# yet approved, which no Chirp account is).
_STATUS_SQL: Final = {
    None: "true",
    "active": "a.suspended_at IS NULL",
    "pending": "false",
    "disabled": "a.disabled_at IS NOT NULL",
    "silenced": "a.silenced_at IS NOT NULL",
    "suspended": "a.suspended_at IS NOT NULL",
}


def _contains(text: str) -> str:
    """A LIKE pattern for `text` anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def account_page(db: Executor, query: AccountQuery, page: Page) -> list[asyncpg.Record]:
    """One page of accounts matching the query, newest first (by id)."""
    if query.remote:
        return []
    where, bounds = page.where("a.id", 1)
    rows = await db.fetch(
        f"""
        SELECT {ADMIN_ACCOUNT_COLUMNS} FROM accounts a
        WHERE {where} AND {_STATUS_SQL[query.status]}
          AND ($3::text IS NULL OR a.username ILIKE $3)
          AND ($4::text IS NULL OR a.display_name ILIKE $4)
          AND ($5::text IS NULL OR a.email ILIKE $5)
          AND ($6::inet IS NULL OR a.last_sign_in_ip <<= $6::inet)
          AND (NOT $7 OR a.role <> 'user')
        ORDER BY a.id {page.order}
        LIMIT $8
        """,
        *bounds,
        _contains(query.username) if query.username else None,
        _contains(query.display_name) if query.display_name else None,
        _contains(query.email) if query.email else None,
        query.ip,
        query.staff,
        page.limit,
    )
    return page.arrange(rows)


async def account_exists(db: Executor, account_id: int) -> bool:
    return await db.fetchval("SELECT 1 FROM accounts WHERE id = $1", account_id) is not None


# reports -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportQuery:
    resolved: bool | None = False  # None: both
    account_id: int | None = None  # filed by
    target_account_id: int | None = None  # about


async def report_page(db: Executor, query: ReportQuery, page: Page) -> list[asyncpg.Record]:
    """One page of reports, newest first."""
    where, bounds = page.where("r.id", 1)
    rows = await db.fetch(
        f"""
        SELECT {REPORT_COLUMNS} FROM reports r
        WHERE {where}
          AND ($3::boolean IS NULL OR (r.action_taken_at IS NOT NULL) = $3)
          AND ($4::bigint IS NULL OR r.account_id = $4)
          AND ($5::bigint IS NULL OR r.target_account_id = $5)
        ORDER BY r.id {page.order}
        LIMIT $6
        """,
        *bounds,
        query.resolved,
        query.account_id,
        query.target_account_id,
        page.limit,
    )
    return page.arrange(rows)


async def get_report(db: Executor, report_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await db.fetchrow(f"SELECT {REPORT_COLUMNS} FROM reports r WHERE r.id = $1", report_id)
    return row


async def assign_report(db: Executor, report_id: int, moderator_id: int | None) -> asyncpg.Record | None:
    """Assign the report to the moderator (None: to nobody); the report, or None when there is none."""
    row: asyncpg.Record | None = await db.fetchrow(
        f"""
        UPDATE reports r SET assigned_account_id = $2, updated_at = now() WHERE r.id = $1
        RETURNING {REPORT_COLUMNS}
        """,
        report_id,
        moderator_id,
    )
    return row


async def resolve_report(conn: Executor, report_id: int, moderator_id: int) -> asyncpg.Record | None:
    """Mark the report resolved by the moderator (once: resolving again keeps the first resolution)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        f"""
        UPDATE reports r SET action_taken_at = coalesce(r.action_taken_at, now()),
                             action_taken_by_id = CASE WHEN r.action_taken_at IS NULL THEN $2
                                                       ELSE r.action_taken_by_id END,
                             updated_at = now()
        WHERE r.id = $1
        RETURNING {REPORT_COLUMNS}
        """,
        report_id,
        moderator_id,
    )
    return row


async def resolve_reports_about(conn: Executor, target_id: int, moderator_id: int) -> None:
    """Resolve every open report about the account (an action on it answers them all, as in Mastodon)."""
    await conn.execute(
        """
        UPDATE reports SET action_taken_at = now(), action_taken_by_id = $2, updated_at = now()
        WHERE target_account_id = $1 AND action_taken_at IS NULL
        """,
        target_id,
        moderator_id,
    )


async def reopen_report(db: Executor, report_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await db.fetchrow(
        f"""
        UPDATE reports r SET action_taken_at = NULL, action_taken_by_id = NULL, updated_at = now() WHERE r.id = $1
        RETURNING {REPORT_COLUMNS}
        """,
        report_id,
    )
    return row
