"""The PostgreSQL side of timelines: who receives a post, what a rebuilt timeline holds, the public and hashtag
timelines, and the viewer's own marks on a page of posts.

The rules every query here shares (Mastodon's home feed rules):
- a post reaches the home timelines of its author's followers and of its author;
- a reply to someone else reaches only those who also follow the account replied to (or are that account);
- a repost reaches only followers who show the author's reposts;
- direct posts reach no home timeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import asyncpg

from core.pagination import Page
from storage.accounts import listed_author
from storage.db import Executor
from storage.rows import Row, columns, rows_of
from storage.safety import muted_posts_column, rule_version_column, suspended_column

# A reply to another account, as opposed to a top-level post or a reply in one's own thread.
_REPLY_TO_OTHER = "(p.in_reply_to_account_id IS NOT NULL AND p.in_reply_to_account_id <> p.account_id)"

# The follow `f` (owner → author) is of an account in one of the owner's exclusive lists (storage/lists.py):
# the author's posts go to that list, not to the owner's home timeline.
_EXCLUSIVE_MEMBER = """EXISTS (
    SELECT 1 FROM list_accounts xa JOIN lists xl ON xl.id = xa.list_id
    WHERE xa.account_id = f.target_account_id AND xa.owner_id = f.account_id AND xl.exclusive)"""

# An account's followers as text (`FollowerLists`), aggregated over its rows of `follows`.
_FOLLOWER_LISTS = """string_agg(account_id::text, ',') AS everyone,
    coalesce(string_agg(account_id::text, ',') FILTER (WHERE show_reposts), '') AS reposts"""


@dataclass(slots=True, frozen=True)
class TimelinePostRow(Row):
    """A post as a timeline holds it: what the entry needs, not the post itself."""

    id: int
    account_id: int
    reblog_of_id: int | None


_TIMELINE_POST_COLUMNS = columns(TimelinePostRow, "p")


@dataclass(frozen=True)
class FanOutPost:
    id: int
    account_id: int
    reblog_of_id: int | None
    in_reply_to_account_id: int | None
    visibility: str
    high_follower: bool  # the author has more followers than fan-out serves

    @property
    def reply_to_other(self) -> bool:
        return self.in_reply_to_account_id is not None and self.in_reply_to_account_id != self.account_id


@dataclass(frozen=True)
class FollowerLists:
    """An account's followers as comma-separated ids: all of them, and those who show its reposts."""

    everyone: str
    reposts: str


@dataclass(frozen=True)
class FanOutPlan:
    posts: list[FanOutPost]  # oldest first
    followers: dict[int, FollowerLists]  # of the authors of posts that go to all their followers


