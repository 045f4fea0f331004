"""Posts: the rows behind Mastodon's Status, their threads, reposts, quotes, mentions, tags and counters.

Lock order, so concurrent writes never deadlock: other posts a write counts on (parent, quoted post,
original) first, in id order; then the post itself; then account rows, in id order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.pagination import Page
from storage.db import Executor
from storage.jobs import NewJob, enqueue_args, enqueue_ctes
from storage.rows import Row, columns, row_of, rows_of


@dataclass(slots=True, frozen=True)
class PostRow(Row):
    """A row of `posts`, as every read of a whole post returns it."""

    id: int
    account_id: int
    visibility: str  # public, unlisted, private or direct
    text: str
    entities: list[dict[str, Any]]  # mentions, hashtags and links, as domain.post_text parses them
    spoiler_text: str
    sensitive: bool
    language: str | None
    lat: float | None
    lon: float | None
    in_reply_to_id: int | None
    in_reply_to_account_id: int | None
    thread_root_id: int
    thread_path: bytes  # the ids from the thread's root down to this post, 8 bytes each
    thread_depth: int
    reblog_of_id: int | None
    quote_of_id: int | None
    application_id: int | None
    has_media: bool
    replies_count: int
    reposts_count: int
    likes_count: int
    quotes_count: int
    created_at: datetime
    edited_at: datetime | None


POST_COLUMNS = columns(PostRow, "p", {"visibility": "p.visibility::text AS visibility"})


@dataclass(slots=True, frozen=True)
class RepostRow(Row):
    """A repost as its deletion and the list of reposters need it."""

    id: int
    account_id: int
    visibility: str


@dataclass(slots=True, frozen=True)
class CountersRow(Row):
    """A post's counters, as a change to one of them leaves them."""

    id: int
    account_id: int
    replies_count: int
    reposts_count: int
    likes_count: int
    quotes_count: int


@dataclass(slots=True, frozen=True)
class ApplicationRow(Row):
    """The OAuth application a post was made with, as its Status shows it."""

    id: int
    name: str
    website: str | None


_REPOST_COLUMNS = columns(RepostRow, "p", {"visibility": "p.visibility::text AS visibility"})
COUNTER_COLUMNS = ("replies_count", "reposts_count", "likes_count", "quotes_count")

# The thread index (migration 0003) keys on this many leading bytes of the path; queries must match it.
THREAD_KEY_BYTES = 2400
_THREAD_KEY = f"substr(p.thread_path, 1, {THREAD_KEY_BYTES})"
# Ids are positive signed 64-bit numbers, so their first byte is at most 0x7f: every descendant's path
# sorts between a post's path and that path followed by 0xff.
_PAST_SUBTREE = b"\xff"


def path_component(post_id: int) -> bytes:
    return post_id.to_bytes(8, "big")


def path_ids(path: bytes) -> list[int]:
    """The ids from the thread root down to the post itself."""
    return [int.from_bytes(path[i : i + 8], "big") for i in range(0, len(path), 8)]


def visible_to(viewer: str, alias: str = "p") -> str:
    """SQL: the post `alias` is visible to account `viewer` (a bigint parameter, NULL when signed out).

    Public and unlisted posts to all; private ones to the author, the author's followers and the
    accounts the post mentions; direct ones to the author and the accounts mentioned.
    """
    return f"""(
        {alias}.visibility IN ('public', 'unlisted')
        OR {alias}.account_id = {viewer}
        OR ({alias}.visibility = 'private' AND EXISTS (
            SELECT 1 FROM follows f WHERE f.account_id = {viewer} AND f.target_account_id = {alias}.account_id))
        OR EXISTS (SELECT 1 FROM post_mentions m WHERE m.post_id = {alias}.id AND m.account_id = {viewer})
    )"""


# reads ----------------------------------------------------------------------------------------------


