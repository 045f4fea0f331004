"""Twitter's chunked upload (INIT / APPEND / FINALIZE / STATUS) against real SeaweedFS, finished by the worker."""

from __future__ import annotations

import base64
import dataclasses
import io
from typing import Any
from urllib.parse import quote

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
from storage import media_files as files
from storage.resources import Resources
from workers.queues import all_queues
from workers.runner import JobRunner

Client = TestClient[web.Request, web.Application]
UPLOAD = "/api/v1/media/upload"
TWITTER_UPLOAD = "/1.1/media/upload.json"


async def init(client: Client, user: Uploader, media_type: str, total: int, path: str = UPLOAD) -> dict[str, Any]:
    form = {"command": "INIT", "media_type": media_type, "total_bytes": str(total), "media_category": "tweet_image"}
    response = await client.post(path, data=form, headers=user.headers)
    assert response.status == 202, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def append(
    client: Client, user: Uploader, media_id: str, index: int, chunk: bytes, path: str = UPLOAD
) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("command", "APPEND")
    form.add_field("media_id", media_id)
    form.add_field("segment_index", str(index))
    form.add_field("media", chunk, filename="blob", content_type="application/octet-stream")
    return await client.post(path, data=form, headers=user.headers)


async def finalize(client: Client, user: Uploader, media_id: str, path: str = UPLOAD) -> aiohttp.ClientResponse:
    return await client.post(path, data={"command": "FINALIZE", "media_id": media_id}, headers=user.headers)