async def fan_out_plan(db: Executor, post_ids: Sequence[int], max_followers: int) -> FanOutPlan:
    """The posts of `post_ids` that still exist, with their authors' standing, and the followers of the
    authors whose posts go to every follower (not replies to others, not by high-follower accounts): one
    statement, the followers as text so they go to Valkey without a conversion per follower. Each author's
    lists come with their first post only."""
    if not post_ids:
        return FanOutPlan([], {})
    rows = await db.fetch(
        f"""
        WITH p AS (
            SELECT p.id, p.account_id, p.reblog_of_id, p.in_reply_to_account_id, p.visibility::text AS visibility,
                   a.followers_count > $2 AS high_follower, {_REPLY_TO_OTHER} AS reply_to_other
            FROM posts p JOIN accounts a ON a.id = p.account_id
            WHERE p.id = ANY($1::bigint[])
        ), lists AS (
            SELECT target_account_id AS account_id, {_FOLLOWER_LISTS}
            FROM follows f
            WHERE target_account_id IN (SELECT account_id FROM p WHERE NOT high_follower AND NOT reply_to_other)
              -- members of the follower's exclusive lists (a hashed set, looked up once per batch)
              AND (f.account_id, f.target_account_id) NOT IN (
                  SELECT xa.owner_id, xa.account_id FROM list_accounts xa JOIN lists xl ON xl.id = xa.list_id
                  WHERE xl.exclusive AND xa.account_id IN (SELECT account_id FROM p))
            GROUP BY target_account_id
        )
        SELECT p.id, p.account_id, p.reblog_of_id, p.in_reply_to_account_id, p.visibility, p.high_follower,
               CASE WHEN p.id = min(p.id) OVER (PARTITION BY p.account_id) THEN lists.everyone END AS everyone,
               CASE WHEN p.id = min(p.id) OVER (PARTITION BY p.account_id) THEN lists.reposts END AS reposts
        FROM p LEFT JOIN lists ON lists.account_id = p.account_id
        ORDER BY p.id
        """,
        list(post_ids),
        max_followers,
    )
    posts: list[FanOutPost] = []
    followers: dict[int, FollowerLists] = {}
    for row in rows:
        post = FanOutPost(
            id=row["id"],
            account_id=row["account_id"],
            reblog_of_id=row["reblog_of_id"],
            in_reply_to_account_id=row["in_reply_to_account_id"],
            visibility=row["visibility"],
            high_follower=row["high_follower"],
        )
        posts.append(post)
        if row["everyone"] is not None:
            followers[post.account_id] = FollowerLists(row["everyone"], row["reposts"])
    return FanOutPlan(posts, followers)


async def follower_lists(db: Executor, account_ids: Iterable[int]) -> dict[int, FollowerLists]:
    """Followers of each account, as text so they go to Valkey without a conversion per follower."""
    ids = list(set(account_ids))
    if not ids:
        return {}
    rows = await db.fetch(
        f"""
        SELECT target_account_id AS id, {_FOLLOWER_LISTS}
        FROM follows WHERE target_account_id = ANY($1::bigint[])
        GROUP BY target_account_id
        """,
        ids,
    )
    return {row["id"]: FollowerLists(row["everyone"], row["reposts"]) for row in rows}


async def reply_audiences(db: Executor, posts: Sequence[FanOutPost], *, from_target: bool) -> dict[int, str]:
    """For replies to other accounts: the author's followers who also follow the account replied to, or are it.

    The join runs from the author's followers, or from the replied-to account's (`from_target`) when the
    author has too many followers to walk.
    """
    if not posts:
        return {}
    join = (
        """
        JOIN follows g ON g.target_account_id = r.target_id
        WHERE EXISTS (SELECT 1 FROM follows f WHERE f.account_id = g.account_id AND f.target_account_id = r.author_id)
        """
        if from_target
        else """
        JOIN follows f ON f.target_account_id = r.author_id
        JOIN follows g ON g.account_id = f.account_id AND g.target_account_id = r.target_id
        """
    )
    column = "g.account_id"
    rows = await db.fetch(
        f"""
        WITH r AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS r(post_id, author_id, target_id))
        SELECT post_id, string_agg(id::text, ',') AS ids FROM (
            SELECT r.post_id, {column} AS id FROM r {join}
            UNION ALL
            SELECT r.post_id, r.target_id FROM r
            WHERE EXISTS (
                SELECT 1 FROM follows f WHERE f.account_id = r.target_id AND f.target_account_id = r.author_id)
        ) AS audience
        GROUP BY post_id
        """,
        [p.id for p in posts],
        [p.account_id for p in posts],
        [p.in_reply_to_account_id for p in posts],
    )
    return {row["post_id"]: row["ids"] for row in rows}


async def high_follower_accounts(db: Executor, account_ids: Iterable[int], max_followers: int) -> set[int]:
    """Which of the accounts have more than `max_followers` followers."""
    ids = list(set(account_ids))
    if not ids:
        return set()
    rows = await db.fetch(
        "SELECT id FROM accounts WHERE id = ANY($1::bigint[]) AND followers_count > $2", ids, max_followers
    )
    return {row["id"] for row in rows}


