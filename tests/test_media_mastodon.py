"""Mastodon's media API: POST /api/v2/media (200 or 202), POST /api/v1/media, GET and PUT /api/v1/media/:id."""

from __future__ import annotations

import io
from typing import Any

import aiohttp
import media_samples as samples
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from conftest import ClientFactory, UserFactory
from conftest import TestUser as Uploader
from PIL import Image
from yarl import URL

from api.keys import SETTINGS
from storage.resources import Resources
from workers.queues import all_queues
from workers.runner import JobRunner

Client = TestClient[web.Request, web.Application]


def form(data: bytes, filename: str, content_type: str, **fields: str) -> aiohttp.FormData:
    out = aiohttp.FormData()
    out.add_field("file", data, filename=filename, content_type=content_type)
    for name, value in fields.items():
        out.add_field(name, value)
    return out


async def post_media(
    client: Client, user: Uploader, data: bytes, filename: str, content_type: str, version: str = "v2", **fields: str
) -> aiohttp.ClientResponse:
    return await client.post(
        f"/api/{version}/media", data=form(data, filename, content_type, **fields), headers=user.headers
    )


async def fetch(client: Client, url: str) -> bytes:
    """A media URL: Chirp's permanent address (on CHIRP_PUBLIC_URL, which is not this test app's port, so
    asked of the app by its path), which redirects to a signed S3 URL, followed as a browser would."""
    assert url.startswith(f"{client.app[SETTINGS].base_url}/media/"), url
    redirect = await client.get(URL(url).path, allow_redirects=False)
    assert redirect.status == 302 and "max-age=" in redirect.headers["Cache-Control"]
    async with aiohttp.ClientSession() as session, session.get(redirect.headers["Location"]) as response:
        assert response.status == 200, url
        return await response.read()


