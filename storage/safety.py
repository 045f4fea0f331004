"""Blocks, mutes (accounts and conversations) and account notes: the rows behind what a viewer chose not to
see, and the one query the visibility rule (`domain.visibility.Shield`) reads them with.

A mute with `expires_at` in the past counts as gone everywhere it is read (`_LIVE_MUTE`), so it ends by
itself without a job; `purge_expired_mutes` only tidies the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from core.pagination import Page
from storage.db import Executor
from storage.filters import LIVE_FILTER, filters_column

_LIVE_MUTE = "(m.expires_at IS NULL OR m.expires_at > now())"


@dataclass(frozen=True)
class Relations:
    """The viewer's safety relations to some accounts: blocked either way, muted, muted with notifications,
    and which of them are suspended (nobody sees a suspended account's posts)."""

    blocked: frozenset[int]
    muted: frozenset[int]
    muted_notifications: frozenset[int]
    suspended: frozenset[int]
    filters: str = "[]"  # the viewer's live keyword filters, as JSON (storage/filters.py)


NO_RELATIONS = Relations(frozenset(), frozenset(), frozenset(), frozenset())


def relations_columns(viewer: str, accounts: str) -> str:
    """SQL select-list items: the viewer's relations to the accounts (a bigint[] parameter). Index probes."""
    return f"""
    ARRAY(SELECT b.target_account_id FROM blocks b
          WHERE b.account_id = {viewer} AND b.target_account_id = ANY({accounts})
          UNION
          SELECT b.account_id FROM blocks b
          WHERE b.target_account_id = {viewer} AND b.account_id = ANY({accounts})) AS blocked,
    ARRAY(SELECT m.target_account_id FROM mutes m
          WHERE m.account_id = {viewer} AND m.target_account_id = ANY({accounts}) AND {_LIVE_MUTE}) AS muted,
    ARRAY(SELECT m.target_account_id FROM mutes m
          WHERE m.account_id = {viewer} AND m.target_account_id = ANY({accounts}) AND m.notifications
            AND {_LIVE_MUTE}) AS muted_notifications,
    ARRAY(SELECT a.id FROM accounts a WHERE a.id = ANY({accounts}) AND a.suspended_at IS NOT NULL) AS suspended,
    {filters_column(viewer)}
    """


RELATIONS_SQL = f"SELECT {relations_columns('$1::bigint', '$2::bigint[]')}"


def relations_of(row: asyncpg.Record | None) -> Relations:
    if row is None:
        return NO_RELATIONS
    return Relations(
        frozenset(row["blocked"]),
        frozenset(row["muted"]),
        frozenset(row["muted_notifications"]),
        frozenset(row["suspended"]),
        row["filters"],
    )


async def relations_among(db: Executor, viewer_id: int | None, account_ids: Iterable[int]) -> Relations:
    """The viewer's relations to `account_ids` in one round trip."""
    ids = list(set(account_ids))
    if not ids:
        return NO_RELATIONS
    rows = await db.fetch(RELATIONS_SQL, viewer_id, ids)  # one row
    return relations_of(rows[0] if rows else None)


async def relations_of_viewers(
    db: Executor, viewer_ids: Sequence[int], account_ids: Iterable[int], thread_root_ids: Iterable[int]
) -> dict[int, tuple[Relations, bool]]:
    """Each viewer's relations to `account_ids`, and whether it muted one of the conversations, in one
    statement for them all (a live event's shielded viewers)."""
    if not viewer_ids:
        return {}
    rows = await db.fetch(
        f"""
        SELECT v.id AS viewer, {relations_columns("v.id", "$2::bigint[]")},
            EXISTS (SELECT 1 FROM conversation_mutes cm
                    WHERE cm.account_id = v.id AND cm.thread_root_id = ANY($3::bigint[])) AS conversation_muted
        FROM unnest($1::bigint[]) AS v(id)
        """,
        list(viewer_ids),
        list(set(account_ids)),
        list(set(thread_root_ids)),
    )
    return {row["viewer"]: (relations_of(row), bool(row["conversation_muted"])) for row in rows}


async def shielded_viewers(
    db: Executor, viewer_ids: Sequence[int], author_ids: Iterable[int], thread_root_ids: Iterable[int] = ()
) -> set[int]:
    """Which of many viewers have any block (either way) or live mute with any of `author_ids`, any live
    keyword filter, or a mute of one of the conversations `thread_root_ids` (their Status says `muted`):
    the viewers a live event must be rendered for one by one. One statement for them all."""
    if not viewer_ids:
        return set()
    rows = await db.fetch(
        f"""
        SELECT account_id FROM blocks WHERE account_id = ANY($1::bigint[]) AND target_account_id = ANY($2::bigint[])
        UNION
        SELECT target_account_id FROM blocks
            WHERE target_account_id = ANY($1::bigint[]) AND account_id = ANY($2::bigint[])
        UNION
        SELECT m.account_id FROM mutes m
            WHERE m.account_id = ANY($1::bigint[]) AND m.target_account_id = ANY($2::bigint[]) AND {_LIVE_MUTE}
        UNION
        SELECT f.account_id FROM filters f WHERE f.account_id = ANY($1::bigint[]) AND {LIVE_FILTER}
        UNION
        SELECT cm.account_id FROM conversation_mutes cm
            WHERE cm.account_id = ANY($1::bigint[]) AND cm.thread_root_id = ANY($3::bigint[])
        """,
        list(viewer_ids),
        list(set(author_ids)),
        list(set(thread_root_ids)),
    )
    return {row[0] for row in rows}


# blocks ------------------------------------------------------------------------------------------------


async def insert_block(conn: Executor, block_id: int, account_id: int, target_id: int) -> bool:
    inserted = await conn.fetchval(
        """
        INSERT INTO blocks (id, account_id, target_account_id) VALUES ($1, $2, $3)
        ON CONFLICT DO NOTHING RETURNING id
        """,
        block_id,
        account_id,
        target_id,
    )
    return inserted is not None


async def delete_block(conn: Executor, account_id: int, target_id: int) -> bool:
    result: str = await conn.execute(
        "DELETE FROM blocks WHERE account_id = $1 AND target_account_id = $2", account_id, target_id
    )
    return result != "DELETE 0"


async def blocked_either_way(db: Executor, account_id: int, other_id: int) -> bool:
    found = await db.fetchval(
        """
        SELECT 1 FROM blocks
        WHERE (account_id = $1 AND target_account_id = $2) OR (account_id = $2 AND target_account_id = $1)
        """,
        account_id,
        other_id,
    )
    return found is not None


async def block_page(db: Executor, account_id: int, page: Page) -> list[asyncpg.Record]:
    """The accounts `account_id` blocks, newest block first (rows of `id`, `target_account_id`)."""
    where, bounds = page.where("b.id", 2)
    rows = await db.fetch(
        f"""
        SELECT b.id, b.target_account_id FROM blocks b
        WHERE b.account_id = $1 AND {where}
        ORDER BY b.id {page.order} LIMIT $4
        """,
        account_id,
        *bounds,
        page.limit,
    )
    return page.arrange(rows)


# mutes -------------------------------------------------------------------------------------------------


async def upsert_mute(
    conn: Executor, mute_id: int, account_id: int, target_id: int, *, notifications: bool, expires_at: datetime | None
) -> None:
    """Mute, or change an existing mute's options (muting again, as Mastodon allows)."""
    await conn.execute(
        """
        INSERT INTO mutes (id, account_id, target_account_id, notifications, expires_at) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (account_id, target_account_id)
        DO UPDATE SET notifications = EXCLUDED.notifications, expires_at = EXCLUDED.expires_at
        """,
        mute_id,
        account_id,
        target_id,
        notifications,
        expires_at,
    )


async def delete_mute(conn: Executor, account_id: int, target_id: int) -> bool:
    result: str = await conn.execute(
        "DELETE FROM mutes WHERE account_id = $1 AND target_account_id = $2", account_id, target_id
    )
    return result != "DELETE 0"


async def mute_page(db: Executor, account_id: int, page: Page) -> list[asyncpg.Record]:
    """The accounts `account_id` mutes (live mutes only), newest first: `id`, `target_account_id`, `expires_at`."""
    where, bounds = page.where("m.id", 2)
    rows = await db.fetch(
        f"""
        SELECT m.id, m.target_account_id, m.expires_at FROM mutes m
        WHERE m.account_id = $1 AND {where} AND {_LIVE_MUTE}
        ORDER BY m.id {page.order} LIMIT $4
        """,
        account_id,
        *bounds,
        page.limit,
    )
    return page.arrange(rows)


async def purge_expired_mutes(db: Executor) -> int:
    result: str = await db.execute("DELETE FROM mutes WHERE expires_at <= now()")
    return int(result.split()[-1])


# conversations -----------------------------------------------------------------------------------------


async def mute_conversation(db: Executor, account_id: int, thread_root_id: int) -> None:
    await db.execute(
        "INSERT INTO conversation_mutes (account_id, thread_root_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        account_id,
        thread_root_id,
    )


async def unmute_conversation(db: Executor, account_id: int, thread_root_id: int) -> None:
    await db.execute(
        "DELETE FROM conversation_mutes WHERE account_id = $1 AND thread_root_id = $2", account_id, thread_root_id
    )


async def muted_conversations(db: Executor, account_id: int, thread_root_ids: Iterable[int]) -> set[int]:
    ids = list(set(thread_root_ids))
    if not ids:
        return set()
    rows = await db.fetch(
        "SELECT thread_root_id FROM conversation_mutes WHERE account_id = $1 AND thread_root_id = ANY($2::bigint[])",
        account_id,
        ids,
    )
    return {row[0] for row in rows}


MUTED_POSTS_SQL = """
    ARRAY(SELECT p.id FROM conversation_mutes cm JOIN posts p ON p.thread_root_id = cm.thread_root_id
          WHERE cm.account_id = {viewer} AND p.id = ANY({posts}))"""


def muted_posts_column(viewer: str, posts: str) -> str:
    """SQL select-list item: which of the posts (a bigint[]) are in a conversation the viewer muted
    (Status `muted`). Starts from the viewer's conversation mutes, so a viewer with none costs one probe."""
    return MUTED_POSTS_SQL.format(viewer=viewer, posts=posts)


async def posts_in_muted_conversations(db: Executor, account_id: int, post_ids: Iterable[int]) -> set[int]:
    ids = list(set(post_ids))
    if not ids:
        return set()
    found = await db.fetchval(f"SELECT {muted_posts_column('$1::bigint', '$2::bigint[]')}", account_id, ids)
    return set(found or ())


# notes -------------------------------------------------------------------------------------------------


async def set_note(db: Executor, account_id: int, target_id: int, comment: str) -> None:
    if not comment:
        await db.execute(
            "DELETE FROM account_notes WHERE account_id = $1 AND target_account_id = $2", account_id, target_id
        )
        return
    await db.execute(
        """
        INSERT INTO account_notes (account_id, target_account_id, comment) VALUES ($1, $2, $3)
        ON CONFLICT (account_id, target_account_id) DO UPDATE SET comment = EXCLUDED.comment, updated_at = now()
        """,
        account_id,
        target_id,
        comment,
    )


@dataclass(frozen=True)
class RelationshipMarks:
    """What a Relationship says about blocks, mutes and notes, for many targets at once."""

    blocking: set[int]
    blocked_by: set[int]
    muting: set[int]
    muting_notifications: set[int]
    notes: dict[int, str]


async def relationship_marks(db: Executor, account_id: int, target_ids: Sequence[int]) -> RelationshipMarks:
    row = await db.fetchrow(
        f"""
        SELECT
            ARRAY(SELECT target_account_id FROM blocks WHERE account_id = $1 AND target_account_id = ANY($2::bigint[]))
                AS blocking,
            ARRAY(SELECT account_id FROM blocks WHERE target_account_id = $1 AND account_id = ANY($2::bigint[]))
                AS blocked_by,
            ARRAY(SELECT m.target_account_id FROM mutes m
                  WHERE m.account_id = $1 AND m.target_account_id = ANY($2::bigint[]) AND {_LIVE_MUTE}) AS muting,
            ARRAY(SELECT m.target_account_id FROM mutes m
                  WHERE m.account_id = $1 AND m.target_account_id = ANY($2::bigint[]) AND m.notifications
                    AND {_LIVE_MUTE}) AS muting_notifications,
            ARRAY(SELECT comment FROM account_notes
                  WHERE account_id = $1 AND target_account_id = ANY($2::bigint[])
                  ORDER BY target_account_id) AS note_texts,
            ARRAY(SELECT target_account_id FROM account_notes
                  WHERE account_id = $1 AND target_account_id = ANY($2::bigint[])
                  ORDER BY target_account_id) AS note_ordered
        """,
        account_id,
        list(target_ids),
    )
    assert row is not None
    return RelationshipMarks(
        set(row["blocking"]),
        set(row["blocked_by"]),
        set(row["muting"]),
        set(row["muting_notifications"]),
        dict(zip(row["note_ordered"], row["note_texts"], strict=True)),
    )


def notification_allowed(recipient: str, actor: str, post: str) -> str:
    """SQL: a notification for `recipient` caused by `actor` (about post `post`, NULL for a follow) may be
    written: no block either way, no mute of the actor's notifications, no muted conversation."""
    return f"""(
        NOT EXISTS (SELECT 1 FROM blocks b
                    WHERE (b.account_id = {recipient} AND b.target_account_id = {actor})
                       OR (b.account_id = {actor} AND b.target_account_id = {recipient}))
        AND NOT EXISTS (SELECT 1 FROM mutes m
                        WHERE m.account_id = {recipient} AND m.target_account_id = {actor} AND m.notifications
                          AND {_LIVE_MUTE})
        AND NOT EXISTS (SELECT 1 FROM conversation_mutes cm JOIN posts cp ON cp.thread_root_id = cm.thread_root_id
                        WHERE cm.account_id = {recipient} AND cp.id = {post})
    )"""


async def has_passing_rules(db: Executor, account_id: int) -> bool:
    """Whether the account has a rule that ends by itself (a timed mute, a filter): posts it hides now are
    kept in the cached home timeline, to show again when it ends."""
    found = await db.fetchval(
        """
        SELECT EXISTS (SELECT 1 FROM mutes WHERE account_id = $1 AND expires_at IS NOT NULL)
            OR EXISTS (SELECT 1 FROM filters WHERE account_id = $1)
        """,
        account_id,
    )
    return bool(found)