async def follower_page(db: Executor, account_id: int, after_id: int, limit: int) -> list[asyncpg.Record]:
    """(id, account_id, show_reposts) of an account's followers by follow id, after `after_id`."""
    rows: list[asyncpg.Record] = await db.fetch(
        """
        SELECT id, account_id, show_reposts FROM follows
        WHERE target_account_id = $1 AND id > $2
        ORDER BY id LIMIT $3
        """,
        account_id,
        after_id,
        limit,
    )
    return rows


def _home_rows_sql(*, one_author: bool) -> str:
    """Candidates for a home timeline: the newest posts of each followed account (and the account's own),
    by the home rules. High-follower accounts contribute only their replies to others (the rest is merged
    in at read time), and only those newer than the cutoff, so their long histories are not walked."""
    own = "" if one_author else "UNION ALL SELECT $1::bigint, true, false"
    author_filter = "AND f.target_account_id = $5" if one_author else ""
    return f"""
        WITH followed AS (
            SELECT f.target_account_id AS id, f.show_reposts, a.followers_count > $3 AS high
            FROM follows f JOIN accounts a ON a.id = f.target_account_id
            WHERE f.account_id = $1 {author_filter} AND NOT {_EXCLUSIVE_MEMBER}
            {own}
        )
        SELECT {_TIMELINE_POST_COLUMNS}
        FROM followed fo
        CROSS JOIN LATERAL (
            SELECT {_TIMELINE_POST_COLUMNS}
            FROM posts p
            WHERE p.account_id = fo.id
              AND p.id > CASE WHEN fo.high THEN $4::bigint ELSE 0 END
              AND p.visibility <> 'direct'
              AND (p.reblog_of_id IS NULL OR fo.show_reposts)
              AND CASE WHEN {_REPLY_TO_OTHER}
                  THEN fo.id = $1 OR p.in_reply_to_account_id = $1 OR EXISTS (
                      SELECT 1 FROM follows g
                      WHERE g.account_id = $1 AND g.target_account_id = p.in_reply_to_account_id)
                  ELSE NOT fo.high
              END
            ORDER BY p.id DESC
            LIMIT $2
        ) p
        ORDER BY p.id DESC
        LIMIT $2
    """


async def home_rows(
    db: Executor, account_id: int, *, limit: int, max_followers: int, cutoff_id: int
) -> list[TimelinePostRow]:
    """The newest `limit` posts for an account's home timeline, newest first: one query, bounded by
    `limit` posts per followed account, each an index range."""
    rows = await db.fetch(_home_rows_sql(one_author=False), account_id, limit, max_followers, cutoff_id)
    return rows_of(TimelinePostRow, rows)


async def backfill_rows(
    db: Executor, account_id: int, author_id: int, *, limit: int, max_followers: int, cutoff_id: int
) -> list[TimelinePostRow]:
    """The newest posts of one followed account that belong in `account_id`'s home timeline, newest first."""
    rows = await db.fetch(
        _home_rows_sql(one_author=True),
        account_id,
        limit,
        max_followers,
        cutoff_id,
        author_id,
    )
    return rows_of(TimelinePostRow, rows)


async def followed_high_follower(db: Executor, account_id: int, max_followers: int) -> list[asyncpg.Record]:
    """(id, show_reposts) of the accounts `account_id` follows that have more than `max_followers` followers."""
    rows: list[asyncpg.Record] = await db.fetch(
        f"""
        SELECT f.target_account_id AS id, f.show_reposts
        FROM follows f JOIN accounts a ON a.id = f.target_account_id
        WHERE f.account_id = $1 AND a.followers_count > $2 AND NOT {_EXCLUSIVE_MEMBER}
        """,
        account_id,
        max_followers,
    )
    return rows


