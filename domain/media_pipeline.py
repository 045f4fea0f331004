"""Finishing uploads: what the `media` worker does after FINALIZE or complete, and the expiry sweep.

`finish_upload` gathers the raw bytes (completing a direct multipart upload, or joining the segments of a
chunked one), checks the byte count, sniffs the real type, enforces the size limits, processes the file and
publishes the results. It is idempotent and safe to re-run after a worker died mid-job: each attempt writes
its files under keys of its own, and only the one UPDATE that marks the row succeeded makes them visible.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from botocore.exceptions import ClientError

from domain import media_processing as processing
from domain.media_processing import MediaRejected, Processed, size_limits
from storage import media as store
from storage import media_files as files
from storage.media import MediaRow, SegmentRow
from storage.resources import Resources

log = logging.getLogger("chirp.media")

SWEEP_BATCH = 100
# A multipart upload S3 holds for longer than the upload TTL plus this, with no media row waiting for it,
# is debris of a crash between creating the upload and recording it.
ORPHAN_GRACE = timedelta(minutes=10)


def _incomplete(message: str) -> MediaRejected:
    return MediaRejected(message, code=2, name="UploadIncomplete")


async def finish_upload(
    res: Resources, media_id: int, *, source: Path | None = None, last_attempt: bool = False
) -> MediaRow | None:
    """Process one upload; returns the media row as it ends up (None when it no longer exists).

    With `source` (a form upload processed during its request) the bytes are read from that local file and
    the row must still be `uploading`; otherwise they come from S3 and the row is `pending` (or `in_progress`,
    left so by a worker that died).
    """
    attempt = secrets.token_hex(8)
    states = ("uploading",) if source is not None else ("pending", "in_progress")
    row = await store.start_attempt(res.db, media_id, attempt, states)
    if row is None:
        return await store.get_media(res.db, media_id)  # done already, or gone: nothing to do
    workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="chirp-media-"))
    try:
        await _process(res, row, attempt, workdir, source)
    except MediaRejected as exc:
        log.info("media %s refused: %s", media_id, exc.message)
        await store.mark_failed(res.db, media_id, attempt, code=exc.code, name=exc.name, message=exc.message)
        await _remove_upload(res, row)
    except Exception:
        if last_attempt:  # the job will not run again: say so rather than leave it "in progress" forever
            log.exception("media %s failed on its last attempt", media_id)
            await store.mark_failed(
                res.db, media_id, attempt, code=4, name="InternalError", message="The media could not be processed."
            )
            await _remove_upload(res, row)
        raise
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)
    return await store.get_media(res.db, media_id)


async def _process(res: Resources, row: MediaRow, attempt: str, workdir: Path, source: Path | None) -> None:
    media_id = row.id

    async def progress(percent: int) -> None:
        await store.set_progress(res.db, media_id, attempt, percent)

    if source is None:
        head = await _raw_head(res, row)
    else:
        head = await asyncio.to_thread(_read_head, source)
    file_type = processing.sniff(head)
    if file_type is None:
        raise MediaRejected("Unsupported media type: send JPEG, PNG, GIF, WebP, MP4, MOV or WebM.")
    processing.check_declared(file_type, row.declared_type, row.file_name)
    limit = size_limits(res.settings)[file_type.limit_class]
    if row.total_bytes > limit:
        raise processing.too_large(limit)
    await progress(10)
    if source is None:
        source = workdir / f"upload.{file_type.extension}"
        with await asyncio.to_thread(source.open, "wb") as sink:
            received = await _download(res, row, sink)
        if received != row.total_bytes:
            raise _incomplete(f"Received {received} bytes, expected {row.total_bytes}.")
    await progress(25)
    limits = processing.Limits.from_settings(res.settings)
    processed = await processing.process_file(source, file_type, workdir, progress, limits)
    await progress(90)
    await _publish(res, row, attempt, processed)


def _read_head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(processing.SNIFF_BYTES)


async def _raw_head(res: Resources, row: MediaRow) -> bytes:
    """The first bytes of the upload, after checking that S3 holds all of it."""
    bucket = res.settings.s3_bucket
    if row.flow == "chunked":
        segments = await _checked_segments(res, row)
        return await files.read_head(res.s3, bucket, segments[0].object_key, processing.SNIFF_BYTES)
    if row.s3_upload_id is not None:
        await _complete_multipart(res, row, row.s3_upload_id)
    size = await files.object_size(res.s3, bucket, row.raw_key)
    if size is None:
        raise _incomplete("Nothing was uploaded.")
    if size != row.total_bytes:
        raise _incomplete(f"Received {size} bytes, expected {row.total_bytes}.")
    return await files.read_head(res.s3, bucket, row.raw_key, processing.SNIFF_BYTES)


async def _checked_segments(res: Resources, row: MediaRow) -> list[SegmentRow]:
    segments = await store.segments(res.db, row.id)
    if [s.segment_index for s in segments] != list(range(len(segments))) or not segments:
        raise _incomplete("Segments are missing.")
    if sum(s.size for s in segments) != row.total_bytes:
        raise _incomplete("Segments do not add up to provided total file size.")
    return segments


async def _complete_multipart(res: Resources, row: MediaRow, upload_id: str) -> None:
    bucket, key = res.settings.s3_bucket, row.raw_key
    try:
        await files.complete_multipart(res.s3, bucket, key, upload_id, list(row.part_etags or []))
    except ClientError as exc:
        code = files.error_code(exc)
        if code == "NoSuchUpload" and await files.object_size(res.s3, bucket, key) is not None:
            return  # an earlier attempt completed it before dying
        if code in ("NoSuchUpload", "InvalidPart", "InvalidPartOrder", "EntityTooSmall"):
            raise _incomplete(f"The multipart upload cannot be completed ({code}).") from None
        raise


async def _download(res: Resources, row: MediaRow, sink: IO[bytes]) -> int:
    """Stream the whole upload into `sink`: one object, or the segments in order."""
    bucket = res.settings.s3_bucket
    if row.flow != "chunked":
        return await files.copy_to_file(res.s3, bucket, row.raw_key, sink)
    total = 0
    for segment in await _checked_segments(res, row):
        total += await files.copy_to_file(res.s3, bucket, segment.object_key, sink)
    return total


async def _publish(res: Resources, row: MediaRow, attempt: str, processed: Processed) -> None:
    media_id, bucket = row.id, res.settings.s3_bucket
    file_key = files.output_key(media_id, attempt, f"original.{processed.file.extension}")
    preview_key = files.output_key(media_id, attempt, f"small.{processed.preview.extension}")
    file_size = await _upload(res, file_key, processed.file)
    await _upload(res, preview_key, processed.preview)
    published = await store.publish(
        res.db,
        media_id,
        attempt,
        kind=processed.kind,
        content_type=processed.file.content_type,
        file_key=file_key,
        preview_key=preview_key,
        file_size=file_size,
        meta=processed.meta,
        blurhash=processed.blurhash,
    )
    if not published:  # another attempt took over (this one's lease ran out): its files win
        await files.delete_keys(res.s3, bucket, [file_key, preview_key])
        return
    await _remove_upload(res, row)
    # Files of attempts that died before publishing are named by no row: remove them.
    await files.delete_under(res.s3, bucket, files.output_prefix(media_id), keep=(file_key, preview_key))


async def _upload(res: Resources, key: str, output: processing.Output) -> int:
    size = (await asyncio.to_thread(output.path.stat)).st_size
    with await asyncio.to_thread(output.path.open, "rb") as body:
        await files.put_file(res.s3, res.settings.s3_bucket, key, body, length=size, content_type=output.content_type)
    return size


async def _remove_upload(res: Resources, row: MediaRow) -> None:
    """The raw upload is not needed once the media succeeded or failed."""
    bucket = res.settings.s3_bucket
    if row.s3_upload_id is not None:
        await files.abort_multipart(res.s3, bucket, row.raw_key, row.s3_upload_id)
    await files.delete_under(res.s3, bucket, files.upload_prefix(row.id))
    await store.forget_segments(res.db, row.id)


# Expiry ---------------------------------------------------------------------------------------------


async def expire_uploads(res: Resources) -> int:
    """Remove uploads not finished in time: abort their S3 multipart uploads, delete their staged bytes
    and their rows. Returns how many went. Safe to run in several workers at once."""
    removed = 0
    while True:
        rows = await store.expired_uploads(res.db, limit=SWEEP_BATCH)
        for row in rows:
            await _remove_upload(res, row)
            if await store.delete_expired_upload(res.db, row.id):
                removed += 1
        if len(rows) < SWEEP_BATCH:
            break
    await _abort_orphaned_multipart(res)
    return removed


async def _abort_orphaned_multipart(res: Resources) -> None:
    bucket = res.settings.s3_bucket
    cutoff = datetime.now(UTC) - timedelta(seconds=res.settings.media_upload_ttl_seconds) - ORPHAN_GRACE
    stale = [u for u in await files.multipart_uploads(res.s3, bucket, "uploads/") if u.initiated < cutoff]
    if not stale:
        return
    ids = {u.key: _media_id_of(u.key) for u in stale}
    states = await store.media_states(res.db, [i for i in ids.values() if i is not None])
    for upload in stale:
        media_id = ids[upload.key]
        if media_id is None or states.get(media_id) not in ("uploading", "pending", "in_progress"):
            await files.abort_multipart(res.s3, bucket, upload.key, upload.upload_id)


def _media_id_of(key: str) -> int | None:
    parts = key.split("/")
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else None
