"""Notifications (table `notifications`): written from durable events, read newest first per account."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from core.pagination import Page
from storage.db import Executor
from storage.posts import visible_to

COLUMNS = "n.id, n.account_id, n.from_account_id, n.type, n.post_id, n.reaction, n.created_at"


@dataclass(frozen=True)
class NewNotification:
    id: int
    account_id: int  # who is notified
    from_account_id: int  # who acted
    type: str
    post_id: int | None = None
    reaction: str = ""


# A notification is written only while its cause still holds and its post is one the recipient may see:
# a like undone (or a post deleted) before the job ran leaves nothing behind. The cause row is locked
# (FOR KEY SHARE) until this statement commits, so an undo racing with it waits and its own job then
# removes the notification.
_INSERT = f"""
WITH wanted AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::text[])
        AS t(id, account_id, from_account_id, type, post_id, reaction)
)
INSERT INTO notifications AS ins (id, account_id, from_account_id, type, post_id, reaction)
SELECT w.id, w.account_id, w.from_account_id, w.type, w.post_id, w.reaction
FROM wanted w
WHERE w.account_id <> w.from_account_id
  AND EXISTS (SELECT 1 FROM accounts a WHERE a.id = w.account_id)
  AND CASE w.type
    WHEN 'follow' THEN EXISTS (
        SELECT 1 FROM follows f WHERE f.account_id = w.from_account_id AND f.target_account_id = w.account_id
        FOR KEY SHARE)
    WHEN 'favourite' THEN EXISTS (
        SELECT 1 FROM likes l WHERE l.account_id = w.from_account_id AND l.post_id = w.post_id FOR KEY SHARE)
    WHEN 'reaction' THEN EXISTS (
        SELECT 1 FROM reactions r
        WHERE r.account_id = w.from_account_id AND r.post_id = w.post_id AND r.name = w.reaction FOR KEY SHARE)
    WHEN 'reblog' THEN EXISTS (
        SELECT 1 FROM posts r WHERE r.account_id = w.from_account_id AND r.reblog_of_id = w.post_id FOR KEY SHARE)
    ELSE EXISTS (SELECT 1 FROM posts p WHERE p.id = w.post_id AND {visible_to("w.account_id")} FOR KEY SHARE)
  END
ON CONFLICT DO NOTHING
RETURNING ins.id, ins.account_id, ins.from_account_id, ins.type, ins.post_id, ins.reaction, ins.created_at
"""


async def insert_notifications(conn: Executor, items: Sequence[NewNotification]) -> list[asyncpg.Record]:
    """Insert the notifications whose cause still holds; returns those written now (not earlier duplicates)."""
    if not items:
        return []
    rows: list[asyncpg.Record] = await conn.fetch(
        _INSERT,
        [n.id for n in items],
        [n.account_id for n in items],
        [n.from_account_id for n in items],
        [n.type for n in items],
        [n.post_id for n in items],
        [n.reaction for n in items],
    )
    return rows


async def delete_for_cause(
    conn: Executor, type_: str, from_account_id: int, post_id: int | None, *, account_id: int, reaction: str = ""
) -> int:
    """Remove the notification a cause produced (an unlike, unfollow, undone repost or reaction)."""
    result: str = await conn.execute(
        """
        DELETE FROM notifications
        WHERE account_id = $1 AND type = $2 AND from_account_id = $3 AND coalesce(post_id, 0) = coalesce($4::bigint, 0)
          AND reaction = $5
        """,
        account_id,
        type_,
        from_account_id,
        post_id,
        reaction,
    )
    return int(result.split()[-1])


async def notifications_page(
    db: Executor,
    account_id: int,
    page: Page,
    *,
    types: Sequence[str] | None,
    exclude_types: Sequence[str],
    from_account_id: int | None,
) -> list[asyncpg.Record]:
    """One page of the account's notifications, newest first (`types` None means every type)."""
    bounds, bound_args = page.where("n.id", 6)
    rows = await db.fetch(
        f"""
        SELECT {COLUMNS} FROM notifications n
        WHERE n.account_id = $1
          AND ($2::text[] IS NULL OR n.type = ANY($2::text[]))
          AND NOT (n.type = ANY($3::text[]))
          AND ($4::bigint IS NULL OR n.from_account_id = $4)
          AND {bounds}
        ORDER BY n.id {page.order}
        LIMIT $5
        """,
        account_id,
        list(types) if types is not None else None,
        list(exclude_types),
        from_account_id,
        page.limit,
        *bound_args,
    )
    return page.arrange(rows)


async def notifications_after(db: Executor, account_id: int, after_id: int, limit: int) -> list[asyncpg.Record]:
    """The account's notifications newer than `after_id`, oldest first (what a reconnecting stream missed)."""
    rows: list[asyncpg.Record] = await db.fetch(
        f"""
        SELECT {COLUMNS} FROM notifications n
        WHERE n.account_id = $1 AND n.id > $2
        ORDER BY n.id
        LIMIT $3
        """,
        account_id,
        after_id,
        limit,
    )
    return rows


async def get_notification(db: Executor, account_id: int, notification_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await db.fetchrow(
        f"SELECT {COLUMNS} FROM notifications n WHERE n.id = $1 AND n.account_id = $2", notification_id, account_id
    )
    return row


async def get_notifications(db: Executor, notification_ids: Sequence[int]) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch(
        f"SELECT {COLUMNS} FROM notifications n WHERE n.id = ANY($1::bigint[]) ORDER BY n.id",
        list(notification_ids),
    )
    return rows


async def dismiss(db: Executor, account_id: int, notification_id: int) -> bool:
    result: str = await db.execute(
        "DELETE FROM notifications WHERE id = $1 AND account_id = $2", notification_id, account_id
    )
    return result != "DELETE 0"


async def clear(db: Executor, account_id: int) -> int:
    result: str = await db.execute("DELETE FROM notifications WHERE account_id = $1", account_id)
    return int(result.split()[-1])