async def get_post(db: Executor, post_id: int) -> PostRow | None:
    row = await db.fetchrow(f"SELECT {POST_COLUMNS} FROM posts p WHERE p.id = $1", post_id)
    return row_of(PostRow, row)


async def get_posts(db: Executor, post_ids: Iterable[int]) -> dict[int, PostRow]:
    """Many posts in one query, by id; missing ones are absent."""
    ids = list(set(post_ids))
    if not ids:
        return {}
    rows = await db.fetch(f"SELECT {POST_COLUMNS} FROM posts p WHERE p.id = ANY($1::bigint[])", ids)
    return {row.id: row for row in rows_of(PostRow, rows)}


async def mentioned_in(db: Executor, account_id: int, post_ids: Iterable[int]) -> set[int]:
    """Which of `post_ids` mention `account_id`."""
    ids = list(set(post_ids))
    if not ids:
        return set()
    rows = await db.fetch(
        "SELECT post_id FROM post_mentions WHERE account_id = $1 AND post_id = ANY($2::bigint[])", account_id, ids
    )
    return {row["post_id"] for row in rows}


async def reposted_by(db: Executor, account_id: int, post_ids: Iterable[int]) -> set[int]:
    """Which of `post_ids` `account_id` has reposted."""
    ids = list(set(post_ids))
    if not ids:
        return set()
    rows = await db.fetch(
        "SELECT reblog_of_id FROM posts WHERE account_id = $1 AND reblog_of_id = ANY($2::bigint[])", account_id, ids
    )
    return {row["reblog_of_id"] for row in rows}


async def find_repost(db: Executor, account_id: int, original_id: int) -> int | None:
    value: int | None = await db.fetchval(
        "SELECT id FROM posts WHERE account_id = $1 AND reblog_of_id = $2", account_id, original_id
    )
    return value


async def applications(db: Executor, app_ids: Iterable[int]) -> dict[int, ApplicationRow]:
    """The OAuth applications posts were made with (name, website), by id."""
    ids = list(set(app_ids))
    if not ids:
        return {}
    rows = await db.fetch(f"SELECT {columns(ApplicationRow)} FROM oauth_apps WHERE id = ANY($1::bigint[])", ids)
    return {row.id: row for row in rows_of(ApplicationRow, rows)}


@dataclass(frozen=True)
class ProfileFilters:
    exclude_replies: bool = False
    exclude_reposts: bool = False
    only_media: bool = False
    tag: str | None = None


async def profile_post_ids(
    db: Executor, account_id: int, viewer_id: int | None, page: Page, filters: ProfileFilters
) -> list[int]:
    """An account's posts (and reposts) the viewer may see, one page, newest first."""
    where, bounds = page.where("p.id", 3)
    rows = await db.fetch(
        f"""
        SELECT p.id FROM posts p
        WHERE p.account_id = $1 AND {where} AND {visible_to("$2::bigint")}
          AND (NOT $5 OR p.in_reply_to_id IS NULL OR p.in_reply_to_account_id = p.account_id)
          AND (NOT $6 OR p.reblog_of_id IS NULL)
          AND (NOT $7 OR p.has_media)
          AND ($8::text IS NULL OR EXISTS (SELECT 1 FROM post_tags t WHERE t.tag = $8 AND t.post_id = p.id))
        ORDER BY p.id {page.order}
        LIMIT $9
        """,
        account_id,
        viewer_id,
        *bounds,
        filters.exclude_replies,
        filters.exclude_reposts,
        filters.only_media,
        filters.tag,
        page.limit,
    )
    return [row["id"] for row in page.arrange(rows)]


# $1 root id, $2 the post's path, $3 the path followed by 0xff, $4 deepest depth, $5 viewer, $6 limit.
DESCENDANTS_SQL = f"""
    SELECT p.id FROM posts p
    WHERE p.thread_root_id = $1 AND p.in_reply_to_id IS NOT NULL
      AND {_THREAD_KEY} >= substr($2::bytea, 1, {THREAD_KEY_BYTES})
      AND {_THREAD_KEY} <= substr($3::bytea, 1, {THREAD_KEY_BYTES})
      AND p.thread_path > $2 AND p.thread_path < $3
      AND p.thread_depth <= $4
      AND {visible_to("$5::bigint")}
    ORDER BY {_THREAD_KEY}, p.thread_path
    LIMIT $6
"""