async def author_rows(db: Executor, author_ids: Sequence[int], limit: int) -> list[TimelinePostRow]:
    """Each author's newest `limit` posts for followers' home timelines (everything but replies to other
    accounts and direct posts), newest first per author."""
    rows = await db.fetch(
        f"""
        SELECT {_TIMELINE_POST_COLUMNS}
        FROM unnest($1::bigint[]) AS a(id)
        CROSS JOIN LATERAL (
            SELECT {_TIMELINE_POST_COLUMNS} FROM posts p
            WHERE p.account_id = a.id AND p.visibility <> 'direct' AND NOT {_REPLY_TO_OTHER}
            ORDER BY p.id DESC LIMIT $2
        ) p
        ORDER BY p.id DESC
        """,
        list(author_ids),
        limit,
    )
    return rows_of(TimelinePostRow, rows)


@dataclass(frozen=True)
class FollowState:
    account_id: int
    target_id: int
    following: bool
    show_reposts: bool
    target_high_follower: bool


async def follow_states(db: Executor, pairs: Sequence[tuple[int, int]], max_followers: int) -> list[FollowState]:
    """Whether each (account, target) follow exists now, with its options and the target's standing."""
    if not pairs:
        return []
    rows = await db.fetch(
        """
        SELECT r.account_id, r.target_id, f.account_id IS NOT NULL AS following,
               coalesce(f.show_reposts, false) AS show_reposts,
               coalesce(a.followers_count > $3, false) AS target_high_follower
        FROM unnest($1::bigint[], $2::bigint[]) AS r(account_id, target_id)
        LEFT JOIN follows f ON f.account_id = r.account_id AND f.target_account_id = r.target_id
        LEFT JOIN accounts a ON a.id = r.target_id
        """,
        [a for a, _ in pairs],
        [t for _, t in pairs],
        max_followers,
    )
    return [FollowState(**dict(row)) for row in rows]


# public timelines -----------------------------------------------------------------------------------


async def public_post_ids(db: Executor, page: Page, *, only_media: bool) -> list[int]:
    """Public posts (no reposts, no replies to others), one page, newest first: the posts_public index."""
    where, bounds = page.where("p.id", 1)
    rows = await db.fetch(
        f"""
        SELECT p.id FROM posts p
        WHERE p.visibility = 'public' AND p.reblog_of_id IS NULL AND {where}
          AND NOT {_REPLY_TO_OTHER}
          AND (NOT $3 OR p.has_media)
          AND {listed_author("p.account_id")}
        ORDER BY p.id {page.order}
        LIMIT $4
        """,
        *bounds,
        only_media,
        page.limit,
    )
    return [row["id"] for row in page.arrange(rows)]


async def tag_post_ids(
    db: Executor, page: Page, tags: Sequence[str], *, all_tags: Sequence[str], no_tags: Sequence[str], only_media: bool
) -> list[int]:
    """Public posts carrying any of `tags`, all of `all_tags` and none of `no_tags`, one page, newest first.

    Each tag's posts are a range of the post_tags primary key."""
    where, bounds = page.where("t.post_id", 1)
    rows = await db.fetch(
        f"""
        SELECT DISTINCT t.post_id AS id FROM post_tags t JOIN posts p ON p.id = t.post_id
        WHERE t.tag = ANY($3::text[]) AND {where}
          AND p.visibility = 'public' AND p.reblog_of_id IS NULL
          AND (NOT $6 OR p.has_media)
          AND {listed_author("p.account_id")}
          AND NOT EXISTS (
              SELECT 1 FROM unnest($4::text[]) AS wanted(tag)
              WHERE NOT EXISTS (SELECT 1 FROM post_tags w WHERE w.post_id = t.post_id AND w.tag = wanted.tag))
          AND NOT EXISTS (SELECT 1 FROM post_tags x WHERE x.post_id = t.post_id AND x.tag = ANY($5::text[]))
        ORDER BY t.post_id {page.order}
        LIMIT $7
        """,
        *bounds,
        list(tags),
        list(all_tags),
        list(no_tags),
        only_media,
        page.limit,
    )
    return [row["id"] for row in page.arrange(rows)]


