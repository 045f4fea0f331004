"""Notifications (table `notifications`): written from durable events, read newest first per account."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from core.pagination import Page
from storage.db import Executor
from storage.posts import visible_to
from storage.safety import notification_allowed

COLUMNS = "n.id, n.account_id, n.from_account_id, n.type, n.post_id, n.reaction, n.created_at, n.group_key"

# The types Mastodon groups (Notification::GROUPABLE_NOTIFICATION_TYPES, less admin.sign_up): a favourite or
# reblog groups with others of the same post, a follow with other follows, within MAXIMUM_GROUP_SPAN_HOURS.
GROUPABLE_TYPES = ("favourite", "reblog", "follow")
MAXIMUM_GROUP_SPAN_HOURS = 12


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
#
# A groupable notification joins the latest group of its kind (recipient, type, post) unless that group began
# MAXIMUM_GROUP_SPAN_HOURS or more before this hour; otherwise it begins a group of this hour. Mastodon keeps
# that running hour in Redis; here the latest group's key in PostgreSQL says it.
_GROUP_KEY = f"""
CASE WHEN w.type = ANY($7::text[]) THEN
    CASE WHEN w.type = 'follow' THEN w.type ELSE w.type || '-' || w.post_id END || '-' || (
        SELECT CASE WHEN latest.hour IS NOT NULL AND this.hour < latest.hour + {MAXIMUM_GROUP_SPAN_HOURS}
                    THEN latest.hour ELSE this.hour END
        FROM (SELECT floor(extract(epoch FROM now()) / 3600)::bigint AS hour) this
        LEFT JOIN LATERAL (
            SELECT substring(g.group_key FROM '([0-9]+)$')::bigint AS hour FROM notifications g
            WHERE g.account_id = w.account_id AND g.type = w.type AND coalesce(g.post_id, 0) = coalesce(w.post_id, 0)
              AND g.group_key IS NOT NULL
            ORDER BY g.id DESC LIMIT 1
        ) latest ON true)
