"""Media rows and the segments of chunked uploads (tables `media`, `media_segments`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from storage.db import Executor
from storage.rows import Row, columns, row_of, rows_of


@dataclass(slots=True, frozen=True)
class MediaRow(Row):
    """A row of `media`: an upload, from its first byte to the attachment of a post."""

    id: int
    account_id: int
    flow: str  # direct, chunked or form
    state: str  # uploading, pending, in_progress, succeeded or failed
    declared_type: str
    category: str | None
    file_name: str | None
    total_bytes: int
    raw_key: str
    s3_upload_id: str | None
    part_size: int | None
    part_etags: list[str] | None
    description: str | None
    focus_x: float | None
    focus_y: float | None
    attempt: str | None
    progress: int
    kind: str | None  # image, gifv or video, once processed
    content_type: str | None
    file_key: str | None
    preview_key: str | None
    file_size: int | None
    meta: dict[str, Any] | None
    blurhash: str | None
    error_code: int | None
    error_name: str | None
    error_message: str | None
    post_id: int | None
    position: int | None
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    processed_at: datetime | None
    expired: bool  # expires_at has passed


MEDIA_COLUMNS = columns(MediaRow, "", {"expired": "expires_at < now() AS expired"})


@dataclass(slots=True, frozen=True)
class SegmentRow(Row):
    """A staged segment of a chunked upload."""

    segment_index: int
    size: int
    object_key: str


async def insert_media(
    db: Executor,
    media_id: int,
    *,
    account_id: int,
    flow: str,
    declared_type: str,
    total_bytes: int,
    raw_key: str,
    ttl_seconds: int,
    category: str | None = None,
    file_name: str | None = None,
    s3_upload_id: str | None = None,
    part_size: int | None = None,
    description: str | None = None,
    focus: tuple[float, float] | None = None,
    state: str = "uploading",
) -> MediaRow:
    row = await db.fetchrow(
        f"""
        INSERT INTO media (id, account_id, flow, state, declared_type, category, file_name, total_bytes, raw_key,
                           s3_upload_id, part_size, description, focus_x, focus_y, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, now() + make_interval(secs => $15))
        RETURNING {MEDIA_COLUMNS}
        """,
        media_id,
        account_id,
        flow,
        state,
        declared_type,
        category,
        file_name,
        total_bytes,
        raw_key,
        s3_upload_id,
        part_size,
        description,
        focus[0] if focus else None,
        focus[1] if focus else None,
        ttl_seconds,
    )
    return MediaRow(*row)


async def get_media(db: Executor, media_id: int) -> MediaRow | None:
    row = await db.fetchrow(f"SELECT {MEDIA_COLUMNS} FROM media WHERE id = $1", media_id)
    return row_of(MediaRow, row)


async def lock_media(conn: asyncpg.Connection, media_id: int) -> MediaRow | None:
    """The row, locked until the caller's transaction ends: uploads change state one request at a time."""
    row = await conn.fetchrow(f"SELECT {MEDIA_COLUMNS} FROM media WHERE id = $1 FOR UPDATE", media_id)
    return row_of(MediaRow, row)


async def mark_pending(conn: Executor, media_id: int, *, part_etags: Sequence[str] | None = None) -> MediaRow:
    """An upload whose bytes are all in: the worker may take it now."""
    row = await conn.fetchrow(
        f"""
        UPDATE media SET state = 'pending', progress = 0, part_etags = coalesce($2, part_etags), updated_at = now()
        WHERE id = $1
        RETURNING {MEDIA_COLUMNS}
        """,
        media_id,
        list(part_etags) if part_etags is not None else None,
    )
    return MediaRow(*row)


async def update_details(
    db: Executor, media_id: int, *, description: str | None, focus: tuple[float, float] | None, set_focus: bool
) -> MediaRow | None:
    """Change the description (None keeps it) and, when `set_focus`, the focal point."""
    row = await db.fetchrow(
        f"""
        UPDATE media SET description = coalesce($2, description),
                         focus_x = CASE WHEN $3 THEN $4 ELSE focus_x END,
                         focus_y = CASE WHEN $3 THEN $5 ELSE focus_y END,
                         updated_at = now()
        WHERE id = $1
        RETURNING {MEDIA_COLUMNS}
        """,
        media_id,
        description,
        set_focus,
        focus[0] if focus else None,
        focus[1] if focus else None,
    )
    return row_of(MediaRow, row)


# Segments of chunked uploads ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentOutcome:
    open: bool  # the upload was still taking segments
    saved: bool  # the segment was recorded (it fits within total_bytes)
    replaced: str | None  # the object key of the segment it replaced


async def record_segment(db: Executor, media_id: int, segment_index: int, size: int, key: str) -> SegmentOutcome:
    """Record a staged segment, replacing one of the same index, in one statement.

    FOR SHARE on the media row orders this against FINALIZE (which locks it FOR UPDATE): a segment is
    either recorded before FINALIZE counts the segments, or refused because the upload is no longer open.
    """
    row = await db.fetchrow(
        """
        WITH target AS (
            SELECT id, total_bytes FROM media
            WHERE id = $1 AND state = 'uploading' AND expires_at > now()
            FOR SHARE
        ), previous AS (
            SELECT object_key FROM media_segments WHERE media_id = $1 AND segment_index = $2
        ), saved AS (
            INSERT INTO media_segments (media_id, segment_index, size, object_key)
            SELECT id, $2::int, $3::bigint, $4::text FROM target
            WHERE (SELECT coalesce(sum(size), 0) FROM media_segments WHERE media_id = $1 AND segment_index <> $2)
                  + $3::bigint <= target.total_bytes
            ON CONFLICT (media_id, segment_index) DO UPDATE SET size = excluded.size, object_key = excluded.object_key
            RETURNING media_id
        )
        SELECT EXISTS (SELECT FROM target) AS open, EXISTS (SELECT FROM saved) AS saved,
               (SELECT object_key FROM previous) AS replaced
        """,
        media_id,
        segment_index,
        size,
        key,
    )
    return SegmentOutcome(row["open"], row["saved"], row["replaced"])