# the viewer's marks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ViewerMarks:
    """What the viewer did to posts: liked, reposted, and other reactions (post id → names); and, for the
    visibility rule, which of the asked-about authors the viewer follows and posts mention the viewer."""

    liked: set[int]
    reposted: set[int]
    reacted: dict[int, set[str]]
    following: set[int] = field(default_factory=set)
    mentioned: set[int] = field(default_factory=set)
    rules_version: int | None = None  # the viewer's rules' stamp (domain/viewer_rules.py); None: no rules
    suspended: frozenset[int] = frozenset()  # the suspended among the authors asked about
    bookmarked: set[int] = field(default_factory=set)
    pinned: set[int] = field(default_factory=set)
    muted: set[int] = field(default_factory=set)  # posts in conversations the viewer muted


async def viewer_marks(
    db: Executor,
    viewer_id: int,
    post_ids: Iterable[int],
    *,
    followed_among: Iterable[int] = (),
    mentions_among: Iterable[int] = (),
    related_among: Iterable[int] = (),
) -> ViewerMarks:
    """The viewer's likes, reposts and reactions among `post_ids`, its follows among `followed_among`, its
    mentions among `mentions_among`, its rules' version stamp and the suspended among `related_among`, in
    one round trip (index probes only)."""
    ids = list(set(post_ids))
    if not ids:
        return ViewerMarks(set(), set(), {})
    row = await db.fetchrow(
        f"""
        SELECT
            ARRAY(SELECT post_id FROM likes WHERE account_id = $1 AND post_id = ANY($2::bigint[])) AS liked,
            ARRAY(SELECT reblog_of_id FROM posts WHERE account_id = $1 AND reblog_of_id = ANY($2::bigint[]))
                AS reposted,
            ARRAY(SELECT post_id FROM reactions WHERE account_id = $1 AND post_id = ANY($2::bigint[])
                  ORDER BY post_id, name) AS reacted_posts,
            ARRAY(SELECT name FROM reactions WHERE account_id = $1 AND post_id = ANY($2::bigint[])
                  ORDER BY post_id, name) AS reacted_names,
            ARRAY(SELECT target_account_id FROM follows
                  WHERE account_id = $1 AND target_account_id = ANY($3::bigint[])) AS following,
            ARRAY(SELECT post_id FROM post_mentions WHERE account_id = $1 AND post_id = ANY($4::bigint[]))
                AS mentioned,
            ARRAY(SELECT post_id FROM bookmarks WHERE account_id = $1 AND post_id = ANY($2::bigint[])) AS bookmarked,
            ARRAY(SELECT post_id FROM pins WHERE account_id = $1 AND post_id = ANY($2::bigint[])) AS pinned,
            {muted_posts_column("$1", "$2::bigint[]")} AS muted_posts,
            {rule_version_column("$1")},
            {suspended_column("$5::bigint[]")}
        """,
        viewer_id,
        ids,
        list(set(followed_among)),
        list(set(mentions_among)),
        list(set(related_among)),
    )
    assert row is not None
    reacted: dict[int, set[str]] = {}
    for post_id, name in zip(row["reacted_posts"], row["reacted_names"], strict=True):
        reacted.setdefault(post_id, set()).add(name)
    return ViewerMarks(
        set(row["liked"]),
        set(row["reposted"]),
        reacted,
        set(row["following"]),
        set(row["mentioned"]),
        row["rules_version"],
        frozenset(row["suspended"]),
        set(row["bookmarked"]),
        set(row["pinned"]),
        set(row["muted_posts"]),
    )


async def quoting_post_ids(db: Executor, post_ids: Iterable[int], *, limit: int = 10_000) -> list[int]:
    """Posts quoting any of `post_ids` (bounded): their cached entities show the quoted post."""
    ids = list(set(post_ids))
    if not ids:
        return []
    rows = await db.fetch(
        "SELECT id FROM posts WHERE quote_of_id = ANY($1::bigint[]) LIMIT $2",
        ids,
        limit,
    )
    return [row["id"] for row in rows]
