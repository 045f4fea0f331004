"""Edited posts: the versions of a post (table `post_versions`), and rewriting the posts row in place.

The posts row is always the current version, so every read of posts stays as it is; only the history, the
edit itself and the stream resume (edits since a cursor) read this table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.db import Executor
from storage.rows import Row, columns, rows_of


@dataclass(slots=True, frozen=True)
class VersionRow(Row):
    """One version of a post, as its history shows it."""

    id: int
    post_id: int
    text: str
    entities: list[dict[str, Any]]
    spoiler_text: str
    sensitive: bool
    language: str | None
    media: list[dict[str, Any]]  # MediaAttachment entities as that version showed them
    created_at: datetime
    poll_options: list[str] | None  # the poll's options in that version; None: it had no poll


VERSION_COLUMNS = columns(VersionRow)


@dataclass(frozen=True)
class NewVersion:
    id: int
    post_id: int
    text: str
    entities: list[dict[str, Any]]
    spoiler_text: str
    sensitive: bool
    language: str | None
    media: list[dict[str, Any]]
    created_at: datetime | None = None  # now, unless given (the original version keeps the post's time)
    poll_options: Sequence[str] | None = None


async def versions(db: Executor, post_id: int) -> list[VersionRow]:
    """Every version of a post, oldest first (none for a post never edited)."""
    rows = await db.fetch(f"SELECT {VERSION_COLUMNS} FROM post_versions WHERE post_id = $1 ORDER BY id", post_id)
    return rows_of(VersionRow, rows)


async def has_versions(db: Executor, post_id: int) -> bool:
    return bool(await db.fetchval("SELECT EXISTS (SELECT 1 FROM post_versions WHERE post_id = $1)", post_id))


async def insert_version(conn: Executor, version: NewVersion) -> None:
    await conn.execute(
        """
        INSERT INTO post_versions
            (id, post_id, text, entities, spoiler_text, sensitive, language, media, created_at, poll_options)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, now()), $10::text[])
        """,
        version.id,
        version.post_id,
        version.text,
        version.entities,
        version.spoiler_text,
        version.sensitive,
        version.language,
        version.media,
        version.created_at,
        None if version.poll_options is None else list(version.poll_options),
    )


@dataclass(frozen=True)
class PostContent:
    """What an edit may change on the posts row."""

    text: str
    entities: list[dict[str, Any]]
    spoiler_text: str
    sensitive: bool
    language: str | None
    has_media: bool


async def rewrite_post(conn: Executor, post_id: int, content: PostContent) -> datetime:
    """Put the new version on the posts row; returns its `edited_at`."""
    edited: datetime = await conn.fetchval(
        """
        UPDATE posts SET text = $2, entities = $3, spoiler_text = $4, sensitive = $5, language = $6,
                         has_media = $7, edited_at = now()
        WHERE id = $1
        RETURNING edited_at
        """,
        post_id,
        content.text,
        content.entities,
        content.spoiler_text,
        content.sensitive,
        content.language,
        content.has_media,
    )
    return edited


async def replace_tags(conn: Executor, post_id: int, tags: Sequence[str]) -> None:
    """The post's hashtags become `tags` (removed ones go, new ones come)."""
    await conn.execute("DELETE FROM post_tags WHERE post_id = $1 AND tag <> ALL($2::text[])", post_id, list(tags))
    await conn.execute(
        "INSERT INTO post_tags (tag, post_id) SELECT unnest($2::text[]), $1 ON CONFLICT DO NOTHING", post_id, list(tags)
    )


async def detach_media_except(conn: Executor, post_id: int, keep: Sequence[int]) -> None:
    """Media an edit took off the post are no longer attached to it (their files stay: old versions show them)."""
    await conn.execute(
        "UPDATE media SET post_id = NULL, position = NULL, updated_at = now() WHERE post_id = $1 AND id <> ALL($2)",
        post_id,
        list(keep),
    )


async def set_descriptions(conn: Executor, post_id: int, descriptions: dict[int, str]) -> None:
    """New descriptions of media attached to the post (others are left alone)."""
    if descriptions:
        await conn.execute(
            """
            UPDATE media SET description = t.description, updated_at = now()
            FROM unnest($2::bigint[], $3::text[]) AS t(id, description)
            WHERE media.id = t.id AND media.post_id = $1
            """,
            post_id,
            list(descriptions),
            list(descriptions.values()),
        )


async def interested_accounts(db: Executor, post_id: int) -> list[int]:
    """Who reposted or quoted the post (the `update` notifications of an edit), once each."""
    rows = await db.fetch(
        """
        SELECT account_id FROM posts WHERE reblog_of_id = $1
        UNION
        SELECT account_id FROM posts WHERE quote_of_id = $1
        """,
        post_id,
    )
    return [row["account_id"] for row in rows]


async def edited_since(db: Executor, account_id: int, after_id: int, limit: int) -> list[int]:
    """Posts in the account's home (its own, and those of accounts it follows), created at or before
    `after_id` and edited after it: what a stream resuming from `after_id` saw in an older version.
    Newest edit first."""
    rows = await db.fetch(
        """
        SELECT v.post_id, max(v.id) AS latest FROM post_versions v JOIN posts p ON p.id = v.post_id
        WHERE v.id > $2 AND v.post_id <= $2
          AND (p.account_id = $1
               OR p.account_id IN (SELECT target_account_id FROM follows WHERE account_id = $1))
        GROUP BY v.post_id
        ORDER BY latest
        LIMIT $3
        """,
        account_id,
        after_id,
        limit,
    )
    return [row["post_id"] for row in rows]