async def segments(db: Executor, media_id: int) -> list[SegmentRow]:
    rows = await db.fetch(
        f"SELECT {columns(SegmentRow)} FROM media_segments WHERE media_id = $1 ORDER BY segment_index",
        media_id,
    )
    return rows_of(SegmentRow, rows)


# Processing -------------------------------------------------------------------------------------------


async def start_attempt(db: Executor, media_id: int, attempt: str, states: Sequence[str]) -> MediaRow | None:
    """Take the media for processing attempt `attempt`, if it is in one of `states`; None otherwise.

    `in_progress` among `states` lets a retry take over from a worker that died mid-job.
    """
    row = await db.fetchrow(
        f"""
        UPDATE media SET state = 'in_progress', attempt = $2, progress = 5, updated_at = now()
        WHERE id = $1 AND state = ANY($3::text[])
        RETURNING {MEDIA_COLUMNS}
        """,
        media_id,
        attempt,
        list(states),
    )
    return row_of(MediaRow, row)


async def set_progress(db: Executor, media_id: int, attempt: str, percent: int) -> None:
    await db.execute(
        "UPDATE media SET progress = greatest(progress, $3) WHERE id = $1 AND attempt = $2 AND state = 'in_progress'",
        media_id,
        attempt,
        percent,
    )


async def publish(
    db: Executor,
    media_id: int,
    attempt: str,
    *,
    kind: str,
    content_type: str,
    file_key: str,
    preview_key: str,
    file_size: int,
    meta: dict[str, Any],
    blurhash: str,
) -> bool:
    """Make the processed files visible, in one statement; False when another attempt owns the media now."""
    done = await db.fetchval(
        """
        UPDATE media SET state = 'succeeded', progress = 100, kind = $3, content_type = $4, file_key = $5,
                         preview_key = $6, file_size = $7, meta = $8, blurhash = $9,
                         processed_at = now(), updated_at = now()
        WHERE id = $1 AND attempt = $2 AND state = 'in_progress'
        RETURNING id
        """,
        media_id,
        attempt,
        kind,
        content_type,
        file_key,
        preview_key,
        file_size,
        meta,
        blurhash,
    )
    return done is not None


async def mark_failed(db: Executor, media_id: int, attempt: str, *, code: int, name: str, message: str) -> bool:
    done = await db.fetchval(
        """
        UPDATE media SET state = 'failed', error_code = $3, error_name = $4, error_message = $5, updated_at = now()
        WHERE id = $1 AND attempt = $2 AND state = 'in_progress'
        RETURNING id
        """,
        media_id,
        attempt,
        code,
        name,
        message[:1000],
    )
    return done is not None


# Expiry -----------------------------------------------------------------------------------------------


async def expired_uploads(db: Executor, *, limit: int) -> list[MediaRow]:
    """Uploads whose bytes never all arrived in time."""
    rows = await db.fetch(
        f"""
        SELECT {MEDIA_COLUMNS} FROM media
        WHERE state = 'uploading' AND expires_at < now()
        ORDER BY expires_at LIMIT $1
        """,
        limit,
    )
    return rows_of(MediaRow, rows)


async def delete_expired_upload(db: Executor, media_id: int) -> bool:
    deleted = await db.fetchval(
        "DELETE FROM media WHERE id = $1 AND state = 'uploading' AND expires_at < now() RETURNING id", media_id
    )
    return deleted is not None


async def delete_media(db: Executor, media_id: int) -> None:
    await db.execute("DELETE FROM media WHERE id = $1", media_id)


async def forget_segments(db: Executor, media_id: int) -> None:
    await db.execute("DELETE FROM media_segments WHERE media_id = $1", media_id)


async def media_states(db: Executor, media_ids: Sequence[int]) -> dict[int, str]:
    rows = await db.fetch("SELECT id, state FROM media WHERE id = ANY($1::bigint[])", list(media_ids))
    return {row["id"]: row["state"] for row in rows}


# Posts ------------------------------------------------------------------------------------------------


async def lock_for_attaching(conn: asyncpg.Connection, media_ids: Sequence[int]) -> list[MediaRow]:
    rows = await conn.fetch(
        f"SELECT {MEDIA_COLUMNS} FROM media WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
        list(media_ids),
    )
    return rows_of(MediaRow, rows)


async def attach(conn: asyncpg.Connection, post_id: int, media_ids: Sequence[int]) -> None:
    """Attach media to a post, in the given order."""
    await conn.execute(
        """
        UPDATE media SET post_id = $1, position = t.position, updated_at = now()
        FROM unnest($2::bigint[]) WITH ORDINALITY AS t(id, position)
        WHERE media.id = t.id
        """,
        post_id,
        list(media_ids),
    )


async def for_posts(db: Executor, post_ids: Sequence[int]) -> list[MediaRow]:
    rows = await db.fetch(
        f"SELECT {MEDIA_COLUMNS} FROM media WHERE post_id = ANY($1::bigint[]) ORDER BY post_id, position",
        list(post_ids),
    )
    return rows_of(MediaRow, rows)
