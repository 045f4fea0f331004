"""Media URLs never expire: an attachment's `url` and `preview_url` are Chirp addresses on CHIRP_PUBLIC_URL that
redirect to a fresh signed S3 URL (cacheable), so apps that cache posts keep showing their pictures; media
that are gone answer 404. And the other links clients follow (pagination) are on CHIRP_PUBLIC_URL too."""

from __future__ import annotations

import asyncio
import io
from urllib.parse import parse_qs, urlsplit

import aiohttp
import media_samples as samples
from conftest import ClientFactory, UserFactory
from live import serve_public
from mastodon import Mastodon
from oauth_flow import Client
from PIL import Image

from config import Settings
from storage.resources import Resources

PUBLIC = "https://chirp.example"


async def upload(client: Client, headers: dict[str, str], data: bytes | None = None) -> dict[str, object]:
    form = aiohttp.FormData()
    form.add_field("file", data or samples.jpeg(320, 200), filename="photo.jpg", content_type="image/jpeg")
    response = await client.post("/api/v2/media", data=form, headers=headers)
    body: dict[str, object] = await response.json()
    assert response.status == 200, body
    return body


async def test_an_attachment_url_is_on_the_public_url_and_redirects_to_a_fresh_signed_url(
    make_client: ClientFactory, make_user: UserFactory
) -> None:
    client = await make_client(public_url=PUBLIC, media_url_seconds=600)
    alice = await make_user("alice")
    entity = await upload(client, alice.headers)
    for field, size in (("url", (320, 200)), ("preview_url", (320, 200))):
        url = str(entity[field])
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == PUBLIC and parts.path.startswith(f"/media/{entity['id']}/")
        assert not parts.query  # nothing in it expires
        first = await client.get(parts.path, allow_redirects=False)
        assert first.status == 302 and first.headers["Cache-Control"] == "public, max-age=300"
        signed = first.headers["Location"]
        assert "X-Amz-Expires=600" in signed
        async with aiohttp.ClientSession() as session, session.get(signed) as response:
            assert response.status == 200
            with Image.open(io.BytesIO(await response.read())) as image:
                assert image.size == size
        await asyncio.sleep(1.1)  # signatures carry the second they were made
        again = await client.get(parts.path, allow_redirects=False)
        assert again.status == 302 and again.headers["Location"] != signed  # signed afresh each time


async def test_a_post_shows_the_same_permanent_urls_on_every_read(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    entity = await upload(client, alice.headers)
    posted = await (
        await client.post(
            "/api/v1/statuses", json={"status": "pic", "media_ids": [entity["id"]]}, headers=alice.headers
        )
    ).json()
    await asyncio.sleep(1.1)
    for _ in range(2):  # the second read comes from the post cache
        shown = await (await client.get(f"/api/v1/statuses/{posted['id']}")).json()
        assert shown["media_attachments"][0]["url"] == entity["url"] == posted["media_attachments"][0]["url"]


async def test_media_that_are_gone_or_guessed_answer_404(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    entity = await upload(client, alice.headers)
    path = urlsplit(str(entity["url"])).path
    media_id, attempt, name = path.removeprefix("/media/").split("/")
    guessed = await client.get(f"/media/{media_id}/{'0' * len(attempt)}/{name}", allow_redirects=False)
    assert guessed.status == 404 and (await guessed.json())["error"]
    other = await client.get(f"/media/{media_id}/{attempt}/small.png", allow_redirects=False)
    assert other.status == 404
    await res.db.execute("DELETE FROM media WHERE id = $1", int(media_id))
    gone = await client.get(path, allow_redirects=False)
    assert gone.status == 404


async def test_public_media_urls_stay_objects_under_the_media_public_url(
    make_client: ClientFactory, make_user: UserFactory
) -> None:
    client = await make_client(media_urls="public", media_public_url="https://media.chirp.example")
    alice = await make_user("alice")
    entity = await upload(client, alice.headers)
    assert str(entity["url"]).startswith(f"https://media.chirp.example/media/{entity['id']}/")


async def test_pagination_links_are_on_the_public_url(make_client: ClientFactory, make_user: UserFactory) -> None:
    client = await make_client(public_url=PUBLIC)
    alice = await make_user("alice")
    for text in ("one", "two", "three"):
        await client.post("/api/v1/statuses", json={"status": text}, headers=alice.headers)
    response = await client.get(f"/api/v1/accounts/{alice.id}/statuses?limit=2&exclude_replies=true")
    links = [part.split(";")[0].strip(" <>") for part in response.headers["Link"].split(",")]
    for link in links:
        parts = urlsplit(link)
        assert f"{parts.scheme}://{parts.netloc}" == PUBLIC
        assert parts.path == f"/api/v1/accounts/{alice.id}/statuses"
        assert parse_qs(parts.query)["exclude_replies"] == ["true"]


def mastodon_py_pages(base_url: str, token: str) -> list[str]:
    api = Mastodon(access_token=token, api_base_url=base_url)
    first = api.account_statuses(api.me(), limit=2)
    second = api.fetch_next(first)
    return [status.content for status in [*first, *(second or [])]]


async def test_mastodon_py_follows_the_links_when_the_public_url_is_the_server(
    settings: Settings, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    async with serve_public(settings) as base_url:
        api = Mastodon(access_token=alice.token, api_base_url=base_url)
        for text in ("one", "two", "three"):
            await asyncio.to_thread(api.status_post, text)
        contents = await asyncio.to_thread(mastodon_py_pages, base_url, alice.token)
    assert [c.removeprefix("<p>").removesuffix("</p>") for c in contents] == ["three", "two", "one"]


async def test_media_files_are_not_rate_limited_like_api_calls(
    make_client: ClientFactory, make_user: UserFactory
) -> None:
    client = await make_client(rate_limit_ip=(2, 300))
    alice = await make_user("alice")
    path = urlsplit(str((await upload(client, alice.headers))["url"])).path
    for _ in range(4):  # a timeline of pictures is many requests from one address
        response = await client.get(path, allow_redirects=False)
        assert response.status == 302 and "X-RateLimit-Remaining" not in response.headers
