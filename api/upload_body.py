"""Reading upload request bodies as streams: the file goes to a temporary file, never whole into memory.

The upload routes take bodies far above the app's `client_max_size`, so they do not use
`request.post()`. `read_upload_body` parses multipart and form-encoded bodies a chunk at a time, writes
the payload field (raw bytes, or base64 decoded on the fly) to a temporary file, keeps the small fields
as parameters, and stops with a 413 as soon as the body or the payload passes its limit.

When the payload is the last part of a multipart body (as uploaders send it) its exact length follows from
the request's Content-Length, so it can also be forwarded (to S3) while it is still arriving: see
`PayloadStarter`. The temporary file is kept all the same, for when the guess turns out wrong.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import unquote_to_bytes

from aiohttp import web

from api.http import Params, decode_text, query_params, read_params
from core.errors import ApiError

CHUNK = 256 * 1024
FIELD_MAX = 8 * 1024  # any non-file field
HEADERS_MAX = 16 * 1024
MAX_FIELDS = 64
_WHITESPACE = b" \t\r\n"
_CRLF = b"\r\n"


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"Request body too large (the limit is {limit} bytes)")


class PayloadStream(Protocol):
    """Somewhere the payload is forwarded to as it arrives (an S3 PUT of a known length)."""

    async def write(self, chunk: bytes) -> None: ...

    async def finish(self) -> None: ...

    async def abort(self) -> None: ...


# Called when the payload part begins, with the parameters read so far and the payload's exact length if
# it is the last part; returns a stream to forward it to, or None.
PayloadStarter = Callable[[Params, int], Awaitable[PayloadStream | None]]


@dataclass
class UploadBody:
    """A parsed upload request: its parameters (query and body) and the payload file, if one was sent."""

    params: Params
    payload: IO[bytes] | None = None
    payload_path: Path | None = None
    payload_size: int = 0
    payload_field: str | None = None
    filename: str | None = None
    content_type: str | None = None
    # The PayloadStarter's stream when the payload also went through it and it confirmed every byte.
    stream: PayloadStream | None = None
    _closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        if self.payload is not None and not self._closed:
            self._closed = True
            self.payload.close()
            if self.payload_path is not None:
                self.payload_path.unlink(missing_ok=True)

    def __enter__(self) -> UploadBody:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class _PayloadSink:
    """Writes the payload to a temporary file, decoding base64 as it goes, within a size limit."""

    def __init__(self, *, base64_encoded: bool, limit: int) -> None:
        # A real file object (botocore streams only io.IOBase bodies) with a path (Pillow and ffmpeg read it).
        descriptor, name = tempfile.mkstemp(prefix="chirp-upload-")
        self.path = Path(name)
        self.file: IO[bytes] = os.fdopen(descriptor, "w+b")
        self.size = 0
        self._base64 = base64_encoded
        self._carry = b""
        self._limit = limit

    def attach(self, body: UploadBody, name: str) -> None:
        if body.payload is not None:
            self.discard()
            raise ApiError(400, f"Send one file per request (got {body.payload_field} and {name})")
        body.payload, body.payload_path, body.payload_field = self.file, self.path, name

    def discard(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)

    def write(self, data: bytes) -> None:
        if self._base64:
            data = self._decode(self._carry + data.translate(None, _WHITESPACE), final=False)
        self._write_raw(data)

    def finish(self) -> None:
        if self._base64 and self._carry:
            self._write_raw(self._decode(self._carry, final=True))
        self.file.flush()

    def _decode(self, data: bytes, *, final: bool) -> bytes:
        usable = len(data) if final else len(data) - len(data) % 4
        self._carry = b"" if final else data[usable:]
        try:
            return base64.b64decode(data[:usable], validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "media_data is not valid base64") from None

    def _write_raw(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self._limit:
            raise ApiError(413, f"The media is larger than {self._limit} bytes")
        self.file.write(data)


@dataclass(frozen=True)
class PayloadFields:
    """Which fields carry the file: as raw bytes, or base64-encoded (Twitter's `media_data`)."""

    raw: Collection[str]
    base64: Collection[str] = ()
    # Fields that may carry files we do not keep (Mastodon's custom `thumbnail`): read and dropped.
    ignored: Collection[str] = ()

    def sink_for(self, name: str, limit: int) -> _PayloadSink | None:
        if name in self.raw:
            return _PayloadSink(base64_encoded=False, limit=limit)
        if name in self.base64:
            return _PayloadSink(base64_encoded=True, limit=limit)
        return None


class _BodyLimit:
    def __init__(self, request: web.Request, limit: int) -> None:
        self._request = request
        self.limit = limit
        if request.content_length is not None and request.content_length > limit:
            raise _too_large(limit)

    def check(self) -> None:
        if self._request.content.total_bytes > self.limit:
            raise _too_large(self.limit)


async def read_upload_body(
    request: web.Request,
    fields: PayloadFields,
    *,
    body_limit: int,
    payload_limit: int,
    stream_to: PayloadStarter | None = None,
) -> UploadBody:
    """Parse an upload request of any encoding uploaders use. Call `close()` (or use `with`) when done."""
    query = query_params(request)
    if not request.body_exists:
        return UploadBody(query)
    limit = _BodyLimit(request, body_limit)
    content_type = request.content_type
    if content_type == "multipart/form-data":
        parser = _MultipartParser(request, fields, limit, payload_limit, query, stream_to)
        body = await parser.parse()
    elif content_type == "application/x-www-form-urlencoded":
        body = await _read_form(request, fields, limit, payload_limit)
    else:
        # JSON and the like carry no file: the ordinary small-body reader takes them.
        return UploadBody(await read_params(request))
    body.params = query.merged(body.params)
    return body


# multipart/form-data -------------------------------------------------------------------------------------


def _header_params(name: str, value: str) -> Message:
    message = Message()
    message[name] = value
    return message


class _MultipartParser:
    """A streaming multipart/form-data parser that knows where in the request each part's data begins."""

    def __init__(
        self,
        request: web.Request,
        fields: PayloadFields,
        limit: _BodyLimit,
        payload_limit: int,
        query: Params,
        stream_to: PayloadStarter | None,
    ) -> None:
        boundary = _header_params("content-type", request.headers.get("Content-Type", "")).get_param("boundary")
        if not isinstance(boundary, str) or not boundary or len(boundary) > 200:
            raise ApiError(400, "Malformed multipart body: no boundary")
        self._request = request
        self._fields = fields
        self._limit = limit
        self._payload_limit = payload_limit
        self._query = query
        self._stream_to = stream_to
        self._dash_boundary = b"--" + boundary.encode("latin-1")
        self._delimiter = _CRLF + self._dash_boundary
        self._buffer = bytearray()
        self._consumed = 0  # bytes taken from the request so far
        self._pairs: list[tuple[str, Any]] = []
        self.body = UploadBody(Params({}))

    async def parse(self) -> UploadBody:
        try:
            await self._parse()
        except BaseException:
            self.body.close()
            raise
        self.body.params = Params.from_pairs(self._pairs)
        return self.body

    async def _fill(self) -> None:
        chunk = await self._request.content.read(CHUNK)
        if not chunk:
            raise ApiError(400, "Malformed multipart body: it ends too soon")
        self._consumed += len(chunk)
        self._limit.check()
        self._buffer.extend(chunk)

    async def _read_until(self, marker: bytes, max_length: int) -> bytes:
        while (index := self._buffer.find(marker)) < 0:
            if len(self._buffer) > max_length + len(marker):
                raise ApiError(400, "Malformed multipart body: a part's headers are too long")
            await self._fill()
        data = bytes(self._buffer[:index])
        del self._buffer[: index + len(marker)]
        return data

    async def _peek(self, length: int) -> bytes:
        while len(self._buffer) < length:
            await self._fill()
        return bytes(self._buffer[:length])

    async def _parse(self) -> None:
        await self._read_until(self._dash_boundary, HEADERS_MAX)  # the preamble, ignored
        while not await self._at_close():
            if len(self._pairs) >= MAX_FIELDS:
                raise ApiError(400, "Too many form fields")
            name, filename, content_type = await self._part_headers()
            await self._part_body(name, filename, content_type)

    async def _at_close(self) -> bool:
        """After a boundary: `--` closes the body; otherwise the rest of the line must be blank."""
        if await self._peek(2) == b"--":
            return True
        if (await self._read_until(_CRLF, 1024)).strip(b" \t"):
            raise ApiError(400, "Malformed multipart body: junk after a boundary")
        return False

    async def _part_headers(self) -> tuple[str, str | None, str | None]:
        if await self._peek(2) == _CRLF:  # a part with no headers at all
            del self._buffer[:2]
            raise ApiError(400, "Malformed multipart body: a part has no Content-Disposition")
        block = (await self._read_until(_CRLF + _CRLF, HEADERS_MAX)).decode("utf-8", "replace")
        headers: dict[str, str] = {}
        for line in block.split("\r\n"):
            key, sep, value = line.partition(":")
            if sep:
                headers[key.strip().lower()] = value.strip()
        disposition = _header_params("content-disposition", headers.get("content-disposition", ""))
        name = disposition.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise ApiError(400, "Malformed multipart body: a part has no name")
        filename = disposition.get_param("filename", header="content-disposition")
        return name, filename if isinstance(filename, str) else None, headers.get("content-type")

    async def _part_data(self) -> AsyncIterator[bytes]:
        """The part's data, chunk by chunk, up to the next delimiter (which is consumed)."""
        keep = len(self._delimiter) - 1
        while True:
            index = self._buffer.find(self._delimiter)
            if index >= 0:
                if index:
                    yield bytes(self._buffer[:index])
                del self._buffer[: index + len(self._delimiter)]
                return
            if len(self._buffer) > keep:
                cut = len(self._buffer) - keep
                yield bytes(self._buffer[:cut])
                del self._buffer[:cut]
            await self._fill()

    async def _part_body(self, name: str, filename: str | None, content_type: str | None) -> None:
        sink = self._fields.sink_for(name, self._payload_limit)
        if sink is not None:
            sink.attach(self.body, name)
            self.body.filename, self.body.content_type = filename, content_type
            await self._payload(sink, name)
        elif name in self._fields.ignored:
            async for _ in self._part_data():
                pass
        else:
            value = bytearray()
            async for chunk in self._part_data():
                value.extend(chunk)
                if len(value) > FIELD_MAX:
                    raise ApiError(413, f"Field {name} is too long")
            self._pairs.append((name, decode_text(name, bytes(value))))

    def _length_if_last(self) -> int | None:
        """The payload's length if its part is the last one, from the request's Content-Length."""
        total = self._request.content_length
        if total is None:
            return None
        starts_at = self._consumed - len(self._buffer)
        length = total - starts_at - len(self._delimiter + b"--" + _CRLF)
        return length if 0 < length <= self._payload_limit else None

    async def _payload(self, sink: _PayloadSink, name: str) -> None:
        expected = self._length_if_last()
        stream: PayloadStream | None = None
        if self._stream_to is not None and expected is not None and name in self._fields.raw:
            stream = await self._stream_to(self._query.merged(Params.from_pairs(self._pairs)), expected)
        try:
            async for chunk in self._part_data():
                sink.write(chunk)
                if stream is not None and expected is not None:
                    stream = await _forward(stream, chunk, sink.size, expected)
            sink.finish()
            self.body.payload_size = sink.size
            if stream is not None:
                forwarded, stream = stream, None
                if sink.size == expected and await self._peek(2) == b"--":
                    self.body.stream = forwarded if await _finish(forwarded) else None
                else:  # not the last part after all: the file on disk is used instead
                    await forwarded.abort()
        finally:
            if stream is not None:
                with contextlib.suppress(BaseException):
                    await stream.abort()


async def _forward(stream: PayloadStream, chunk: bytes, size: int, expected: int) -> PayloadStream | None:
    """Forward a chunk; on failure or an overrun stop forwarding (the file on disk has every byte anyway)."""
    if size > expected:
        await stream.abort()
        return None
    try:
        await stream.write(chunk)
    except OSError:
        await stream.abort()
        return None
    return stream


async def _finish(stream: PayloadStream) -> bool:
    try:
        await stream.finish()
    except OSError:
        await stream.abort()
        return False
    return True


# application/x-www-form-urlencoded -------------------------------------------------------------------------


class _FormParser:
    """A streaming `application/x-www-form-urlencoded` parser whose payload field goes to a sink.

    The payload's percent-escapes are decoded without turning `+` into a space: base64 has no spaces,
    so a bare `+` in it can only be a `+` that the client forgot to escape.
    """

    def __init__(self, fields: PayloadFields, payload_limit: int, body: UploadBody) -> None:
        self._fields = fields
        self._payload_limit = payload_limit
        self._body = body
        self.pairs: list[tuple[str, str]] = []
        self._key = bytearray()
        self._value = bytearray()
        self._in_value = False
        self._sink: _PayloadSink | None = None
        self._escape_carry = b""

    def feed(self, data: bytes) -> None:
        position = 0
        while position < len(data):
            if not self._in_value:
                position = self._feed_key(data, position)
            else:
                end = data.find(b"&", position)
                self._feed_value(data[position : len(data) if end < 0 else end])
                if end < 0:
                    return
                self._end_field()
                position = end + 1

    def finish(self) -> None:
        if self._in_value or self._key:
            self._end_field()

    def _feed_key(self, data: bytes, position: int) -> int:
        ends = [i for i in (data.find(b"=", position), data.find(b"&", position)) if i >= 0]
        end = min(ends) if ends else len(data)
        self._key.extend(data[position:end])
        if len(self._key) > FIELD_MAX:
            raise ApiError(413, "A form field name is too long")
        if end == len(data):
            return end
        if data[end : end + 1] == b"&":
            self._end_field()
        else:
            self._start_value()
        return end + 1

    def _start_value(self) -> None:
        self._in_value = True
        name = _form_text("", self._key)
        sink = self._fields.sink_for(name, self._payload_limit)
        if sink is not None:
            sink.attach(self._body, name)
            self._sink = sink

    def _feed_value(self, piece: bytes) -> None:
        if self._sink is None:
            self._value.extend(piece)
            if len(self._value) > FIELD_MAX:
                raise ApiError(413, "A form field is too long")
            return
        piece = self._escape_carry + piece
        cut = len(piece)
        # Keep an escape split across chunks ("%2" | "B") for the next piece.
        for back in (1, 2):
            if len(piece) >= back and piece[-back : -back + 1 or None] == b"%":
                cut = len(piece) - back
        self._escape_carry = piece[cut:]
        self._sink.write(unquote_to_bytes(piece[:cut]))

    def _end_field(self) -> None:
        name = _form_text("", self._key)
        if self._sink is not None:
            if self._escape_carry:
                self._sink.write(unquote_to_bytes(self._escape_carry))
            self._sink.finish()
            self._body.payload_size = self._sink.size
            self._sink = None
        elif name:
            if len(self.pairs) >= MAX_FIELDS:
                raise ApiError(400, "Too many form fields")
            self.pairs.append((name, _form_text(name, self._value)))
        self._key.clear()
        self._value.clear()
        self._in_value = False
        self._escape_carry = b""


def _form_text(name: str, raw: bytes | bytearray) -> str:
    """A form-encoded key or value: `+` is a space, and the escapes must make UTF-8 (else a 400)."""
    return decode_text(name, unquote_to_bytes(bytes(raw).replace(b"+", b" ")))


async def _read_form(request: web.Request, fields: PayloadFields, limit: _BodyLimit, payload_limit: int) -> UploadBody:
    body = UploadBody(Params({}))
    parser = _FormParser(fields, payload_limit, body)
    try:
        async for chunk in request.content.iter_chunked(CHUNK):
            limit.check()
            parser.feed(chunk)
        parser.finish()
    except ApiError:
        body.close()
        raise
    except UnicodeDecodeError:
        body.close()
        raise ApiError(400, "Form fields must be UTF-8") from None
    body.params = Params.from_pairs(parser.pairs)
    return body
