"""Who receives a live event, and what sets one viewer's copy of a post apart from another's."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from storage.db import Executor


async def follower_ids(db: Executor, account_id: int) -> list[int]:
    """Every follower of the account (the audience of its posts' live events)."""
    rows = await db.fetch("SELECT account_id FROM follows WHERE target_account_id = $1", account_id)
    return [row["account_id"] for row in rows]


async def viewer_marks(
    db: Executor,
    viewer_ids: Sequence[int],
    *,
    content_ids: Iterable[int],
    restricted_ids: Iterable[int],
    restricted_authors: Iterable[int],
) -> dict[int, set[tuple[str, int | str]]]:
    """For each viewer who has any: the facts about them that change how a post renders for them.

    Liked (`l`), reposted (`r`), bookmarked (`b`) or reacted (`x:name`) to one of `content_ids`; follows one of
    `restricted_authors` (`f`); mentioned in one of `restricted_ids` (`m`). One statement, each part a
    range of a primary key or unique index, whatever the number of viewers.
    """
    rows = await db.fetch(
        """
        SELECT account_id, 'l' AS mark, post_id AS ref FROM likes
            WHERE account_id = ANY($1::bigint[]) AND post_id = ANY($2::bigint[])
        UNION ALL
        SELECT account_id, 'r', reblog_of_id FROM posts
            WHERE account_id = ANY($1::bigint[]) AND reblog_of_id = ANY($2::bigint[])
        UNION ALL
        SELECT account_id, 'x:' || name, post_id FROM reactions
            WHERE account_id = ANY($1::bigint[]) AND post_id = ANY($2::bigint[])
        UNION ALL
        SELECT account_id, 'f', target_account_id FROM follows
            WHERE account_id = ANY($1::bigint[]) AND target_account_id = ANY($4::bigint[])
        UNION ALL
        SELECT account_id, 'm', post_id FROM post_mentions
            WHERE account_id = ANY($1::bigint[]) AND post_id = ANY($3::bigint[])
        UNION ALL
        SELECT account_id, 'b', post_id FROM bookmarks
            WHERE account_id = ANY($1::bigint[]) AND post_id = ANY($2::bigint[])
        """,
        list(viewer_ids),
        list(set(content_ids)),
        list(set(restricted_ids)),
        list(set(restricted_authors)),
    )
    marks: dict[int, set[tuple[str, int | str]]] = {}
    for row in rows:
        marks.setdefault(row["account_id"], set()).add((row["mark"], row["ref"]))
    return marks


async def followers_among(db: Executor, account_id: int, candidates: Sequence[int], *, reposts: bool) -> list[int]:
    """Which of `candidates` follow the account (and show its reposts, for a repost)."""
    if not candidates:
        return []
    rows = await db.fetch(
        """
        SELECT account_id FROM follows
        WHERE target_account_id = $1 AND account_id = ANY($2::bigint[]) AND (show_reposts OR NOT $3)
        """,
        account_id,
        list(candidates),
        reposts,
    )
    return [row["account_id"] for row in rows]