async def status(client: Client, user: Uploader, media_id: str, path: str = UPLOAD) -> dict[str, Any]:
    response = await client.get(path, params={"command": "STATUS", "media_id": media_id}, headers=user.headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def upload(
    client: Client, user: Uploader, data: bytes, media_type: str, segment_size: int = 1_000_000
) -> dict[str, Any]:
    """INIT, APPEND every segment, FINALIZE: the FINALIZE answer."""
    media_id = (await init(client, user, media_type, len(data)))["media_id_string"]
    for index, chunk in enumerate(samples.segments(data, segment_size)):
        response = await append(client, user, media_id, index, chunk)
        assert response.status == 204, await response.text()
    response = await finalize(client, user, media_id)
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def run_worker(res: Resources) -> int:
    return await JobRunner(res, all_queues()).drain("media")


async def fetch(client: Client, url: str) -> bytes:
    """A media URL: Chirp's permanent address (on CHIRP_PUBLIC_URL, which is not this test app's port, so
    asked of the app by its path), which redirects to a signed S3 URL, followed as a browser would."""
    assert url.startswith(f"{client.app[SETTINGS].base_url}/media/"), url
    redirect = await client.get(URL(url).path, allow_redirects=False)
    assert redirect.status == 302 and "max-age=" in redirect.headers["Cache-Control"]
    async with aiohttp.ClientSession() as session, session.get(redirect.headers["Location"]) as response:
        assert response.status == 200, url
        return await response.read()


async def test_a_jpeg_goes_through_init_append_finalize_and_the_worker(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    data = samples.jpeg(300, 200)
    init_body = await init(client, alice, "image/jpeg", len(data))
    media_id = init_body["media_id_string"]
    assert init_body["media_id"] == int(media_id) and 3500 <= init_body["expires_after_secs"] <= 3600
    for index, chunk in enumerate(samples.segments(data, 700)):
        assert (await append(client, alice, media_id, index, chunk)).status == 204

    response = await finalize(client, alice, media_id)
    assert response.status == 201
    final = await response.json()
    assert final["size"] == len(data)
    assert final["processing_info"] == {"state": "pending", "check_after_secs": 1, "progress_percent": 0}
    assert (await status(client, alice, media_id))["processing_info"]["state"] == "pending"

    assert await run_worker(res) == 1
    done = await status(client, alice, media_id)
    assert done["processing_info"] == {"state": "succeeded", "progress_percent": 100}
    assert done["image"] == {"image_type": "image/jpeg", "w": 300, "h": 200}

    entity = await (await client.get(f"/api/v1/media/{media_id}", headers=alice.headers)).json()
    assert entity["type"] == "image" and entity["blurhash"]
    with Image.open(io.BytesIO(await fetch(client, entity["url"]))) as image:
        assert image.format == "JPEG" and image.size == (300, 200)
        assert len(image.getexif()) == 0  # EXIF, GPS included, is gone
    with Image.open(io.BytesIO(await fetch(client, entity["preview_url"]))) as preview:
        assert preview.size == (300, 200)
    # The staged segments are gone once the media is processed.
    bucket = res.settings.s3_bucket
    assert await files.keys_under(res.s3, bucket, files.upload_prefix(int(media_id))) == []


async def test_the_twitter_path_takes_form_encoded_base64_segments(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    data = samples.png(200, 150)
    media_id = (await init(client, alice, "image/png", len(data), TWITTER_UPLOAD))["media_id_string"]
    chunks = samples.segments(data, 4000)
    for index, chunk in enumerate(chunks):
        encoded = base64.b64encode(chunk).decode()
        # The first segment escaped as a browser would; the others with bare `+` and `/`, as some clients send.
        value = quote(encoded, safe="") if index == 0 else encoded
        body = f"command=APPEND&media_id={media_id}&segment_index={index}&media_data={value}"
        response = await client.post(
            TWITTER_UPLOAD,
            data=body.encode(),
            headers={**alice.headers, "Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status == 204, await response.text()
    # Parameters in the query string work too, as in Twitter's examples.
    response = await client.post(f"{TWITTER_UPLOAD}?command=FINALIZE&media_id={media_id}", headers=alice.headers)
    assert response.status == 201
    await run_worker(res)
    done = await status(client, alice, media_id, TWITTER_UPLOAD)
    assert done["image"] == {"image_type": "image/png", "w": 200, "h": 150}


async def test_an_11_mb_video_in_5_mb_segments_is_joined_and_processed(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    data = samples.padded_mp4(11_000_000)
    final = await upload(client, alice, data, "video/mp4", segment_size=5_000_000)
    media_id = final["media_id_string"]
    staged = await files.keys_under(res.s3, res.settings.s3_bucket, files.upload_prefix(int(media_id)))
    assert len(staged) == 3  # 5,000,000 + 5,000,000 + 1,000,000 bytes, each staged as it arrived
    await run_worker(res)
    done = await status(client, alice, media_id)
    assert done["processing_info"]["state"] == "succeeded"
    assert done["video"] == {"video_type": "video/mp4"}
    entity = await (await client.get(f"/api/v1/media/{media_id}", headers=alice.headers)).json()
    assert entity["type"] == "video"
    assert entity["meta"]["original"]["width"] == 160 and entity["meta"]["small"]["width"] == 160
    assert await files.keys_under(res.s3, res.settings.s3_bucket, files.upload_prefix(int(media_id))) == []


async def test_a_re_sent_segment_replaces_the_earlier_one(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    data = samples.jpeg(200, 100)
    media_id = (await init(client, alice, "image/jpeg", len(data)))["media_id_string"]
    first, second = data[:1000], data[1000:]
    assert (await append(client, alice, media_id, 0, b"\x00" * 1000)).status == 204  # garbage...
    assert (await append(client, alice, media_id, 1, second)).status == 204
    assert (await append(client, alice, media_id, 0, first)).status == 204  # ...replaced by the real bytes
    bucket = res.settings.s3_bucket
    assert len(await files.keys_under(res.s3, bucket, files.upload_prefix(int(media_id)))) == 2
    assert (await finalize(client, alice, media_id)).status == 201
    await run_worker(res)
    assert (await status(client, alice, media_id))["processing_info"]["state"] == "succeeded"


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ({0: 100, 2: 100}, "Segment 1 is missing"),
        ({1: 200}, "Segment 0 is missing"),
        ({0: 100, 1: 50}, "do not add up"),
        ({}, "No segments"),
    ],
)
async def test_finalize_refuses_missing_segments_and_wrong_totals(
    client: Client, make_user: UserFactory, sizes: dict[int, int], message: str
) -> None:
    alice = await make_user("alice")
    media_id = (await init(client, alice, "image/jpeg", 200))["media_id_string"]
    for index, size in sizes.items():
        assert (await append(client, alice, media_id, index, b"x" * size)).status == 204
    response = await finalize(client, alice, media_id)
    assert response.status == 400
    assert message in (await response.json())["error"]


async def test_segments_beyond_the_total_and_bad_indexes_are_refused(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    media_id = (await init(client, alice, "image/jpeg", 1000))["media_id_string"]
    assert (await append(client, alice, media_id, 0, b"x" * 800)).status == 204
    too_much = await append(client, alice, media_id, 1, b"x" * 300)
    assert too_much.status == 400 and "more than total_bytes" in (await too_much.json())["error"]
    for index in (1000, -1):
        response = await append(client, alice, media_id, index, b"x")
        assert response.status == 422
        assert "segment_index" in (await response.json())["error"]
    no_media = await client.post(
        UPLOAD, data={"command": "APPEND", "media_id": media_id, "segment_index": "1"}, headers=alice.headers
    )
    assert no_media.status == 400


async def test_init_refuses_unknown_types_and_oversize_files(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    cases = [
        ({"media_type": "application/pdf", "total_bytes": "100"}, 400, "Unsupported media type"),
        ({"media_type": "image/jpeg", "total_bytes": str(5 * 1024 * 1024 + 1)}, 400, "exceeds 5242880"),
        ({"media_type": "image/gif", "total_bytes": str(16 * 1024 * 1024)}, 400, "exceeds 15728640"),
        ({"media_type": "video/mp4", "total_bytes": str(600 * 1024 * 1024)}, 422, "total_bytes"),
        ({"media_type": "image/jpeg"}, 400, "total_bytes is required"),
        ({"media_type": "image/jpeg", "total_bytes": "10", "media_category": "subtitles"}, 400, "media_category"),
    ]
    for form, expected, message in cases:
        response = await client.post(UPLOAD, data={"command": "INIT", **form}, headers=alice.headers)
        assert response.status == expected, form
        assert message in (await response.json())["error"]
    unknown = await client.post(UPLOAD, data={"command": "DANCE"}, headers=alice.headers)
    assert unknown.status == 422
    signed_out = await client.post(UPLOAD, data={"command": "INIT", "media_type": "image/png", "total_bytes": "9"})
    assert signed_out.status == 401


async def test_someone_elses_media_id_is_not_found(client: Client, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    media_id = (await init(client, alice, "image/jpeg", 100))["media_id_string"]
    assert (await append(client, bob, media_id, 0, b"x" * 100)).status == 404
    assert (await finalize(client, bob, media_id)).status == 404
    response = await client.get(UPLOAD, params={"command": "STATUS", "media_id": media_id}, headers=bob.headers)
    assert response.status == 404
    assert (await client.get(f"/api/v1/media/{media_id}", headers=bob.headers)).status == 404
    assert (await finalize(client, alice, "123456789")).status == 404


async def test_an_expired_media_id_is_refused(client: Client, res: Resources, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    media_id = (await init(client, alice, "image/jpeg", 100))["media_id_string"]
    assert (await append(client, alice, media_id, 0, b"x" * 50)).status == 204
    await res.db.execute("UPDATE media SET expires_at = now() - interval '1 second' WHERE id = $1", int(media_id))
    late = await append(client, alice, media_id, 1, b"x" * 50)
    assert late.status == 400 and "expired" in (await late.json())["error"]
    assert (await finalize(client, alice, media_id)).status == 400


async def test_append_after_finalize_and_status_before_it_are_refused(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    data = samples.jpeg()
    media_id = (await init(client, alice, "image/jpeg", len(data)))["media_id_string"]
    early = await client.get(UPLOAD, params={"command": "STATUS", "media_id": media_id}, headers=alice.headers)
    assert early.status == 400
    assert (await append(client, alice, media_id, 0, data)).status == 204
    first = await finalize(client, alice, media_id)
    again = await finalize(client, alice, media_id)  # FINALIZE is idempotent
    assert first.status == again.status == 201
    assert (await again.json())["processing_info"]["state"] == "pending"
    late = await append(client, alice, media_id, 0, data)
    assert late.status == 409


async def test_a_file_whose_bytes_are_not_its_declared_type_fails_in_the_worker(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    final = await upload(client, alice, samples.png(), "image/jpeg")  # a "JPEG" that is a PNG
    await run_worker(res)
    info = (await status(client, alice, final["media_id_string"]))["processing_info"]
    assert info["state"] == "failed"
    assert info["error"]["name"] == "InvalidMedia" and "image/png" in info["error"]["message"]
    shown = await client.get(f"/api/v1/media/{final['media_id_string']}", headers=alice.headers)
    assert shown.status == 422
    text = await upload(client, alice, b"just some text, not a picture at all", "image/png")
    await run_worker(res)
    failed = (await status(client, alice, text["media_id_string"]))["processing_info"]
    assert failed["state"] == "failed" and "Unsupported" in failed["error"]["message"]


async def test_the_worker_enforces_the_limit_of_the_real_type(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    data = samples.jpeg(400, 300)
    final = await upload(client, alice, data, "image/jpeg")
    strict = dataclasses.replace(res, settings=dataclasses.replace(res.settings, media_image_max_bytes=1024))
    await run_worker(strict)
    info = (await status(client, alice, final["media_id_string"]))["processing_info"]
    assert info["state"] == "failed" and info["error"]["name"] == "FileSizeExceeded"


async def test_bodies_and_segments_over_the_limits_get_413(make_client: ClientFactory, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    small = await make_client(upload_max_body_bytes=1024 * 1024)
    media_id = (await init(small, alice, "video/mp4", 3_000_000))["media_id_string"]
    response = await append(small, alice, media_id, 0, b"x" * 1_500_000)
    assert response.status == 413 and "limit" in (await response.json())["error"]

    roomy = await make_client(upload_max_body_bytes=8 * 1024 * 1024)
    media_id = (await init(roomy, alice, "video/mp4", 7_000_000))["media_id_string"]
    response = await append(roomy, alice, media_id, 0, b"x" * (5 * 1024 * 1024 + 1))
    assert response.status == 413 and "5242880" in (await response.json())["error"]
    assert (await append(roomy, alice, media_id, 0, b"x" * (5 * 1024 * 1024))).status == 204
