"""Lists: named sets of followed accounts, each with a timeline of its own (Valkey, `tll:{owner}:list`,
written by the fan-out like home timelines and rebuilt from PostgreSQL by `list_rows`).

A member is always an account the owner follows (checked when added; unfollowing removes it). The rules of a
list timeline (Mastodon's): members' posts that are not direct; their reposts when the owner's follow shows
reposts; replies to oneself always, other replies by `replies_policy`: `followed` (to an account the owner
follows, or the owner), `list` (to a member, or the owner), `none` (no others). `exclusive` lists keep their
members' posts out of the owner's home timeline (storage/timelines.py leaves them out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from core.pagination import Page
from storage.db import Executor
from storage.keys import tagged
from storage.rows import rows_of
from storage.timelines import TimelinePostRow

LIST_PREFIX = "tll:"
LIST_CHANNEL_PREFIX = "chirp:list:"  # classic pub/sub, one per list: its `list` streams (rendered per viewer)
POLICIES = ("followed", "list", "none")


def list_key(owner_id: int, list_id: int) -> str:
    """`tll:{owner}:list`: in the owner's slot, beside the owner's home timeline."""
    return f"{tagged(LIST_PREFIX, owner_id)}:{list_id}"


def list_channel(list_id: int) -> str:
    return f"{LIST_CHANNEL_PREFIX}{list_id}"


def list_of_key(key: str) -> tuple[int, int]:
    """(owner id, list id) of a list timeline's key."""
    tag, _, list_id = key[len(LIST_PREFIX) + 1 :].partition("}:")
    return int(tag), int(list_id)


@dataclass(frozen=True)
class ListRow:
    id: int
    account_id: int
    title: str
    replies_policy: str
    exclusive: bool


_COLUMNS = "l.id, l.account_id, l.title, l.replies_policy, l.exclusive"


def _list(row: asyncpg.Record) -> ListRow:
    return ListRow(row["id"], row["account_id"], row["title"], row["replies_policy"], row["exclusive"])


async def insert_list(db: Executor, list_id: int, owner_id: int, title: str, policy: str, exclusive: bool) -> ListRow:
    row = await db.fetchrow(
        f"""
        INSERT INTO lists AS l (id, account_id, title, replies_policy, exclusive) VALUES ($1, $2, $3, $4, $5)
        RETURNING {_COLUMNS}
        """,
        list_id,
        owner_id,
        title,
        policy,
        exclusive,
    )
    assert row is not None
    return _list(row)


async def update_list(
    db: Executor, list_id: int, owner_id: int, title: str | None, policy: str | None, exclusive: bool | None
) -> ListRow | None:
    row = await db.fetchrow(
        f"""
        UPDATE lists AS l SET title = coalesce($3, title), replies_policy = coalesce($4, replies_policy),
                              exclusive = coalesce($5, exclusive)
        WHERE l.id = $1 AND l.account_id = $2
        RETURNING {_COLUMNS}
        """,
        list_id,
        owner_id,
        title,
        policy,
        exclusive,
    )
    return _list(row) if row is not None else None


async def delete_list(db: Executor, list_id: int, owner_id: int) -> ListRow | None:
    row = await db.fetchrow(
        f"DELETE FROM lists AS l WHERE l.id = $1 AND l.account_id = $2 RETURNING {_COLUMNS}", list_id, owner_id
    )
    return _list(row) if row is not None else None


async def get_list(db: Executor, list_id: int, owner_id: int) -> ListRow | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM lists l WHERE l.id = $1 AND l.account_id = $2", list_id, owner_id)
    return _list(row) if row is not None else None


async def lists_of(db: Executor, owner_id: int, member_id: int | None = None) -> list[ListRow]:
    """The owner's lists (those holding `member_id`, when given), oldest first."""
    rows = await db.fetch(
        f"""
        SELECT {_COLUMNS} FROM lists l
        WHERE l.account_id = $1
          AND ($2::bigint IS NULL OR EXISTS (
              SELECT 1 FROM list_accounts la WHERE la.list_id = l.id AND la.account_id = $2))
        ORDER BY l.id
        """,
        owner_id,
        member_id,
    )
    return [_list(row) for row in rows]


async def add_members(conn: Executor, row: ListRow, member_ids: Sequence[int], ids: Sequence[int]) -> list[int]:
    """Add the accounts (all followed by the owner: the caller checked) to the list; the ids added."""
    added = await conn.fetch(
        """
        INSERT INTO list_accounts (list_id, account_id, owner_id, id)
        SELECT $1, m.account_id, $2, m.id FROM unnest($3::bigint[], $4::bigint[]) AS m(account_id, id)
        ON CONFLICT (list_id, account_id) DO NOTHING
        RETURNING account_id
        """,
        row.id,
        row.account_id,
        list(member_ids),
        list(ids),
    )
    return [r["account_id"] for r in added]