END
"""
_INSERT = f"""
WITH wanted AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[], $6::text[])
        AS t(id, account_id, from_account_id, type, post_id, reaction)
)
INSERT INTO notifications AS ins (id, account_id, from_account_id, type, post_id, reaction, group_key)
SELECT w.id, w.account_id, w.from_account_id, w.type, w.post_id, w.reaction, {_GROUP_KEY}
FROM wanted w
WHERE (w.account_id <> w.from_account_id OR w.type = 'poll')  -- a poll's end notifies its author too
  AND EXISTS (SELECT 1 FROM accounts a WHERE a.id = w.account_id)
  AND {notification_allowed("w.account_id", "w.from_account_id", "w.post_id")}
  AND CASE w.type
    WHEN 'follow' THEN EXISTS (
        SELECT 1 FROM follows f WHERE f.account_id = w.from_account_id AND f.target_account_id = w.account_id
        FOR KEY SHARE)
    WHEN 'follow_request' THEN EXISTS (
        SELECT 1 FROM follow_requests f WHERE f.account_id = w.from_account_id AND f.target_account_id = w.account_id
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
RETURNING ins.id, ins.account_id, ins.from_account_id, ins.type, ins.post_id, ins.reaction, ins.created_at,
    ins.group_key
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
        list(GROUPABLE_TYPES),
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


# Grouped notifications (Mastodon 4.3) ----------------------------------------------------------------

# A notification's group in a listing: its group_key when its type is one of the grouped types asked for,
# else a group of its own. $2 are those types.
_GROUP_OF = (
    "CASE WHEN {a}.type = ANY($2::text[]) AND {a}.group_key IS NOT NULL THEN {a}.group_key "
    "ELSE 'ungrouped-' || {a}.id END"
)
_FILTERS = """{a}.account_id = $1
      AND ($3::text[] IS NULL OR {a}.type = ANY($3::text[]))
      AND NOT ({a}.type = ANY($4::text[]))
      AND ($5::bigint IS NULL OR {a}.from_account_id = $5)"""


async def grouped_page(
    db: Executor,
    account_id: int,
    page: Page,
    *,
    grouped_types: Sequence[str],
    types: Sequence[str] | None,
    exclude_types: Sequence[str],
    from_account_id: int | None,
) -> list[asyncpg.Record]:
    """One page of groups, newest first: for each of up to `page.limit` groups, its newest notification in
    the page's bounds (Mastodon's paginate_groups), with its `group` (the key it is listed under).

    A recursive walk down the account's notifications takes each next one whose group it has not met yet,
    so the page costs one index step per notification passed over, not a scan of the whole list."""
    bounds, bound_args = page.where("{a}.id", 7)
    step = "<" if page.order == "DESC" else ">"
    a, x = {"a": "n"}, {"a": "x"}
    rows = await db.fetch(
        f"""
        WITH RECURSIVE grouped AS (
            (SELECT {COLUMNS}, ARRAY[{_GROUP_OF.format(**a)}] AS groups
             FROM notifications n
             WHERE {_FILTERS.format(**a)} AND {bounds.format(**a)}
             ORDER BY n.id {page.order} LIMIT 1)
            UNION ALL
            SELECT x.id, x.account_id, x.from_account_id, x.type, x.post_id, x.reaction, x.created_at, x.group_key,
                   wt.groups || ({_GROUP_OF.format(**x)})
            FROM (SELECT g.id, g.groups FROM grouped g WHERE array_length(g.groups, 1) < $6) wt
            CROSS JOIN LATERAL (
                SELECT * FROM notifications x
                WHERE {_FILTERS.format(**x)} AND {bounds.format(**x)}
                  AND x.id {step} wt.id AND NOT (({_GROUP_OF.format(**x)}) = ANY(wt.groups))
                ORDER BY x.id {page.order} LIMIT 1
            ) x
        )
        SELECT n.*, n.groups[array_length(n.groups, 1)] AS "group" FROM grouped n ORDER BY n.id {page.order} LIMIT $6
        """,
        account_id,
        list(grouped_types),
        list(types) if types is not None else None,
        list(exclude_types),
        from_account_id,
        page.limit,
        *bound_args,
    )
    return page.arrange(rows)


async def groups_data(
    db: Executor,
    account_id: int,
    group_keys: Sequence[str],
    *,
    sample_size: int,
    within: tuple[int | None, int | None] | None,
) -> dict[str, asyncpg.Record]:
    """For each group key: its most recent notification's id and time, the latest `sample_size` accounts,
    and within the page's (lowest, highest) ids, its count and lowest id (Mastodon's load_groups_data).
    Without `within` (or a bound of it), the whole group (on that side)."""
    if not group_keys:
        return {}
    low, high = within if within is not None else (None, None)
    rows = await db.fetch(
        """
        SELECT g.key,
               latest.id AS most_recent_id, latest.created_at AS latest_at,
               array(SELECT n.from_account_id FROM notifications n
                     WHERE n.account_id = $1 AND n.group_key = g.key AND ($4::bigint IS NULL OR n.id <= $4)
                     ORDER BY n.id DESC LIMIT $2) AS sample_account_ids,
               (SELECT count(*) FROM notifications n
                WHERE n.account_id = $1 AND n.group_key = g.key
                  AND ($3::bigint IS NULL OR n.id >= $3) AND ($4::bigint IS NULL OR n.id <= $4)) AS count,
               (SELECT n.id FROM notifications n
                WHERE n.account_id = $1 AND n.group_key = g.key AND ($3::bigint IS NULL OR n.id >= $3)
                ORDER BY n.id LIMIT 1) AS min_id
        FROM unnest($5::text[]) AS g(key)
        CROSS JOIN LATERAL (
            SELECT n.id, n.created_at FROM notifications n
            WHERE n.account_id = $1 AND n.group_key = g.key AND ($4::bigint IS NULL OR n.id <= $4)
            ORDER BY n.id DESC LIMIT 1
        ) latest
        """,
        account_id,
        sample_size,
        low,
        high,
        list(group_keys),
    )
    return {row["key"]: row for row in rows}


def _ungrouped_id(group_key: str) -> int | None:
    digits = group_key.removeprefix("ungrouped-")
    return int(digits) if digits != group_key and digits.isdigit() and len(digits) < 20 else None


async def group_members(db: Executor, account_id: int, group_key: str, limit: int) -> list[asyncpg.Record]:
    """The newest `limit` notifications of a group (`ungrouped-<id>` is that one notification), newest first."""
    single = _ungrouped_id(group_key)
    rows: list[asyncpg.Record] = await db.fetch(
        f"""
        SELECT {COLUMNS} FROM notifications n
        WHERE n.account_id = $1 AND (CASE WHEN $2::bigint IS NULL THEN n.group_key = $3 ELSE n.id = $2 END)
        ORDER BY n.id DESC LIMIT $4
        """,
        account_id,
        single,
        group_key,
        limit,
    )
    return rows


async def dismiss_group(db: Executor, account_id: int, group_key: str) -> int:
    """Delete every notification of the group; how many there were."""
    single = _ungrouped_id(group_key)
    result: str = await db.execute(
        """
        DELETE FROM notifications
        WHERE account_id = $1 AND (CASE WHEN $2::bigint IS NULL THEN group_key = $3 ELSE id = $2 END)
        """,
        account_id,
        single,
        group_key,
    )
    return int(result.split()[-1])
