"""Media in posts: up to 4 images or 1 video/GIF, only the author's own processed media, shown in the Status."""

from __future__ import annotations

from typing import Any

import aiohttp
import media_samples as samples
from aiohttp import web
from aiohttp.test_utils import TestClient
from conftest import TestUser as Author
from conftest import UserFactory

from storage.resources import Resources
from workers.queues import all_queues
from workers.runner import JobRunner

Client = TestClient[web.Request, web.Application]


async def upload(client: Client, user: Author, data: bytes, filename: str, content_type: str, **fields: str) -> str:
    form = aiohttp.FormData()
    form.add_field("file", data, filename=filename, content_type=content_type)
    for name, value in fields.items():
        form.add_field(name, value)
    response = await client.post("/api/v2/media", data=form, headers=user.headers)
    assert response.status in (200, 202), await response.text()
    media_id: str = (await response.json())["id"]
    return media_id


async def image(client: Client, user: Author, description: str = "") -> str:
    return await upload(client, user, samples.jpeg(), "a.jpg", "image/jpeg", description=description)


async def post(client: Client, user: Author, media_ids: list[str], text: str = "look") -> aiohttp.ClientResponse:
    return await client.post("/api/v1/statuses", json={"status": text, "media_ids": media_ids}, headers=user.headers)


async def test_a_post_shows_its_images_in_order(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    ids = [await image(client, alice, f"picture {n}") for n in range(4)]
    response = await post(client, alice, list(reversed(ids)))
    assert response.status == 200, await response.text()
    status: dict[str, Any] = await response.json()
    attachments = status["media_attachments"]
    assert [a["id"] for a in attachments] == list(reversed(ids))
    assert [a["description"] for a in attachments] == [f"picture {n}" for n in (3, 2, 1, 0)]
    first = attachments[0]
    assert first["type"] == "image" and first["url"] and first["preview_url"] and first["blurhash"]
    assert set(first["meta"]) >= {"original", "small"}
    shown = await (await client.get(f"/api/v1/statuses/{status['id']}", headers=alice.headers)).json()
    assert [a["id"] for a in shown["media_attachments"]] == list(reversed(ids))
    # Media-only posts need no text.
    only_media = await post(client, alice, [await image(client, alice)], text="")
    assert only_media.status == 200 and len((await only_media.json())["media_attachments"]) == 1


async def test_a_post_takes_one_video(client: Client, res: Resources, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    video = await upload(client, alice, samples.mp4(), "clip.mp4", "video/mp4")
    pending = await post(client, alice, [video])
    assert pending.status == 422 and "finished processing" in (await pending.json())["error"]
    await JobRunner(res, all_queues()).drain("media")
    response = await post(client, alice, [video])
    assert response.status == 200
    attachment = (await response.json())["media_attachments"][0]
    assert attachment["type"] == "video" and attachment["meta"]["original"]["frame_rate"] == "25/1"


async def test_attachment_rules_are_enforced(client: Client, res: Resources, make_user: UserFactory) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    images = [await image(client, alice) for _ in range(5)]
    gif = await upload(client, alice, samples.gif(frames=4), "a.gif", "image/gif")
    await JobRunner(res, all_queues()).drain("media")
    bobs = await image(client, bob)
    cases = [
        (images, "at most 4"),
        ([images[0], gif], "1 video or GIF"),
        ([bobs], "unknown media id"),
        (["12345"], "unknown media id"),
        ([images[0], images[0]], "twice"),
    ]
    for media_ids, message in cases:
        response = await post(client, alice, media_ids)
        assert response.status == 422, media_ids
        assert message in (await response.json())["error"], media_ids
    # Nothing was half-written: no post, and every upload is still free to use.
    assert await res.db.fetchval("SELECT count(*) FROM posts") == 0
    assert await res.db.fetchval("SELECT count(*) FROM media WHERE post_id IS NOT NULL") == 0

    assert (await post(client, alice, [gif])).status == 200
    taken = await post(client, alice, [gif])
    assert taken.status == 422 and "attached to another post" in (await taken.json())["error"]


async def test_a_deleted_post_lets_go_of_its_media(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    media_id = await image(client, alice)
    first = await (await post(client, alice, [media_id])).json()
    assert (await client.delete(f"/api/v1/statuses/{first['id']}", headers=alice.headers)).status == 200
    again = await post(client, alice, [media_id], text="redrafted")
    assert again.status == 200 and (await again.json())["media_attachments"][0]["id"] == media_id