async def descendant_ids(
    db: Executor, root_id: int, path: bytes, viewer_id: int | None, *, max_depth: int, limit: int
) -> list[int]:
    """Replies below the post at `path`, in depth-first order (siblings oldest first), that the viewer
    may see, down to `max_depth`: one range of the thread index (posts_thread)."""
    rows = await db.fetch(DESCENDANTS_SQL, root_id, path, path + _PAST_SUBTREE, max_depth, viewer_id, limit)
    return [row["id"] for row in rows]


async def quote_ids(db: Executor, post_id: int, viewer_id: int | None, page: Page) -> list[int]:
    """Posts quoting `post_id` that the viewer may see, one page, newest first."""
    where, bounds = page.where("p.id", 3)
    rows = await db.fetch(
        f"""
        SELECT p.id FROM posts p
        WHERE p.quote_of_id = $1 AND {where} AND {visible_to("$2::bigint")}
        ORDER BY p.id {page.order}
        LIMIT $5
        """,
        post_id,
        viewer_id,
        *bounds,
        page.limit,
    )
    return [row["id"] for row in page.arrange(rows)]


async def reposters(db: Executor, post_id: int, page: Page) -> list[RepostRow]:
    """The reposts of `post_id`, one page, newest first."""
    where, bounds = page.where("p.id", 2)
    rows = await db.fetch(
        f"""
        SELECT {_REPOST_COLUMNS} FROM posts p
        WHERE p.reblog_of_id = $1 AND {where}
        ORDER BY p.id {page.order}
        LIMIT $4
        """,
        post_id,
        *bounds,
        page.limit,
    )
    return page.arrange(rows_of(RepostRow, rows))


# writes ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewPost:
    id: int
    account_id: int
    visibility: str
    text: str = ""
    entities: Sequence[dict[str, Any]] = ()
    spoiler_text: str = ""
    sensitive: bool = False
    language: str | None = None
    lat: float | None = None
    lon: float | None = None
    in_reply_to_id: int | None = None
    in_reply_to_account_id: int | None = None
    thread_root_id: int | None = None  # None: a thread of its own
    thread_path: bytes | None = None  # the parent's path, for a reply
    thread_depth: int = 0
    reblog_of_id: int | None = None
    quote_of_id: int | None = None
    application_id: int | None = None
    has_media: bool = False


# Follows `WITH inserted AS (INSERT INTO posts ... RETURNING account_id ...)`: counts the new post on its
# author's profile in the same statement (one round trip less for every post and repost).
_COUNT_ON_AUTHOR = """
    , counted AS (
        UPDATE accounts SET posts_count = posts_count + 1, last_post_at = now()
        WHERE id = (SELECT account_id FROM inserted)
    )
"""


