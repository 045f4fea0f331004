"""Media objects in the S3 bucket: where each kind of file lives, and the S3 calls that move them.

    uploads/<media id>/raw                      the raw upload of the direct and form flows
    uploads/<media id>/segments/<n>-<nonce>     a staged segment of a chunked upload
    media/<media id>/<attempt>/original.<ext>   the processed file clients see
    media/<media id>/<attempt>/small.jpg        its preview

Everything under `uploads/` is temporary and goes once the media is processed or the upload expires.
Processed files carry the processing attempt in their key, so a retried attempt never overwrites (nor
exposes) the half-written files of one that died.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

import aiohttp
from botocore.exceptions import ClientError

COPY_CHUNK = 1024 * 1024


def upload_prefix(media_id: int) -> str:
    return f"uploads/{media_id}/"


def raw_key(media_id: int) -> str:
    return f"uploads/{media_id}/raw"


def segment_key(media_id: int, segment_index: int) -> str:
    # A fresh nonce per APPEND: a re-sent segment never overwrites the object a committed row names.
    return f"uploads/{media_id}/segments/{segment_index:03d}-{secrets.token_hex(6)}"


def output_prefix(media_id: int) -> str:
    return f"media/{media_id}/"


def output_key(media_id: int, attempt: str, name: str) -> str:
    return f"media/{media_id}/{attempt}/{name}"


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def bare_etag(etag: str) -> str:
    return etag.strip().strip('"')


# Pre-signed URLs (computed locally: no request to S3) --------------------------------------------------


async def presign_put(s3: Any, bucket: str, key: str, *, content_type: str, length: int, expires: int) -> str:
    """A PUT URL that S3 accepts only with this Content-Type and Content-Length (both are signed)."""
    params = {"Bucket": bucket, "Key": key, "ContentType": content_type, "ContentLength": length}
    url: str = await s3.generate_presigned_url("put_object", Params=params, ExpiresIn=expires)
    return url


async def presign_part(
    s3: Any, bucket: str, key: str, *, upload_id: str, part_number: int, length: int, expires: int
) -> str:
    params = {"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": part_number, "ContentLength": length}
    url: str = await s3.generate_presigned_url("upload_part", Params=params, ExpiresIn=expires)
    return url


async def presign_get(s3: Any, bucket: str, key: str, *, expires: int) -> str:
    url: str = await s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires)
    return url


# Multipart uploads -------------------------------------------------------------------------------------


async def create_multipart(s3: Any, bucket: str, key: str, *, content_type: str) -> str:
    response = await s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)
    return str(response["UploadId"])


async def uploaded_parts(s3: Any, bucket: str, key: str, upload_id: str) -> dict[int, tuple[str, int]]:
    """Part number -> (ETag without quotes, size) of what has been uploaded so far."""
    parts: dict[int, tuple[str, int]] = {}
    marker = 0
    while True:
        response = await s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id, PartNumberMarker=marker)
        for part in response.get("Parts", []):
            parts[int(part["PartNumber"])] = (bare_etag(part["ETag"]), int(part["Size"]))
        if not response.get("IsTruncated"):
            return parts
        marker = int(response["NextPartNumberMarker"])


async def complete_multipart(s3: Any, bucket: str, key: str, upload_id: str, etags: list[str]) -> None:
    parts = [{"PartNumber": number, "ETag": f'"{bare_etag(etag)}"'} for number, etag in enumerate(etags, start=1)]
    await s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})


async def abort_multipart(s3: Any, bucket: str, key: str, upload_id: str) -> None:
    """Abort, treating an upload that is already gone as done."""
    try:
        await s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    except ClientError as exc:
        if error_code(exc) not in ("NoSuchUpload", "404"):
            raise


@dataclass(frozen=True)
class PendingMultipart:
    key: str
    upload_id: str
    initiated: datetime


async def multipart_uploads(s3: Any, bucket: str, prefix: str) -> list[PendingMultipart]:
    found: list[PendingMultipart] = []
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        response = await s3.list_multipart_uploads(**params)
        for upload in response.get("Uploads", []):
            found.append(PendingMultipart(upload["Key"], upload["UploadId"], upload["Initiated"]))
        if not response.get("IsTruncated"):
            return found
        params.update(KeyMarker=response["NextKeyMarker"], UploadIdMarker=response["NextUploadIdMarker"])


# Objects -----------------------------------------------------------------------------------------------


async def object_size(s3: Any, bucket: str, key: str) -> int | None:
    """The object's size, or None when there is no such object."""
    try:
        response = await s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return int(response["ContentLength"])


