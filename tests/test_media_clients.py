"""Media as real clients see it: Mastodon.py uploading and posting, and every media response matching the
schema GET /openapi.json documents for it."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import aiohttp
import media_samples as samples
from aiohttp import web
from aiohttp.test_utils import TestClient
from conftest import UserFactory
from live import serve_app
from mastodon import Mastodon
from social import assert_documented

from app.main import create_app
from config import Settings
from storage.resources import Resources
from workers.queues import all_queues
from workers.runner import JobRunner

Client = TestClient[web.Request, web.Application]


def mastodon_py_media(base_url: str, token: str) -> dict[str, Any]:
    api = Mastodon(access_token=token, api_base_url=base_url)
    picture = api.media_post(
        io.BytesIO(samples.jpeg(640, 480)), mime_type="image/jpeg", description="a gradient", focus=(0.1, -0.2)
    )
    clip = api.media_post(io.BytesIO(samples.mp4()), mime_type="video/mp4")
    return {"picture": picture, "clip": clip}


def mastodon_py_post(base_url: str, token: str, media_ids: list[str]) -> dict[str, Any]:
    api = Mastodon(access_token=token, api_base_url=base_url)
    clip = api.media(media_ids[1])
    status = api.status_post("two pictures would be nicer", media_ids=[media_ids[0]])
    video_status = api.status_post("and a video", media_ids=[clip])
    return {"clip": clip, "status": status, "video_status": video_status}


async def test_mastodon_py_uploads_media_and_posts_it(
    settings: Settings, res: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    async with serve_app(create_app(settings)) as base_url:
        uploaded = await asyncio.to_thread(mastodon_py_media, base_url, alice.token)
        picture, clip = uploaded["picture"], uploaded["clip"]
        assert picture.type == "image" and picture.url and picture.description == "a gradient"
        assert picture.meta.original.width == 640 and picture.meta.focus.x == 0.1
        assert clip.type == "video" and clip.url is None  # accepted for processing
        await JobRunner(res, all_queues()).drain("media")
        posted = await asyncio.to_thread(mastodon_py_post, base_url, alice.token, [picture.id, clip.id])
    assert posted["clip"].url is not None
    assert [m.id for m in posted["status"].media_attachments] == [picture.id]
    assert posted["video_status"].media_attachments[0].type == "video"


async def test_media_responses_match_their_documented_schemas(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    form = aiohttp.FormData()
    form.add_field("file", samples.png(), filename="a.png", content_type="image/png")
    form.add_field("focus", "0,0")
    picture = await assert_documented(
        "post", "/api/v2/media", await client.post("/api/v2/media", data=form, headers=alice.headers)
    )
    video_form = aiohttp.FormData()
    video_form.add_field("file", samples.mp4(), filename="a.mp4", content_type="video/mp4")
    video = await assert_documented(
        "post", "/api/v2/media", await client.post("/api/v2/media", data=video_form, headers=alice.headers)
    )
    one = "/api/v1/media/{id}"
    await assert_documented("get", one, await client.get(f"/api/v1/media/{video['id']}", headers=alice.headers))
    await assert_documented(
        "put", one, await client.put(f"/api/v1/media/{picture['id']}", json={"description": "x"}, headers=alice.headers)
    )
    direct = await assert_documented(
        "post",
        "/api/v1/media/uploads",
        await client.post(
            "/api/v1/media/uploads", json={"media_type": "image/png", "total_bytes": 10}, headers=alice.headers
        ),
    )
    await assert_documented(
        "post",
        "/api/v1/media/{id}/complete",
        await client.post(f"/api/v1/media/{direct['media_id']}/complete", headers=alice.headers),
    )

    upload = "/1.1/media/upload.json"
    data = samples.jpeg()
    init = await assert_documented(
        "post",
        upload,
        await client.post(
            upload,
            data={"command": "INIT", "media_type": "image/jpeg", "total_bytes": str(len(data))},
            headers=alice.headers,
        ),
    )
    media_id = init["media_id_string"]
    append = aiohttp.FormData()
    append.add_fields(("command", "APPEND"), ("media_id", media_id), ("segment_index", "0"))
    append.add_field("media", data, filename="blob")
    assert (await client.post(upload, data=append, headers=alice.headers)).status == 204
    finalize = {"command": "FINALIZE", "media_id": media_id}
    await assert_documented("post", upload, await client.post(upload, data=finalize, headers=alice.headers))
    await JobRunner(res, all_queues()).drain("media")
    status = {"command": "STATUS", "media_id": media_id}
    done = await assert_documented("get", upload, await client.get(upload, params=status, headers=alice.headers))
    assert done["processing_info"]["state"] == "succeeded"
    await assert_documented("get", one, await client.get(f"/api/v1/media/{video['id']}", headers=alice.headers))