async def insert_post(
    conn: Executor,
    post: NewPost,
    *,
    mentions: Sequence[int] = (),
    tags: Sequence[str] = (),
    jobs: Sequence[NewJob] = (),
) -> datetime:
    """Insert a post (not a repost: see insert_repost), counted on its author's profile, with its mentions,
    its hashtags and the jobs its event leaves in the outbox (storage/jobs.py), in one statement: one round
    trip, and on its own (outside a transaction) one atomic write, the post's whole transaction when it has
    nothing else to write (domain/posts.py). Returns its creation time."""
    path = (post.thread_path or b"") + path_component(post.id)
    created: datetime = await conn.fetchval(
        f"""
        WITH inserted AS (
            INSERT INTO posts (id, account_id, visibility, text, entities, spoiler_text, sensitive, language, lat,
                               lon, in_reply_to_id, in_reply_to_account_id, thread_root_id, thread_path,
                               thread_depth, quote_of_id, application_id, has_media)
            VALUES ($1, $2, $3::post_visibility, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
            RETURNING account_id, created_at
        ) {_COUNT_ON_AUTHOR}
        , mentioned AS (
            INSERT INTO post_mentions (post_id, account_id) SELECT $1, unnest($19::bigint[]) ON CONFLICT DO NOTHING
        ), tagged AS (
            INSERT INTO post_tags (tag, post_id) SELECT unnest($20::text[]), $1 ON CONFLICT DO NOTHING
        ), {enqueue_ctes(21)}
        SELECT created_at FROM inserted WHERE (SELECT count(*) FROM woken) >= 0  -- reads `woken`: its NOTIFYs
        """,
        post.id,
        post.account_id,
        post.visibility,
        post.text,
        list(post.entities),
        post.spoiler_text,
        post.sensitive,
        post.language,
        post.lat,
        post.lon,
        post.in_reply_to_id,
        post.in_reply_to_account_id,
        post.thread_root_id if post.thread_root_id is not None else post.id,
        path,
        post.thread_depth,
        post.quote_of_id,
        post.application_id,
        post.has_media,
        list(mentions),
        list(tags),
        *enqueue_args(jobs),
    )
    return created


async def insert_repost(
    conn: Executor, repost_id: int, account_id: int, original_id: int, visibility: str, application_id: int | None
) -> bool:
    """Insert the account's repost of `original_id`, counted on its profile; False when it already exists
    (one per account)."""
    inserted = await conn.fetchval(
        f"""
        WITH inserted AS (
            INSERT INTO posts (id, account_id, visibility, reblog_of_id, thread_root_id, thread_path, application_id)
            VALUES ($1, $2, $3::post_visibility, $4, $1, $5, $6)
            ON CONFLICT (account_id, reblog_of_id) WHERE reblog_of_id IS NOT NULL DO NOTHING
            RETURNING id, account_id
        ) {_COUNT_ON_AUTHOR}
        SELECT id FROM inserted
        """,
        repost_id,
        account_id,
        visibility,
        original_id,
        path_component(repost_id),
        application_id,
    )
    return inserted is not None


async def delete_repost(conn: Executor, account_id: int, original_id: int) -> RepostRow | None:
    """Delete the account's repost of `original_id`; None when there was none."""
    row = await conn.fetchrow(
        f"DELETE FROM posts p WHERE p.account_id = $1 AND p.reblog_of_id = $2 RETURNING {_REPOST_COLUMNS}",
        account_id,
        original_id,
    )
    return row_of(RepostRow, row)


async def insert_mentions(conn: Executor, post_id: int, account_ids: Sequence[int]) -> list[int]:
    """The post's mentions; returns the accounts mentioned now for the first time (an edit notifies those)."""
    if not account_ids:
        return []
    rows = await conn.fetch(
        """
        INSERT INTO post_mentions (post_id, account_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING
        RETURNING account_id
        """,
        post_id,
        list(account_ids),
    )
    return [row["account_id"] for row in rows]


async def lock_posts(conn: Executor, post_ids: Iterable[int]) -> set[int]:
    """Lock posts whose counters this transaction changes, in id order; returns the ids that exist."""
    ids = sorted(set(post_ids))
    if not ids:
        return set()
    rows = await conn.fetch("SELECT id FROM posts WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE", ids)
    return {row["id"] for row in rows}


async def lock_own_post(conn: Executor, post_id: int, account_id: int) -> PostRow | None:
    """Lock a post of `account_id` for deletion; None when it is gone or someone else's."""
    row = await conn.fetchrow(
        f"SELECT {POST_COLUMNS} FROM posts p WHERE p.id = $1 AND p.account_id = $2 FOR UPDATE",
        post_id,
        account_id,
    )
    return row_of(PostRow, row)


