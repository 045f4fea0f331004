"""Accounts: the rows behind Mastodon's Account entity."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import asyncpg

from storage.db import Executor

ACCOUNT_COLUMNS = """
    id, username, display_name, note, bot, is_group, locked, discoverable, fields,
    followers_count, following_count, posts_count, last_post_at, created_at, suspended_at, silenced_at, role
"""
# What only the account's owner sees (CredentialAccount's `source`, preferences).
CREDENTIAL_COLUMNS = f"{ACCOUNT_COLUMNS}, email, default_privacy, default_sensitive, default_language"
# The columns `update_profile` may change: the names are code, never client input.
PROFILE_COLUMNS = frozenset(
    {
        "display_name",
        "note",
        "bot",
        "locked",
        "discoverable",
        "fields",
        "default_privacy",
        "default_sensitive",
        "default_language",
    }
)


async def get_account(db: Executor, account_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await db.fetchrow(f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1", account_id)
    return row


async def get_accounts(db: Executor, account_ids: Iterable[int]) -> dict[int, asyncpg.Record]:
    """Many accounts in one query, by id; missing ones are simply absent."""
    ids = list(set(account_ids))
    if not ids:
        return {}
    rows = await db.fetch(f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ANY($1::bigint[])", ids)
    return {row["id"]: row for row in rows}


async def find_by_username(db: Executor, username: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await db.fetchrow(
        f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE lower(username) = lower($1)", username
    )
    return row


async def find_by_usernames(db: Executor, usernames: Iterable[str]) -> dict[str, asyncpg.Record]:
    """Accounts by lower-cased username, for resolving @mentions in one query."""
    names = list({name.lower() for name in usernames})
    if not names:
        return {}
    rows = await db.fetch(f"SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE lower(username) = ANY($1::text[])", names)
    return {row["username"].lower(): row for row in rows}


async def insert_account(
    db: Executor, account_id: int, *, username: str, email: str, password_hash: str, display_name: str = ""
) -> asyncpg.Record:
    """Create an account; raises asyncpg.UniqueViolationError when the username or e-mail is taken. The first
    account of an instance is made its admin."""
    # The instance's first account is its admin (`chirp admin grant` names others).
    row: asyncpg.Record = await db.fetchrow(
        f"""
        INSERT INTO accounts (id, username, email, password_hash, display_name, role)
        VALUES ($1, $2, $3, $4, $5, CASE WHEN EXISTS (SELECT 1 FROM accounts) THEN 'user' ELSE 'admin' END)
        RETURNING {ACCOUNT_COLUMNS}
        """,
        account_id,
        username,
        email,
        password_hash,
        display_name,
    )
    return row


async def get_credential_account(db: Executor, account_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await db.fetchrow(
        f"SELECT {CREDENTIAL_COLUMNS} FROM accounts WHERE id = $1", account_id
    )
    return row


async def find_login(db: Executor, login: str) -> asyncpg.Record | None:
    """The account signing in as `login`, a username or an e-mail address (usernames cannot contain '@'),
    with whether moderation keeps it from signing in (`barred`: suspended or disabled)."""
    column = "email" if "@" in login else "username"
    row: asyncpg.Record | None = await db.fetchrow(
        f"""
        SELECT id, password_hash, (suspended_at IS NOT NULL OR disabled_at IS NOT NULL) AS barred
        FROM accounts WHERE lower({column}) = lower($1)
        """,
        login,
    )
    return row


async def note_sign_in(db: Executor, account_id: int, ip: str | None) -> None:
    """Remember the address the account last signed in from (the admin API shows and filters by it)."""
    if ip is None:
        return
    try:
        await db.execute("UPDATE accounts SET last_sign_in_ip = $2::inet WHERE id = $1", account_id, ip)
    except asyncpg.DataError:  # not an address PostgreSQL reads (a unix socket's peer): nothing to keep
        return


def listed_author(account_id: str) -> str:
    """SQL: the account `account_id` (a column or parameter) may appear on public and hashtag timelines and
    trends: neither suspended nor silenced. The one test of it (issue 22); a query using it reads the account
    row by primary key."""
    return f"""NOT EXISTS (SELECT 1 FROM accounts la WHERE la.id = {account_id}
                       AND (la.suspended_at IS NOT NULL OR la.silenced_at IS NOT NULL))"""


async def taken(db: Executor, username: str, email: str) -> tuple[bool, bool]:
    """Whether the username and the e-mail address are already in use, ignoring case."""
    row = await db.fetchrow(
        """
        SELECT EXISTS (SELECT 1 FROM accounts WHERE lower(username) = lower($1)) AS username_taken,
               EXISTS (SELECT 1 FROM accounts WHERE lower(email) = lower($2)) AS email_taken
        """,
        username,
        email,
    )
    return bool(row["username_taken"]), bool(row["email_taken"])


async def update_profile(db: Executor, account_id: int, changes: Mapping[str, Any]) -> asyncpg.Record | None:
    """Set the given profile columns (a subset of PROFILE_COLUMNS); returns the updated credential row."""
    unknown = set(changes) - PROFILE_COLUMNS
    if unknown:
        raise ValueError(f"not profile columns: {sorted(unknown)}")
    names = sorted(changes)
    assignments = ", ".join(f"{name} = ${index}" for index, name in enumerate(names, start=2))
    row: asyncpg.Record | None = await db.fetchrow(
        f"""
        UPDATE accounts SET {assignments}{", " if names else ""}updated_at = now()
        WHERE id = $1
        RETURNING {CREDENTIAL_COLUMNS}
        """,
        account_id,
        *(changes[name] for name in names),
    )
    return row


async def account_stats(db: Executor) -> asyncpg.Record:
    """Counts for the instance entity and nodeinfo: accounts, accounts that posted in the last 30 days (and
    180), posts."""
    row: asyncpg.Record = await db.fetchrow(
        """
        SELECT count(*) AS users,
               count(*) FILTER (WHERE last_post_at > now() - interval '30 days') AS active_month,
               count(*) FILTER (WHERE last_post_at > now() - interval '180 days') AS active_halfyear,
               coalesce(sum(posts_count), 0)::bigint AS posts
        FROM accounts
        """
    )
    return row


async def weekly_activity(db: Executor, bounds: Sequence[tuple[int, int]]) -> list[asyncpg.Record]:
    """For each [low, high) id range, in order: posts, accounts given a token (sign-ins) and new accounts.
    Ids begin with their creation time, so a range of ids is a range of time, read through primary keys."""
    rows: list[asyncpg.Record] = await db.fetch(
        """
        SELECT w.n,
               (SELECT count(*) FROM posts p WHERE p.id >= w.low AND p.id < w.high) AS statuses,
               (SELECT count(DISTINCT t.account_id) FROM access_tokens t
                 WHERE t.id >= w.low AND t.id < w.high AND t.account_id IS NOT NULL) AS logins,
               (SELECT count(*) FROM accounts a WHERE a.id >= w.low AND a.id < w.high) AS registrations
        FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS w(low, high, n)
        ORDER BY w.n
        """,
        [low for low, _ in bounds],
        [high for _, high in bounds],
    )
    return rows