async def test_a_small_image_is_processed_during_the_request(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    response = await post_media(
        client, alice, samples.jpeg(800, 600), "photo.jpg", "image/jpeg", description="A gradient", focus="0.5,-0.25"
    )
    assert response.status == 200
    entity: dict[str, Any] = await response.json()
    assert entity["type"] == "image" and entity["description"] == "A gradient"
    assert entity["meta"]["original"] == {"width": 800, "height": 600, "size": "800x600", "aspect": round(800 / 600, 6)}
    assert entity["meta"]["small"]["size"] == "480x360"
    assert entity["meta"]["focus"] == {"x": 0.5, "y": -0.25}
    assert isinstance(entity["blurhash"], str) and len(entity["blurhash"]) == 36
    assert entity["remote_url"] is None and entity["text_url"] is None
    with Image.open(io.BytesIO(await fetch(client, entity["url"]))) as image:
        assert image.size == (800, 600) and len(image.getexif()) == 0
    with Image.open(io.BytesIO(await fetch(client, entity["preview_url"]))) as preview:
        assert preview.size == (480, 360)
    shown = await client.get(f"/api/v1/media/{entity['id']}", headers=alice.headers)
    assert shown.status == 200


async def test_a_video_is_accepted_with_202_and_processed_by_the_worker(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    response = await post_media(client, alice, samples.mp4(seconds=2.0, size="320x240"), "clip.mp4", "video/mp4")
    assert response.status == 202
    accepted = await response.json()
    assert accepted["url"] is None and accepted["preview_url"] is None and accepted["type"] == "video"
    assert (await client.get(f"/api/v1/media/{accepted['id']}", headers=alice.headers)).status == 206

    await JobRunner(res, all_queues()).drain("media")
    shown = await client.get(f"/api/v1/media/{accepted['id']}", headers=alice.headers)
    assert shown.status == 200
    entity = await shown.json()
    meta = entity["meta"]
    assert entity["type"] == "video" and entity["url"] and entity["preview_url"] and entity["blurhash"]
    assert meta["original"]["frame_rate"] == "25/1" and meta["original"]["duration"] == pytest.approx(2.0, abs=0.1)
    assert meta["size"] == "320x240" and meta["small"]["size"] == "320x240"


async def test_an_animated_gif_becomes_a_gifv(client: Client, res: Resources, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    response = await post_media(client, alice, samples.gif(80, 60, frames=8), "dance.gif", "image/gif")
    assert response.status == 202
    assert (await response.json())["type"] == "gifv"
    await JobRunner(res, all_queues()).drain("media")
    entity = await (await client.get(f"/api/v1/media/{(await response.json())['id']}", headers=alice.headers)).json()
    assert entity["type"] == "gifv"
    video = await fetch(client, entity["url"])
    assert video[4:8] == b"ftyp"


async def test_the_v1_route_waits_for_processing_of_every_kind(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    picture = await post_media(client, alice, samples.png(64, 64), "dot.png", "image/png", version="v1")
    assert picture.status == 200 and (await picture.json())["url"]
    video = await post_media(client, alice, samples.mp4(), "clip.mp4", "video/mp4", version="v1")
    assert video.status == 200
    entity = await video.json()
    assert entity["type"] == "video" and entity["url"] and entity["meta"]["original"]["width"] == 160


@pytest.mark.parametrize(
    ("data", "filename", "content_type", "message"),
    [
        (samples.png(), "holiday.jpg", "image/jpeg", "declared as image/jpeg"),
        (samples.png(), "holiday.jpg", "application/octet-stream", "named .jpg"),
        (b"#!/bin/sh\necho hello\n", "script.png", "image/png", "not a supported type"),
        (samples.jpeg(400, 300)[:3000], "cut.jpg", "image/jpeg", "truncated"),
        (b"", "empty.png", "image/png", "empty"),
    ],
)
async def test_files_that_are_not_what_they_claim_are_refused(
    client: Client, res: Resources, make_user: UserFactory, data: bytes, filename: str, content_type: str, message: str
) -> None:
    alice = await make_user("alice")
    response = await post_media(client, alice, data, filename, content_type)
    assert response.status == 422
    assert message in (await response.json())["error"]
    assert await res.db.fetchval("SELECT count(*) FROM media") == 0  # nothing left behind


async def test_size_limits_and_missing_files(make_client: ClientFactory, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    client = await make_client(media_image_max_bytes=2000, media_gif_max_bytes=50_000, media_video_max_bytes=50_000)
    big = await post_media(client, alice, samples.jpeg(400, 300), "big.jpg", "image/jpeg")
    assert big.status == 422 and "at most 2000 bytes" in (await big.json())["error"]
    over_body = await post_media(client, alice, samples.padded_mp4(1_200_000), "clip.mp4", "video/mp4")
    assert over_body.status == 413
    no_file = await client.post("/api/v2/media", data={"description": "nothing"}, headers=alice.headers)
    assert no_file.status == 422 and "file" in (await no_file.json())["error"]


async def test_description_and_focus_can_be_changed_before_posting(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    entity = await (await post_media(client, alice, samples.jpeg(), "a.jpg", "image/jpeg")).json()
    url = f"/api/v1/media/{entity['id']}"
    updated = await client.put(url, json={"description": "Now described", "focus": "-1,1"}, headers=alice.headers)
    assert updated.status == 200
    body = await updated.json()
    assert body["description"] == "Now described" and body["meta"]["focus"] == {"x": -1.0, "y": 1.0}
    for bad in ("2,0", "0.5", "a,b", "nan,0"):
        response = await client.put(url, json={"focus": bad}, headers=alice.headers)
        assert response.status == 422, bad
    too_long = await client.put(url, json={"description": "x" * 1501}, headers=alice.headers)
    assert too_long.status == 422
    assert (await client.put(url, json={"description": "mine now"}, headers=bob.headers)).status == 404
    assert (await client.get(url, headers=bob.headers)).status == 404
    assert (await client.get("/api/v1/media/1", headers=alice.headers)).status == 404


async def test_media_routes_need_the_write_media_scope(client: Client, make_user: UserFactory) -> None:
    reader = await make_user("reader", scopes=("read",))
    response = await post_media(client, reader, samples.jpeg(), "a.jpg", "image/jpeg")
    assert response.status == 403
    assert (await client.post("/api/v2/media", data=form(samples.jpeg(), "a.jpg", "image/jpeg"))).status == 401