async def add_to_counter(conn: Executor, post_id: int, column: str, delta: int) -> CountersRow | None:
    """Add `delta` to one counter of a post, never below zero; the post's counters after, None if gone."""
    if column not in COUNTER_COLUMNS:
        raise ValueError(f"not a post counter: {column}")
    row = await conn.fetchrow(
        f"""
        UPDATE posts SET {column} = GREATEST({column} + $2, 0) WHERE id = $1
        RETURNING {columns(CountersRow)}
        """,
        post_id,
        delta,
    )
    return row_of(CountersRow, row)


async def delete_post_row(conn: Executor, post_id: int) -> None:
    await conn.execute("DELETE FROM posts WHERE id = $1", post_id)


async def delete_reposts_of(conn: Executor, post_id: int) -> list[RepostRow]:
    """Delete every repost of `post_id`; the deleted reposts."""
    rows = await conn.fetch(f"DELETE FROM posts p WHERE p.reblog_of_id = $1 RETURNING {_REPOST_COLUMNS}", post_id)
    return rows_of(RepostRow, rows)


async def add_posts_counts(conn: Executor, deltas: dict[int, int]) -> None:
    """Change accounts' post counts (never below zero), locking the rows in id order. (A new post is counted
    by its insert.)"""
    ids = sorted(deltas)
    if not ids:
        return
    if len(ids) > 1:  # one row needs no ordering: the UPDATE locks it (one round trip less)
        await conn.execute("SELECT id FROM accounts WHERE id = ANY($1::bigint[]) ORDER BY id FOR NO KEY UPDATE", ids)
    await conn.execute(
        """
        UPDATE accounts a SET posts_count = GREATEST(a.posts_count + d.delta, 0)
        FROM unnest($1::bigint[], $2::integer[]) AS d(id, delta)
        WHERE a.id = d.id
        """,
        ids,
        [deltas[i] for i in ids],
    )


# idempotency keys -----------------------------------------------------------------------------------


async def claim_idempotency_key(
    conn: Executor, account_id: int, key: str, post_id: int, ttl_seconds: float
) -> int | None:
    """Bind `key` to `post_id` for the account, inside the creating transaction.

    Returns None when the key is now ours (go on creating the post), or the post id an earlier request
    bound it to. A concurrent request with the same key waits on the unique index until the first
    commits (then sees its post) or rolls back (then claims the key itself).
    """
    claimed = await conn.fetchval(
        """
        INSERT INTO post_idempotency_keys AS k (account_id, key, post_id, expires_at)
        VALUES ($1, $2, $3, now() + make_interval(secs => $4))
        ON CONFLICT (account_id, key) DO UPDATE
            SET post_id = EXCLUDED.post_id, expires_at = EXCLUDED.expires_at
            WHERE k.expires_at <= now()
        RETURNING post_id
        """,
        account_id,
        key,
        post_id,
        ttl_seconds,
    )
    if claimed is not None:
        return None
    existing: int | None = await conn.fetchval(
        "SELECT post_id FROM post_idempotency_keys WHERE account_id = $1 AND key = $2", account_id, key
    )
    return existing


async def idempotent_post(db: Executor, account_id: int, key: str) -> int | None:
    """The post an unexpired key of the account was used for, if any."""
    value: int | None = await db.fetchval(
        "SELECT post_id FROM post_idempotency_keys WHERE account_id = $1 AND key = $2 AND expires_at > now()",
        account_id,
        key,
    )
    return value


async def purge_idempotency_keys(db: Executor, *, batch: int = 10_000) -> int:
    """Delete expired keys (a bounded batch); how many went."""
    status: str = await db.execute(
        """
        DELETE FROM post_idempotency_keys WHERE ctid IN (
            SELECT ctid FROM post_idempotency_keys WHERE expires_at <= now() LIMIT $1
        )
        """,
        batch,
    )
    return int(status.split()[-1])
