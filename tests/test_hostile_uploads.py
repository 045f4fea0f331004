"""Decompression bombs: an image that declares too many pixels is refused from its header, never decoded, so
ten of them at once leave the API's memory flat. (The worker's peak RSS decoding allowed images is measured
by `python -m bench hostile_upload`, docs/reliability.md.)"""

from __future__ import annotations

import asyncio
import contextlib
import io
import struct
import zlib

import aiohttp
import psutil
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from conftest import ClientFactory, TestUser, UserFactory
from PIL import Image

from storage.resources import Resources

Client = TestClient[web.Request, web.Application]
SIDE = 7000


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real, complete PNG of 7000x7000 grey pixels: tens of kilobytes that decode to 49 MB."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    Image.new("L", (SIDE, SIDE), 128).save(path, "PNG", optimize=True)
    return path.read_bytes()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def truncated_bomb() -> bytes:
    """A PNG whose header declares 7000x7000 but whose pixel data stops after a few rows: decoding it would
    fail as truncated, so only a check of the header can answer "too many pixels"."""
    rows = zlib.compress(b"\x00" + b"\x80" * SIDE)
    header = struct.pack(">IIBBBBB", SIDE, SIDE, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", rows) + _chunk(b"IEND", b"")


async def _upload(client: Client, user: TestUser, data: bytes) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(data), filename="bomb.png", content_type="image/png")
    return await client.post("/api/v2/media", data=form, headers=user.headers)


@pytest.mark.parametrize("which", ["complete", "truncated"])
async def test_an_image_declaring_7000x7000_pixels_is_refused_with_422_before_decoding(
    client: Client, make_user: UserFactory, res: Resources, bomb: bytes, which: str
) -> None:
    alice = await make_user("alice")
    data = bomb if which == "complete" else truncated_bomb()
    assert len(data) < 200_000
    response = await _upload(client, alice, data)
    body = await response.json()
    assert response.status == 422, body
    assert body["error"] == f"Validation failed: file Images may have at most {res.settings.media_max_pixels} pixels."
    assert await res.db.fetchval("SELECT count(*) FROM media") == 0


async def test_the_pixel_limit_is_a_setting(make_client: ClientFactory, make_user: UserFactory) -> None:
    client = await make_client(media_max_pixels=100 * 100)
    alice = await make_user("alice")
    small, large = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (100, 100), "red").save(small, "PNG")
    Image.new("RGB", (101, 100), "red").save(large, "PNG")
    accepted = await _upload(client, alice, small.getvalue())
    assert accepted.status == 200, await accepted.text()
    refused = await _upload(client, alice, large.getvalue())
    assert refused.status == 422, await refused.text()
    assert "at most 10000 pixels" in (await refused.json())["error"]


def _python_rss() -> int:
    """RSS of this process (the API under test) and of its Python children (an image-decoding pool would be
    there); the test servers' own processes are left out, their memory is not the API's."""
    me = psutil.Process()
    total = int(me.memory_info().rss)
    for child in me.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if child.name().startswith("python"):
                total += int(child.memory_info().rss)
    return total


async def test_ten_concurrent_bombs_leave_the_apis_memory_flat(
    client: Client, make_user: UserFactory, bomb: bytes
) -> None:
    alice = await make_user("alice")
    before = _python_rss()
    peak = before
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _python_rss())
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    responses = await asyncio.gather(*(_upload(client, alice, bomb) for _ in range(10)))
    done.set()
    await sampler
    assert [r.status for r in responses] == [422] * 10
    # One decode of this image would take 49 MB (7000x7000, one byte a pixel), ten 490 MB: the growth stays
    # far below one.
    assert peak - before < 32 * 1024 * 1024, (before, peak)
