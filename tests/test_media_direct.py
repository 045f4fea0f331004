"""Direct uploads: pre-signed SigV4 PUTs straight to SeaweedFS, then complete, then the worker."""

from __future__ import annotations

from typing import Any

import aiohttp
import media_samples as samples
from aiohttp import web
from aiohttp.test_utils import TestClient
from conftest import ClientFactory, UserFactory
from conftest import TestUser as Uploader

from domain.media_pipeline import expire_uploads
from storage import media_files as files
from storage.resources import Resources
from workers.queues import all_queues
from workers.runner import JobRunner

Client = TestClient[web.Request, web.Application]
MIB = 1024 * 1024


async def start(client: Client, user: Uploader, media_type: str, total: int, **extra: Any) -> aiohttp.ClientResponse:
    payload = {"media_type": media_type, "total_bytes": total, **extra}
    return await client.post("/api/v1/media/uploads", json=payload, headers=user.headers)


async def put(url: str, data: bytes, content_type: str | None) -> tuple[int, str]:
    headers = {"Content-Type": content_type} if content_type else {}
    async with aiohttp.ClientSession() as session, session.put(url, data=data, headers=headers) as response:
        return response.status, response.headers.get("ETag", "")


async def test_a_small_file_is_put_straight_to_s3_and_processed(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    data = samples.jpeg(320, 240)
    response = await start(client, alice, "image/jpeg", len(data), file_name="cat.jpg")
    assert response.status == 200
    upload = await response.json()
    assert upload["parts"] == [] and upload["upload_url"].startswith(res.settings.s3_endpoint)
    assert "X-Amz-Signature=" in upload["upload_url"] and "content-length%3Bcontent-type" in upload["upload_url"]
    assert upload["media_url"].endswith(f"/api/v1/media/{upload['media_id']}")
    assert upload["headers"] == {"Content-Type": "image/jpeg"} and upload["expires_at"].endswith("Z")
    # The signature binds the type and the length: anything else is refused by S3 itself.
    assert (await put(upload["upload_url"], data, "image/png"))[0] == 403
    assert (await put(upload["upload_url"], data + b"x", "image/jpeg"))[0] == 403
    assert (await put(upload["upload_url"], data, "image/jpeg"))[0] == 200

    complete = await client.post(f"/api/v1/media/{upload['media_id']}/complete", headers=alice.headers)
    assert complete.status == 202
    pending = await complete.json()
    assert pending["url"] is None and pending["type"] == "image"
    shown = await client.get(f"/api/v1/media/{upload['media_id']}", headers=alice.headers)
    assert shown.status == 206

    assert await JobRunner(res, all_queues()).drain("media") == 1
    shown = await client.get(f"/api/v1/media/{upload['media_id']}", headers=alice.headers)
    assert shown.status == 200
    entity = await shown.json()
    assert entity["meta"]["original"]["size"] == "320x240" and entity["url"]
    assert await files.keys_under(res.s3, res.settings.s3_bucket, files.upload_prefix(int(entity["id"]))) == []


async def test_complete_before_the_put_is_a_conflict(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    upload = await (await start(client, alice, "image/png", 1000)).json()
    response = await client.post(f"/api/v1/media/{upload['media_id']}/complete", headers=alice.headers)
    assert response.status == 409 and "not been uploaded" in (await response.json())["error"]


async def test_a_large_file_goes_in_pre_signed_parts(
    make_client: ClientFactory, res: Resources, make_user: UserFactory
) -> None:
    client = await make_client(media_multipart_threshold_bytes=6 * MIB)
    alice = await make_user("alice")
    data = samples.padded_mp4(11_000_000)
    upload = await (await start(client, alice, "video/mp4", len(data))).json()
    assert upload["upload_url"] is None and upload["part_size"] == 8 * MIB
    assert [(p["part_number"], p["size"]) for p in upload["parts"]] == [(1, 8 * MIB), (2, len(data) - 8 * MIB)]
    media_id = upload["media_id"]
    complete_url = f"/api/v1/media/{media_id}/complete"

    first = upload["parts"][0]
    status, etag1 = await put(first["upload_url"], data[: first["size"]], None)
    assert status == 200 and etag1
    # A part not uploaded yet, or an ETag S3 never gave, is refused.
    missing = await client.post(complete_url, json={"etags": [etag1, '"0123"']}, headers=alice.headers)
    assert missing.status == 409 and "Part 2" in (await missing.json())["error"]
    second = upload["parts"][1]
    status, etag2 = await put(second["upload_url"], data[first["size"] :], None)
    assert status == 200
    wrong = await client.post(complete_url, json={"etags": [etag1, '"0123"']}, headers=alice.headers)
    assert wrong.status == 422
    too_few = await client.post(complete_url, json={"etags": [etag1]}, headers=alice.headers)
    assert too_few.status == 422

    done = await client.post(complete_url, json={"etags": [etag1, etag2]}, headers=alice.headers)
    assert done.status == 202
    await JobRunner(res, all_queues()).drain("media")
    entity = await (await client.get(f"/api/v1/media/{media_id}", headers=alice.headers)).json()
    assert entity["type"] == "video" and entity["url"] and entity["meta"]["original"]["width"] == 160
    assert await files.multipart_uploads(res.s3, res.settings.s3_bucket, files.upload_prefix(int(media_id))) == []


async def test_bad_direct_upload_requests_are_refused(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    cases = [
        ({"media_type": "text/html", "total_bytes": 10}, 422),
        ({"media_type": "image/png", "total_bytes": 6 * MIB}, 422),
        ({"media_type": "image/png"}, 422),
        ({"media_type": "image/png", "total_bytes": "lots"}, 422),
        ({"total_bytes": 10}, 422),
    ]
    for payload, expected in cases:
        response = await client.post("/api/v1/media/uploads", json=payload, headers=alice.headers)
        assert response.status == expected, payload
    assert (
        await client.post("/api/v1/media/uploads", json={"media_type": "image/png", "total_bytes": 9})
    ).status == 401


async def test_expired_direct_uploads_are_aborted_in_s3_and_removed(
    make_client: ClientFactory, res: Resources, make_user: UserFactory
) -> None:
    client = await make_client(media_multipart_threshold_bytes=6 * MIB)
    alice = await make_user("alice")
    upload = await (await start(client, alice, "video/mp4", 10 * MIB)).json()
    part = upload["parts"][0]
    assert (await put(part["upload_url"], b"\x00" * part["size"], None))[0] == 200
    media_id = int(upload["media_id"])
    bucket = res.settings.s3_bucket
    assert len(await files.multipart_uploads(res.s3, bucket, files.upload_prefix(media_id))) == 1

    assert await expire_uploads(res) == 0  # not expired yet: kept
    await res.db.execute("UPDATE media SET expires_at = now() - interval '1 second' WHERE id = $1", media_id)
    late = await client.post(f"/api/v1/media/{media_id}/complete", json={"etags": ["x", "y"]}, headers=alice.headers)
    assert late.status == 400 and "expired" in (await late.json())["error"]
    assert await expire_uploads(res) == 1
    assert await files.multipart_uploads(res.s3, bucket, files.upload_prefix(media_id)) == []
    assert await res.db.fetchval("SELECT count(*) FROM media WHERE id = $1", media_id) == 0
