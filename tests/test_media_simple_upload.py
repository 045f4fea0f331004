"""Twitter's simple upload: the whole file in one POST to the upload route, without `command`, as tweepy's
`simple_upload` (and `media_upload` for images) sends it. tweepy only speaks HTTPS, so the test server has a
self-signed certificate for 127.0.0.1 that the tweepy session trusts."""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path
from typing import Any

import media_samples as samples
import tweepy
from aiohttp import web
from aiohttp.test_utils import TestClient
from conftest import UserFactory
from live import self_signed_certificate, serve_app

from app.main import create_app
from config import Settings

Client = TestClient[web.Request, web.Application]


def tweepy_uploads(base_url: str, certificate: Path, token: str) -> dict[str, Any]:
    api = tweepy.API(tweepy.OAuth2BearerHandler(token), upload_host=base_url.removeprefix("https://"))
    api.session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the certificate trusted here
    api.session.verify = str(certificate)
    simple = api.simple_upload("photo.jpg", file=io.BytesIO(samples.jpeg(320, 240)), media_category="tweet_image")
    automatic = api.media_upload("drawing.png", file=io.BytesIO(samples.png(90, 60)))
    return {"simple": simple, "automatic": automatic}


async def test_tweepy_simple_upload_gives_a_media_id_a_post_can_attach(
    settings: Settings, tmp_path: Path, client: Client, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    certificate = self_signed_certificate(tmp_path)
    async with serve_app(create_app(settings), certificate=certificate) as base_url:
        uploaded = await asyncio.to_thread(tweepy_uploads, base_url, certificate, alice.token)
    simple, automatic = uploaded["simple"], uploaded["automatic"]
    assert simple.media_id_string == str(simple.media_id)
    assert simple.image == {"image_type": "image/jpeg", "w": 320, "h": 240}
    assert automatic.image["w"] == 90 and automatic.image["image_type"] == "image/png"
    posted = await client.post(
        "/api/v1/statuses",
        json={"status": "uploaded the Twitter way", "media_ids": [simple.media_id_string, automatic.media_id_string]},
        headers=alice.headers,
    )
    body = await posted.json()
    assert posted.status == 200, body
    assert [a["id"] for a in body["media_attachments"]] == [simple.media_id_string, automatic.media_id_string]
    assert body["media_attachments"][0]["meta"]["original"]["width"] == 320


async def test_a_base64_media_data_form_is_a_simple_upload_too(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    encoded = base64.b64encode(samples.jpeg(200, 100)).decode()
    response = await client.post("/1.1/media/upload.json", data={"media_data": encoded}, headers=alice.headers)
    body = await response.json()
    assert response.status == 200, body
    assert body["image"]["w"] == 200 and body["processing_info"]["state"] == "succeeded"
    shown = await client.get(f"/api/v1/media/{body['media_id_string']}", headers=alice.headers)
    assert shown.status == 200 and (await shown.json())["type"] == "image"


async def test_a_simple_upload_of_something_that_is_not_media_is_a_clear_422(
    client: Client, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    encoded = base64.b64encode(b"just some text, not a picture").decode()
    response = await client.post("/api/v1/media/upload", data={"media_data": encoded}, headers=alice.headers)
    assert response.status == 422 and "supported type" in (await response.json())["error"]


async def test_without_command_or_file_the_answer_still_says_what_is_missing(
    client: Client, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    response = await client.post("/api/v1/media/upload", data={"media_category": "tweet_image"}, headers=alice.headers)
    assert response.status == 400 and "command is required" in (await response.json())["error"]
    bad_category = await client.post(
        "/api/v1/media/upload",
        data={"media_data": base64.b64encode(samples.jpeg()).decode(), "media_category": "nonsense"},
        headers=alice.headers,
    )
    assert bad_category.status == 400 and "media_category" in (await bad_category.json())["error"]
