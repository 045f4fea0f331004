"""The streaming body reader of the upload routes, on its own: multipart and form bodies of every shape,
forwarding the last part while it arrives, and falling back to the file on disk when that cannot work."""

from __future__ import annotations

import base64
import os
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from api.errors import error_middleware
from api.http import Params, json_response
from api.upload_body import PayloadFields, PayloadStream, read_upload_body

Client = TestClient[web.Request, web.Application]
FIELDS = PayloadFields(raw=("media",), base64=("media_data",), ignored=("thumbnail",))


class Recorder:
    """A PayloadStream that keeps what it is sent, and can be told to fail part-way."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.data = bytearray()
        self.finished = False
        self.aborted = False
        self.expected = 0  # the length the reader announced
        self._fail_after = fail_after

    async def write(self, chunk: bytes) -> None:
        if self._fail_after is not None and len(self.data) + len(chunk) > self._fail_after:
            raise OSError("S3 went away")
        self.data.extend(chunk)

    async def finish(self) -> None:
        self.finished = True

    async def abort(self) -> None:
        self.aborted = True


@pytest.fixture
async def upload_client(aiohttp_client: Any) -> tuple[Client, list[Recorder], list[int]]:
    """An app whose one route reads an upload body and reports what it got."""
    streams: list[Recorder] = []
    fail_after: list[int] = []

    async def start(params: Params, size: int) -> PayloadStream | None:
        if params.text("stream") != "yes":
            return None
        recorder = Recorder(fail_after[0] if fail_after else None)
        recorder.expected = size
        streams.append(recorder)
        return recorder

    async def handler(request: web.Request) -> web.Response:
        body = await read_upload_body(request, FIELDS, body_limit=200_000, payload_limit=100_000, stream_to=start)
        with body:
            content = b""
            if body.payload is not None:
                body.payload.seek(0)
                content = body.payload.read()
            return json_response(
                {
                    "params": {name: body.params.text(name) for name in ("a", "b", "stream")},
                    "size": body.payload_size,
                    "payload": content.hex(),
                    "filename": body.filename,
                    "streamed": body.stream is not None,
                }
            )

    app = web.Application(middlewares=[error_middleware])
    app.router.add_post("/upload", handler)
    client: Client = await aiohttp_client(app)
    return client, streams, fail_after


def multipart(*parts: tuple[str, bytes | str], closing: bytes = b"--\r\n") -> tuple[bytes, str]:
    boundary = "b0undary"
    out = bytearray(b"preamble to ignore\r\n")
    for name, value in parts:
        out += f"--{boundary}\r\n".encode()
        if isinstance(value, bytes):
            out += f'Content-Disposition: form-data; name="{name}"; filename="x.bin"\r\n'.encode()
            out += b"Content-Type: application/octet-stream\r\n\r\n" + value + b"\r\n"
        else:
            out += f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    out += f"--{boundary}".encode() + closing
    return bytes(out), f"multipart/form-data; boundary={boundary}"


async def post(client: Client, body: bytes, content_type: str, query: str = "") -> aiohttp.ClientResponse:
    return await client.post(f"/upload{query}", data=body, headers={"Content-Type": content_type})


async def test_a_last_part_is_forwarded_while_it_arrives(upload_client: Any) -> None:
    client, streams, _ = upload_client
    payload = os.urandom(90_000) + b"\r\n--b0undar"  # almost a delimiter, split across reads
    body, content_type = multipart(("a", "1"), ("stream", "yes"), ("media", payload))
    response = await post(client, body, content_type)
    assert response.status == 200
    got = await response.json()
    assert got["params"] == {"a": "1", "b": None, "stream": "yes"}
    assert bytes.fromhex(got["payload"]) == payload and got["streamed"] and got["filename"] == "x.bin"
    (stream,) = streams
    assert bytes(stream.data) == payload and stream.finished and not stream.aborted
    assert stream.expected == len(payload)


@pytest.mark.parametrize(
    "shape",
    ["fields after the file", "no CRLF after the closing delimiter"],
)
async def test_when_the_length_guess_is_wrong_the_file_on_disk_is_used(upload_client: Any, shape: str) -> None:
    client, streams, _ = upload_client
    payload = os.urandom(50_000)
    if shape == "fields after the file":
        body, content_type = multipart(("stream", "yes"), ("media", payload), ("b", "2"))
    else:
        body, content_type = multipart(("stream", "yes"), ("media", payload), closing=b"--")
    got = await (await post(client, body, content_type)).json()
    assert bytes.fromhex(got["payload"]) == payload and not got["streamed"]
    if streams:
        assert streams[0].aborted and not streams[0].finished


async def test_a_forwarding_failure_falls_back_to_the_file(upload_client: Any) -> None:
    client, streams, fail_after = upload_client
    fail_after.append(10_000)
    payload = os.urandom(80_000)
    body, content_type = multipart(("stream", "yes"), ("media", payload))
    got = await (await post(client, body, content_type)).json()
    assert bytes.fromhex(got["payload"]) == payload and not got["streamed"]
    assert streams[0].aborted


async def test_form_encoded_base64_is_decoded_from_the_stream(upload_client: Any) -> None:
    client, _, _ = upload_client
    payload = os.urandom(60_000)
    encoded = quote(base64.b64encode(payload).decode(), safe="")
    body = f"a=x%20y&media_data={encoded}&b=%E2%9C%93".encode()
    got = await (await post(client, body, "application/x-www-form-urlencoded", "?stream=no")).json()
    assert got["params"] == {"a": "x y", "b": "✓", "stream": "no"}
    assert bytes.fromhex(got["payload"]) == payload


async def test_base64_in_a_multipart_field_is_decoded_too(upload_client: Any) -> None:
    client, _, _ = upload_client
    payload = os.urandom(3000)
    wrapped = "\r\n".join(base64.encodebytes(payload).decode().split("\n"))
    body, content_type = multipart(("media_data", wrapped), ("thumbnail", b"ignored"))
    got = await (await post(client, body, content_type)).json()
    assert bytes.fromhex(got["payload"]) == payload


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (
            b'--b0undary\r\nContent-Disposition: form-data; name="a"\r\n\r\nno end',
            "multipart/form-data; boundary=b0undary",
            400,
        ),
        (b"whatever", "multipart/form-data", 400),
        (b"media_data=%%%%", "application/x-www-form-urlencoded", 400),
        (b"x" * 200_001, "application/octet-stream", 413),
        (b"a=" + b"y" * 10_000, "application/x-www-form-urlencoded", 413),
    ],
)
async def test_bad_bodies_are_clear_4xx_errors(upload_client: Any, body: bytes, content_type: str, status: int) -> None:
    client, _, _ = upload_client
    response = await post(client, body, content_type)
    assert response.status == status
    assert "error" in await response.json()


async def test_two_files_in_one_request_are_refused(upload_client: Any) -> None:
    client, _, _ = upload_client
    body, content_type = multipart(("media", b"one"), ("media_data", "dHdv"))
    response = await post(client, body, content_type)
    assert response.status == 400 and "one file" in (await response.json())["error"]


async def test_a_payload_over_its_limit_is_413(upload_client: Any) -> None:
    client, _, _ = upload_client
    body, content_type = multipart(("media", os.urandom(100_001)))
    response = await post(client, body, content_type)
    assert response.status == 413