async def put_file(s3: Any, bucket: str, key: str, body: IO[bytes], *, length: int, content_type: str) -> None:
    """Upload from an open file, which botocore streams (it never holds the whole file in memory)."""
    body.seek(0)
    await s3.put_object(Bucket=bucket, Key=key, Body=body, ContentLength=length, ContentType=content_type)


async def read_head(s3: Any, bucket: str, key: str, length: int) -> bytes:
    response = await s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{length - 1}")
    body = response["Body"]
    try:
        data: bytes = await body.read()
    finally:
        body.close()
    return data


async def copy_to_file(s3: Any, bucket: str, key: str, sink: IO[bytes]) -> int:
    """Stream an object into `sink` a chunk at a time; returns the bytes written."""
    response = await s3.get_object(Bucket=bucket, Key=key)
    body = response["Body"]
    written = 0
    try:
        while chunk := await body.read(COPY_CHUNK):
            sink.write(chunk)
            written += len(chunk)
    finally:
        body.close()
    return written


async def delete_keys(s3: Any, bucket: str, keys: Iterable[str]) -> None:
    batch = list(dict.fromkeys(keys))
    for start in range(0, len(batch), 1000):  # S3 takes at most 1,000 keys a call
        objects = [{"Key": key} for key in batch[start : start + 1000]]
        await s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})


async def keys_under(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    params: Mapping[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    while True:
        response = await s3.list_objects_v2(**params)
        keys.extend(item["Key"] for item in response.get("Contents", []))
        if not response.get("IsTruncated"):
            return keys
        params = {**params, "ContinuationToken": response["NextContinuationToken"]}


async def delete_under(s3: Any, bucket: str, prefix: str, *, keep: Iterable[str] = ()) -> None:
    """Delete every object under `prefix` except those in `keep`."""
    kept = set(keep)
    await delete_keys(s3, bucket, [key for key in await keys_under(s3, bucket, prefix) if key not in kept])


class StreamingPut:
    """A PUT of `length` bytes to a pre-signed URL, sent while the bytes are still arriving.

    `write` hands chunks over through a small queue, so a slow S3 slows the sender instead of filling
    memory. S3 stores nothing unless exactly `length` bytes arrive: `abort` (or any failure) leaves no object.
    """

    QUEUE_CHUNKS = 4

    def __init__(self, url: str, length: int, *, content_type: str) -> None:
        self._url = url
        self._length = length
        self._content_type = content_type
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(self.QUEUE_CHUNKS)
        self._task = asyncio.create_task(self._send())

    async def _body(self) -> AsyncIterator[bytes]:
        while (chunk := await self._queue.get()) is not None:
            yield chunk

    async def _send(self) -> None:
        headers = {"Content-Length": str(self._length), "Content-Type": self._content_type}
        timeout = aiohttp.ClientTimeout(sock_connect=5, sock_read=60)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.put(self._url, data=self._body(), headers=headers) as response,
            ):
                if response.status != 200:
                    raise OSError(f"S3 refused the upload: HTTP {response.status} {(await response.text())[:200]}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OSError(f"the upload to S3 failed: {exc!r}") from exc

    async def write(self, chunk: bytes) -> None:
        put = asyncio.ensure_future(self._queue.put(chunk))
        done, _ = await asyncio.wait({put, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if put not in done:  # the upload ended (failed) before taking the chunk
            put.cancel()
            self._task.result()
            raise OSError("the upload to S3 ended early")

    async def finish(self) -> None:
        """Wait for S3 to confirm the object; raises if it did not store it."""
        end = asyncio.ensure_future(self._queue.put(None))
        await asyncio.wait({end, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not end.done():
            end.cancel()
        await self._task

    async def abort(self) -> None:
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
