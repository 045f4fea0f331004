"""Uploads: the three ways bytes arrive (direct to S3, chunked, one form request), and media as clients see it.

Every flow ends the same way: a media row marked `pending` and a `media` job enqueued in one transaction;
the worker (`domain.media_pipeline.finish_upload`) checks and processes the bytes. See docs/media.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import asyncpg

from config import Settings
from core.errors import ApiError, validation_error
from core.times import iso
from domain import media_processing as processing
from domain.media_pipeline import finish_upload
from domain.media_processing import MediaRejected, size_limits
from storage import jobs as job_store
from storage import media as store
from storage import media_files as files
from storage.media import MediaRow
from storage.resources import Resources

MIB = 1024 * 1024
SEGMENT_MAX_BYTES = 5 * MIB  # Twitter's APPEND limit ("5 MB"); clients commonly send 5,000,000 bytes
MAX_SEGMENTS = 1000
PART_BYTES = 8 * MIB  # parts of a direct multipart upload (S3 wants at least 5 MiB but the last)
MAX_PARTS = 10_000
MEDIA_QUEUE = "media"
MEDIA_PROCESS = "process"  # the media queue's one job kind (not a domain event): finish an upload
DESCRIPTION_MAX = 1500
MAX_ATTACHMENTS = 4
CHECK_AFTER_SECS = 1
FINALIZED_VALID_SECS = 86_400
TWITTER_CATEGORIES = frozenset(
    {"tweet_image", "tweet_gif", "tweet_video", "amplify_video", "dm_image", "dm_gif", "dm_video"}
)
_PENDING_TYPES = {"image": "image", "gif": "gifv", "video": "video"}
_MEDIA_KEY_PREFIX = {"image": 3, "gifv": 16, "video": 7}


def largest_limit(settings: Settings) -> int:
    return max(size_limits(settings).values())


def _now() -> datetime:
    return datetime.now(UTC)


def _check_declared(settings: Settings, media_type: str, total_bytes: int, *, status: int) -> str:
    """The limit class of a declared upload, refusing unknown types and sizes over the limit up front."""
    limit_class = processing.declared_limit_class(media_type)
    if limit_class is None:
        raise ApiError(status, f"Unsupported media type {media_type!r}: send JPEG, PNG, GIF, WebP, MP4, MOV or WebM")
    limit = size_limits(settings)[limit_class]
    if total_bytes > limit:
        raise ApiError(status, f"File size exceeds {limit} bytes.")
    return limit_class


async def _enqueue_processing(conn: asyncpg.Connection, media_id: int) -> None:
    await job_store.enqueue(conn, MEDIA_QUEUE, MEDIA_PROCESS, {"media_id": str(media_id)})


async def own_media(res: Resources, account_id: int, media_id: int) -> MediaRow:
    """The caller's media; someone else's is as unknown as a missing one (404)."""
    row = await store.get_media(res.db, media_id)
    if row is None or row.account_id != account_id:
        raise ApiError(404, "Record not found")
    return row


def _check_uploading(row: MediaRow) -> None:
    if row.state != "uploading":
        raise ApiError(409, "This upload is already complete")
    if row.expired:
        raise ApiError(400, "This media id has expired: start a new upload")


# Flow 1: direct upload to S3 ------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectUpload:
    media: MediaRow
    upload_url: str | None  # one PUT for the whole file...
    parts: list[dict[str, Any]]  # ...or one per part: {part_number, size, upload_url}
    expires_at: datetime


def _part_size(total_bytes: int) -> int:
    return max(PART_BYTES, math.ceil(total_bytes / MAX_PARTS))


async def create_direct_upload(
    res: Resources, account_id: int, *, media_type: str, total_bytes: int, file_name: str | None
) -> DirectUpload:
    """Pre-signed PUT URL(s) for the client to send the file straight to S3, bound to its type and size."""
    settings = res.settings
    _check_declared(settings, media_type, total_bytes, status=422)
    media_id = res.ids.next_id()
    key = files.raw_key(media_id)
    bucket = settings.s3_bucket
    url_seconds = min(settings.media_presign_seconds, settings.media_upload_ttl_seconds)
    upload_id: str | None = None
    part_size: int | None = None
    if total_bytes > settings.media_multipart_threshold_bytes:
        part_size = _part_size(total_bytes)
        upload_id = await files.create_multipart(res.s3, bucket, key, content_type=media_type)
    try:
        row = await store.insert_media(
            res.db,
            media_id,
            account_id=account_id,
            flow="direct",
            declared_type=media_type,
            total_bytes=total_bytes,
            raw_key=key,
            ttl_seconds=settings.media_upload_ttl_seconds,
            file_name=file_name,
            s3_upload_id=upload_id,
            part_size=part_size,
        )
    except BaseException:
        if upload_id is not None:
            await files.abort_multipart(res.s3, bucket, key, upload_id)
        raise
    expires_at = min(row.expires_at, _now() + timedelta(seconds=url_seconds))
    if upload_id is None or part_size is None:
        url = await files.presign_put(
            res.s3, bucket, key, content_type=media_type, length=total_bytes, expires=url_seconds
        )
        return DirectUpload(row, url, [], expires_at)
    parts = []
    for number in range(1, math.ceil(total_bytes / part_size) + 1):
        size = min(part_size, total_bytes - (number - 1) * part_size)
        url = await files.presign_part(
            res.s3, bucket, key, upload_id=upload_id, part_number=number, length=size, expires=url_seconds
        )
        parts.append({"part_number": number, "size": size, "upload_url": url})
    return DirectUpload(row, None, parts, expires_at)


async def complete_direct_upload(res: Resources, account_id: int, media_id: int, etags: Sequence[str]) -> MediaRow:
    """The client says its PUTs are done: check that S3 has every byte, then hand the file to the worker."""
    row = await own_media(res, account_id, media_id)
    if row.flow != "direct":
        raise ApiError(404, "Record not found")
    if row.state != "uploading":
        return row  # completed already: a retried request gets the same answer
    _check_uploading(row)
    bucket, key = res.settings.s3_bucket, row.raw_key
    if row.s3_upload_id is not None:
        await _check_parts(res, row, row.s3_upload_id, etags)
    elif await files.object_size(res.s3, bucket, key) is None:
        raise ApiError(409, "The file has not been uploaded yet: PUT it to upload_url first")
    async with res.db.acquire() as conn, conn.transaction():
        locked = await store.lock_media(conn, media_id)
        if locked is None or locked.state != "uploading":
            return await own_media(res, account_id, media_id)
        updated = await store.mark_pending(conn, media_id, part_etags=[files.bare_etag(e) for e in etags] or None)
        await _enqueue_processing(conn, media_id)
    return updated


async def _check_parts(res: Resources, row: MediaRow, upload_id: str, etags: Sequence[str]) -> None:
    part_size = row.part_size or _part_size(row.total_bytes)  # recorded with the upload id, by the same rule
    expected = math.ceil(row.total_bytes / part_size)
    if len(etags) != expected:
        raise validation_error("etags", f"must list the ETag of each of the {expected} parts, in order")
    uploaded = await files.uploaded_parts(res.s3, res.settings.s3_bucket, row.raw_key, upload_id)
    for number, etag in enumerate(etags, start=1):
        found = uploaded.get(number)
        if found is None:
            raise ApiError(409, f"Part {number} has not been uploaded yet")
        if found[0] != files.bare_etag(etag):
            raise validation_error("etags", f"part {number}'s ETag does not match what S3 received")


# Flow 2: chunked upload (Twitter's INIT / APPEND / FINALIZE / STATUS) --------------------------------


async def init_chunked_upload(
    res: Resources, account_id: int, *, media_type: str, total_bytes: int, category: str | None
) -> MediaRow:
    _check_declared(res.settings, media_type, total_bytes, status=400)
    media_id = res.ids.next_id()
    return await store.insert_media(
        res.db,
        media_id,
        account_id=account_id,
        flow="chunked",
        declared_type=media_type,
        total_bytes=total_bytes,
        raw_key=files.raw_key(media_id),
        ttl_seconds=res.settings.media_upload_ttl_seconds,
        category=category,
    )


SEGMENT_TYPE = "application/octet-stream"
SEGMENT_URL_SECONDS = 600  # the API's own PUT of a segment it is forwarding


async def _check_appendable(res: Resources, account_id: int, media_id: int, size: int) -> None:
    row = await own_media(res, account_id, media_id)
    if row.flow != "chunked":
        raise ApiError(400, "This media id was not created by INIT")
    _check_uploading(row)
    if size == 0:
        raise ApiError(400, "The segment is empty")
    if size > SEGMENT_MAX_BYTES:
        raise ApiError(413, f"A segment may be at most {SEGMENT_MAX_BYTES} bytes")
    if size > row.total_bytes:
        raise ApiError(400, "Segments add up to more than total_bytes")


@dataclass
class SegmentStream:
    """A segment forwarded to S3 while it arrives (the handler's PayloadStream), to be recorded after."""

    key: str
    put: files.StreamingPut

    async def write(self, chunk: bytes) -> None:
        await self.put.write(chunk)

    async def finish(self) -> None:
        await self.put.finish()

    async def abort(self) -> None:
        await self.put.abort()


async def open_segment_stream(
    res: Resources, account_id: int, media_id: int, segment_index: int, size: int
) -> SegmentStream:
    """Start staging a segment of known size in S3 before its bytes have all arrived."""
    await _check_appendable(res, account_id, media_id, size)
    key = files.segment_key(media_id, segment_index)
    url = await files.presign_put(
        res.s3, res.settings.s3_bucket, key, content_type=SEGMENT_TYPE, length=size, expires=SEGMENT_URL_SECONDS
    )
    return SegmentStream(key, files.StreamingPut(url, size, content_type=SEGMENT_TYPE))


async def append_segment(
    res: Resources,
    account_id: int,
    media_id: int,
    segment_index: int,
    size: int,
    *,
    body: IO[bytes] | None = None,
    staged_key: str | None = None,
) -> None:
    """Stage one segment in S3 (from `body`, or already there at `staged_key`), replacing an earlier one of
    the same index."""
    bucket = res.settings.s3_bucket
    if staged_key is None:
        if body is None:
            raise ApiError(400, "APPEND needs the segment as `media` (bytes) or `media_data` (base64)")
        await _check_appendable(res, account_id, media_id, size)
        key = files.segment_key(media_id, segment_index)
        await files.put_file(res.s3, bucket, key, body, length=size, content_type=SEGMENT_TYPE)
    else:
        key = staged_key
    try:
        outcome = await store.record_segment(res.db, media_id, segment_index, size, key)
        if not outcome.saved:
            if outcome.open:
                raise ApiError(400, "Segments add up to more than total_bytes")
            _check_uploading(await own_media(res, account_id, media_id))
            raise ApiError(409, "This upload is already complete")
    except BaseException:
        await files.delete_keys(res.s3, bucket, [key])
        raise
    if outcome.replaced is not None and outcome.replaced != key:
        await files.delete_keys(res.s3, bucket, [outcome.replaced])


async def finalize_chunked_upload(res: Resources, account_id: int, media_id: int) -> MediaRow:
    """All segments are in: check they make up the whole file, then hand it to the worker."""
    await own_media(res, account_id, media_id)
    async with res.db.acquire() as conn, conn.transaction():
        row = await store.lock_media(conn, media_id)
        if row is None:
            raise ApiError(404, "Record not found")
        if row.flow != "chunked":
            raise ApiError(400, "This media id was not created by INIT")
        if row.state != "uploading":
            return row  # FINALIZE again: the same answer
        _check_uploading(row)
        segments = await store.segments(conn, media_id)
        if not segments:
            raise ApiError(400, "No segments were uploaded: APPEND the file before FINALIZE")
        for expected, segment in enumerate(segments):
            if segment.segment_index != expected:
                raise ApiError(400, f"Segment {expected} is missing")
        if sum(segment.size for segment in segments) != row.total_bytes:
            raise ApiError(400, "Segments do not add up to provided total file size.")
        updated = await store.mark_pending(conn, media_id)
        await _enqueue_processing(conn, media_id)
    return updated


def expires_after_secs(row: MediaRow) -> int:
    """Seconds the media id stays usable: the upload's deadline until FINALIZE; afterwards processed media
    do not expire, so Twitter's usual day is a promise kept."""
    remaining = max(0, int((row.expires_at - _now()).total_seconds()))
    return remaining if row.state == "uploading" else max(remaining, FINALIZED_VALID_SECS)


def twitter_media(row: MediaRow) -> dict[str, Any]:
    """The media object of Twitter's v1.1 upload API (INIT, FINALIZE and STATUS answers)."""
    kind = row.kind or pending_type(row.declared_type)
    out: dict[str, Any] = {
        "media_id": row.id,
        "media_id_string": str(row.id),
        "media_key": f"{_MEDIA_KEY_PREFIX.get(kind, 3)}_{row.id}",
        "expires_after_secs": expires_after_secs(row),
    }
    if row.state == "uploading":
        return out
    out["size"] = row.total_bytes
    info: dict[str, Any] = {"state": row.state, "progress_percent": row.progress}
    if row.state in ("pending", "in_progress"):
        info["check_after_secs"] = CHECK_AFTER_SECS
    if row.state == "failed":
        info["error"] = {"code": row.error_code, "name": row.error_name, "message": row.error_message}
    out["processing_info"] = info
    if row.state == "succeeded":
        if row.kind == "image":
            original = (row.meta or {})["original"]  # set whenever the media succeeded
            out["image"] = {"image_type": row.content_type, "w": original["width"], "h": original["height"]}
        else:
            out["video"] = {"video_type": row.content_type}
    return out


# Flow 3: one form request (Mastodon's POST /api/v1/media and /api/v2/media) ---------------------------


@dataclass(frozen=True)
class FormUpload:
    path: Path
    file: IO[bytes]
    size: int
    content_type: str | None
    file_name: str | None


async def create_form_upload(
    res: Resources,
    account_id: int,
    upload: FormUpload,
    *,
    description: str | None,
    focus: tuple[float, float] | None,
    wait: bool,
) -> MediaRow:
    """Take a file sent in one request. Still images up to `media_sync_max_bytes` (everything, with `wait`)
    are processed before answering; the rest goes to the worker."""
    settings = res.settings
    if upload.size == 0:
        raise validation_error("file", "is empty")
    upload.file.seek(0)
    file_type = processing.sniff(upload.file.read(processing.SNIFF_BYTES))
    if file_type is None:
        raise validation_error("file", "is not a supported type (JPEG, PNG, GIF, WebP, MP4, MOV or WebM)")
    try:
        processing.check_declared(file_type, upload.content_type, upload.file_name)
    except MediaRejected as exc:
        raise ApiError(422, f"Validation failed: file {exc.message}") from None
    limit = size_limits(settings)[file_type.limit_class]
    if upload.size > limit:
        raise validation_error("file", f"must be at most {limit} bytes for this type")
    try:
        # From the header alone, before anything decodes it: a small file may declare a huge image.
        await processing.check_pixels(upload.path, file_type, settings.media_max_pixels)
    except MediaRejected as exc:
        raise ApiError(422, f"Validation failed: file {exc.message}") from None
    media_id = res.ids.next_id()
    fields: dict[str, Any] = {
        "account_id": account_id,
        "flow": "form",
        "declared_type": file_type.mime,
        "total_bytes": upload.size,
        "raw_key": files.raw_key(media_id),
        "ttl_seconds": settings.media_upload_ttl_seconds,
        "file_name": upload.file_name,
        "description": description,
        "focus": focus,
    }
    still_image = file_type.limit_class == "image"
    if wait or (still_image and upload.size <= settings.media_sync_max_bytes):
        await store.insert_media(res.db, media_id, **fields)
        try:
            row = await finish_upload(res, media_id, source=upload.path)
        except BaseException:
            # No job will take this one over: leave nothing behind, neither row nor files.
            await store.delete_media(res.db, media_id)
            await files.delete_under(res.s3, settings.s3_bucket, files.output_prefix(media_id))
            raise
        if row is None or row.state != "succeeded":
            await store.delete_media(res.db, media_id)
            message = row.error_message if row is not None else "the file could not be processed"
            raise ApiError(422, f"Validation failed: file {message}")
        return row
    bucket = settings.s3_bucket
    await files.put_file(
        res.s3, bucket, fields["raw_key"], upload.file, length=upload.size, content_type=file_type.mime
    )
    try:
        async with res.db.acquire() as conn, conn.transaction():
            row = await store.insert_media(conn, media_id, state="pending", **fields)
            await _enqueue_processing(conn, media_id)
    except BaseException:
        await files.delete_keys(res.s3, bucket, [fields["raw_key"]])
        raise
    return row


def parse_focus(raw: str | None) -> tuple[float, float] | None:
    """Mastodon's focal point, "x,y" with each from -1.0 to 1.0."""
    if raw is None or raw.strip() == "":
        return None
    parts = raw.split(",")
    try:
        x, y = (float(part) for part in parts)
    except ValueError:
        raise validation_error("focus", "must be two numbers from -1.0 to 1.0, as x,y") from None
    if not (-1 <= x <= 1 and -1 <= y <= 1) or math.isnan(x) or math.isnan(y):
        raise validation_error("focus", "must be two numbers from -1.0 to 1.0, as x,y")
    return (x, y)


async def update_media(
    res: Resources, account_id: int, media_id: int, *, description: str | None, focus: tuple[float, float] | None
) -> MediaRow:
    """Change the description or focal point of media not yet attached to a post (as Mastodon allows)."""
    row = await own_media(res, account_id, media_id)
    if row.post_id is not None:
        raise ApiError(404, "Record not found")
    updated = await store.update_details(
        res.db, media_id, description=description, focus=focus, set_focus=focus is not None
    )
    if updated is None:
        raise ApiError(404, "Record not found")
    return updated


# Media as clients see it ----------------------------------------------------------------------------


def pending_type(declared_type: str) -> str:
    """The attachment type of media not processed yet, from what the client declared."""
    limit_class = processing.declared_limit_class(declared_type)
    return _PENDING_TYPES.get(limit_class or "", "unknown")


def file_url(settings: Settings, key: str) -> str:
    """Where clients fetch a processed file, for as long as it exists: a public object under
    CHIRP_MEDIA_PUBLIC_URL, or Chirp's own route for the same key, which redirects to a fresh signed GET
    (`signed_file_url`). Either never expires, so apps and proxies may cache posts and their pictures.
    The key (`media/<id>/<attempt>/original.jpg`) holds the processing attempt's random nonce, so the
    addresses of media on private posts cannot be guessed from post or media ids."""
    if settings.media_urls == "public":
        base = settings.media_public_url or f"{settings.s3_endpoint}/{settings.s3_bucket}"
        return f"{base}/{key}"
    return f"{settings.base_url}/{key}"


async def signed_file_url(res: Resources, media_id: int, key: str) -> str:
    """A signed GET of one of a media's files, valid for CHIRP_MEDIA_URL_SECONDS; 404 for media that are
    gone, not processed, or a key that is not one of theirs."""
    row = await store.get_media(res.db, media_id)
    if row is None or row["state"] != "succeeded" or key not in (row["file_key"], row["preview_key"]):
        raise ApiError(404, "Record not found")
    settings = res.settings
    return await files.presign_get(res.s3, settings.s3_bucket, key, expires=settings.media_url_seconds)


async def media_entity(res: Resources, row: MediaRow) -> dict[str, Any]:
    """Mastodon's MediaAttachment. Until processing succeeds, `url` and `preview_url` are null."""
    meta: dict[str, Any] = dict(row.meta or {})
    if row.focus_x is not None and row.focus_y is not None:  # set together
        meta["focus"] = {"x": round(row.focus_x, 2), "y": round(row.focus_y, 2)}
    # Succeeded media have their files (the table's CHECK says so).
    done = row.state == "succeeded"
    file_key, preview_key = (row.file_key, row.preview_key) if done else (None, None)
    return {
        "id": str(row.id),
        "type": row.kind if done else pending_type(row.declared_type),
        "url": file_url(res.settings, file_key) if file_key is not None else None,
        "preview_url": file_url(res.settings, preview_key) if preview_key is not None else None,
        "remote_url": None,
        "preview_remote_url": None,
        "text_url": None,
        "meta": meta,
        "description": row.description,
        "blurhash": row.blurhash,
    }


def direct_upload_entity(upload: DirectUpload, media_url: str) -> dict[str, Any]:
    row = upload.media
    return {
        "media_id": str(row.id),
        "upload_url": upload.upload_url,
        "method": "PUT",
        "headers": {"Content-Type": row.declared_type},
        "parts": upload.parts,
        "part_size": row.part_size,
        "media_url": media_url,
        "expires_at": iso(upload.expires_at),
    }


# Posts ----------------------------------------------------------------------------------------------


async def attach_media(conn: asyncpg.Connection, account_id: int, media_ids: Sequence[int], post_id: int) -> None:
    """Attach the author's processed media to a new (or edited) post, inside the post's transaction.

    Up to 4 images, or 1 video or GIF; each the author's own, processed, and not on another post.
    """
    if not media_ids:
        return
    if len(media_ids) > MAX_ATTACHMENTS:
        raise validation_error("media_ids", f"may hold at most {MAX_ATTACHMENTS} items")
    if len(set(media_ids)) != len(media_ids):
        raise validation_error("media_ids", "lists the same media twice")
    rows = {row.id: row for row in await store.lock_for_attaching(conn, media_ids)}
    for media_id in media_ids:
        row = rows.get(media_id)
        if row is None or row.account_id != account_id:
            raise validation_error("media_ids", f"contains an unknown media id {media_id}")
        if row.post_id is not None and row.post_id != post_id:  # an edit keeps the post's own media
            raise validation_error("media_ids", f"contains media {media_id}, which is attached to another post")
        if row.state == "failed":
            raise validation_error("media_ids", f"contains media {media_id}, which could not be processed")
        if row.state != "succeeded":
            raise ApiError(422, "Cannot attach files that have not finished processing. Try again in a moment!")
    if len(media_ids) > 1 and any(rows[m].kind != "image" for m in media_ids):
        raise validation_error("media_ids", "may hold up to 4 images, or 1 video or GIF")
    await store.attach(conn, post_id, media_ids)


async def media_attachments(res: Resources, post_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The media_attachments of many posts, in one query: post id -> attachments in order."""
    out: dict[int, list[dict[str, Any]]] = {}
    if not post_ids:
        return out
    for row in await store.for_posts(res.db, list(set(post_ids))):
        if row.post_id is not None:  # always: they were found by it
            out.setdefault(row.post_id, []).append(await media_entity(res, row))
    return out