async def remove_members(conn: Executor, list_id: int, member_ids: Sequence[int]) -> list[int]:
    removed = await conn.fetch(
        "DELETE FROM list_accounts WHERE list_id = $1 AND account_id = ANY($2::bigint[]) RETURNING account_id",
        list_id,
        list(member_ids),
    )
    return [r["account_id"] for r in removed]


async def leave_lists(conn: Executor, owner_id: int, member_id: int) -> list[int]:
    """Remove an account from every list of the owner (on unfollow); the lists it left."""
    rows = await conn.fetch(
        "DELETE FROM list_accounts WHERE owner_id = $1 AND account_id = $2 RETURNING list_id", owner_id, member_id
    )
    return [r["list_id"] for r in rows]


async def members_page(db: Executor, list_id: int, page: Page) -> list[asyncpg.Record]:
    """(id, account_id) of a list's members, one page, newest member first."""
    where, bounds = page.where("la.id", 2)
    rows = await db.fetch(
        f"""
        SELECT la.id, la.account_id FROM list_accounts la
        WHERE la.list_id = $1 AND {where}
        ORDER BY la.id {page.order}
        LIMIT $4
        """,
        list_id,
        *bounds,
        page.limit,
    )
    return page.arrange(rows)


async def lists_with_members(db: Executor, member_ids: Sequence[int]) -> dict[int, list[tuple[int, int]]]:
    """(owner, list) of every list holding each account, by account (list_accounts_by_member): the list
    timelines and `list` streams a deleted post of theirs may be in."""
    rows = await db.fetch(
        "SELECT account_id, owner_id, list_id FROM list_accounts WHERE account_id = ANY($1::bigint[])",
        sorted(set(member_ids)),
    )
    out: dict[int, list[tuple[int, int]]] = {}
    for r in rows:
        out.setdefault(r["account_id"], []).append((r["owner_id"], r["list_id"]))
    return out


# timelines ---------------------------------------------------------------------------------------------

# A post `p` (with author `p.author`, `p.reply_to`) belongs in list `l` whose member relation is `la` and
# whose owner follows the author by `f`: the rules of the module docstring.
_BELONGS = """
    (NOT p.repost OR f.show_reposts)
    AND (p.reply_to IS NULL OR p.reply_to = p.author
         OR (l.replies_policy <> 'none' AND p.reply_to = l.account_id)
         OR (l.replies_policy = 'followed' AND EXISTS (
             SELECT 1 FROM follows g WHERE g.account_id = l.account_id AND g.target_account_id = p.reply_to))
         OR (l.replies_policy = 'list' AND EXISTS (
             SELECT 1 FROM list_accounts m WHERE m.list_id = l.id AND m.account_id = p.reply_to)))
"""


@dataclass(frozen=True)
class ListPost:
    """What the fan-out knows of a post, for finding its lists."""

    id: int
    author_id: int
    reply_to: int | None
    repost: bool


async def list_audiences(db: Executor, posts: Sequence[ListPost]) -> dict[int, list[tuple[int, int]]]:
    """For each post, the (owner, list) timelines it belongs in: one statement, from the posts' authors
    (list_accounts_by_member), nothing for authors in no list."""
    if not posts:
        return {}
    rows = await db.fetch(
        f"""
        WITH p AS (
            SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::boolean[])
                AS p(id, author, reply_to, repost)
        )
        SELECT p.id, l.account_id AS owner_id, l.id AS list_id
        FROM p
        JOIN list_accounts la ON la.account_id = p.author
        JOIN lists l ON l.id = la.list_id
        JOIN follows f ON f.account_id = la.owner_id AND f.target_account_id = p.author
        WHERE {_BELONGS}
        """,
        [p.id for p in posts],
        [p.author_id for p in posts],
        [p.reply_to for p in posts],
        [p.repost for p in posts],
    )
    out: dict[int, list[tuple[int, int]]] = {}
    for row in rows:
        out.setdefault(row["id"], []).append((row["owner_id"], row["list_id"]))
    return out


async def list_rows(db: Executor, row: ListRow, limit: int) -> list[TimelinePostRow]:
    """The newest `limit` posts of a list timeline, newest first: per member an index range of
    posts_by_account (at most `limit` rows each), filtered by the list's rules."""
    rows = await db.fetch(
        f"""
        WITH l AS (SELECT * FROM lists WHERE id = $1)
        SELECT p.id, p.account_id, p.reblog_of_id
        FROM l
        JOIN list_accounts la ON la.list_id = l.id
        JOIN follows f ON f.account_id = l.account_id AND f.target_account_id = la.account_id
        CROSS JOIN LATERAL (
            SELECT q.id, q.account_id, q.reblog_of_id, q.account_id AS author, q.in_reply_to_account_id AS reply_to,
                   q.reblog_of_id IS NOT NULL AS repost
            FROM posts q
            WHERE q.account_id = la.account_id AND q.visibility <> 'direct'
            ORDER BY q.id DESC
            LIMIT $2
        ) p
        WHERE {_BELONGS}
        ORDER BY p.id DESC
        LIMIT $2
        """,
        row.id,
        limit,
    )
    return rows_of(TimelinePostRow, rows)
