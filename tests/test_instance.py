"""What clients read at start: the instance (v1, v2, with or without a trailing slash), emojis."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ClientFactory
from oauth_flow import Client, bearer

from config.settings import MIB
from domain.instance import STATS_CACHE_KEY
from storage.resources import Resources


@pytest.mark.parametrize("path", ["/api/v1/instance", "/api/v1/instance/"])
async def test_instance_v1_describes_the_server_and_its_limits(make_client: ClientFactory, path: str) -> None:
    client = await make_client(post_max_chars=280)
    response = await client.get(path)
    body = await response.json()
    assert response.status == 200
    assert body["version"].startswith("4.5.0 (compatible; Chirp ")
    assert body["urls"]["streaming_api"] == f"ws://{client.host}:{client.port}"
    assert body["registrations"] is True and body["approval_required"] is False
    statuses = body["configuration"]["statuses"]
    assert statuses == {"max_characters": 280, "max_media_attachments": 4, "characters_reserved_per_url": 23}
    media = body["configuration"]["media_attachments"]
    assert media["image_size_limit"] == 5 * MIB and media["video_size_limit"] == 512 * MIB
    assert media["image_matrix_limit"] > 0 and "image/jpeg" in media["supported_mime_types"]


@pytest.mark.parametrize("path", ["/api/v2/instance", "/api/v2/instance/"])
async def test_instance_v2_describes_the_server_and_its_limits(client: Client, path: str) -> None:
    response = await client.get(path)
    body = await response.json()
    assert response.status == 200
    assert body["domain"] == f"{client.host}:{client.port}"
    assert body["version"].startswith("4.5.0 (compatible; Chirp ")
    assert body["api_versions"] == {"mastodon": 7}
    assert body["configuration"]["urls"]["streaming"] == f"ws://{client.host}:{client.port}"
    assert body["configuration"]["statuses"]["max_characters"] == 500
    assert body["configuration"]["statuses"]["characters_reserved_per_url"] == 23
    assert body["configuration"]["media_attachments"]["video_size_limit"] == 512 * MIB
    assert body["registrations"]["enabled"] is True


async def test_the_streaming_url_follows_the_public_url_host_and_scheme(make_client: ClientFactory) -> None:
    client = await make_client(public_url="https://chirp.example")
    v1 = await (await client.get("/api/v1/instance")).json()
    v2 = await (await client.get("/api/v2/instance")).json()
    # Clients reach the server (behind its proxy) at the public URL, not at the address the request came in on.
    assert v1["urls"]["streaming_api"] == "wss://chirp.example"
    assert v2["configuration"]["urls"]["streaming"] == "wss://chirp.example"
    assert v2["domain"] == v1["uri"] == "chirp.example"


async def test_without_a_public_url_the_streaming_url_is_the_host_the_client_used(client: Client) -> None:
    v2 = await (await client.get("/api/v2/instance")).json()
    assert v2["configuration"]["urls"]["streaming"] == f"ws://{client.host}:{client.port}"


async def test_instance_counts_accounts_and_posts(client: Client, make_user: Any, res: Resources) -> None:
    await make_user("alice")
    await make_user("bob")
    await res.db.execute("UPDATE accounts SET posts_count = 3, last_post_at = now() WHERE username = 'alice'")
    v1 = await (await client.get("/api/v1/instance")).json()
    assert v1["stats"]["user_count"] == 2 and v1["stats"]["status_count"] == 3
    await res.redis.delete(STATS_CACHE_KEY)  # the counts are cached for a minute
    v2 = await (await client.get("/api/v2/instance")).json()
    assert v2["usage"]["users"]["active_month"] == 1


async def test_instance_stats_are_cached_in_valkey(client: Client, make_user: Any, res: Resources) -> None:
    await client.get("/api/v1/instance")
    assert await res.redis.get(STATS_CACHE_KEY) is not None
    await make_user("alice")
    v1 = await (await client.get("/api/v1/instance")).json()
    assert v1["stats"]["user_count"] == 0  # still the cached count


async def test_a_bad_token_on_the_instance_is_still_a_401(client: Client) -> None:
    response = await client.get("/api/v1/instance", headers=bearer("nope"))
    assert response.status == 401


async def test_the_media_limits_shown_are_the_configured_ones(make_client: Any) -> None:
    client = await make_client(media_image_max_bytes=2 * MIB, media_video_max_bytes=64 * MIB)
    media = (await (await client.get("/api/v2/instance")).json())["configuration"]["media_attachments"]
    assert media["image_size_limit"] == 2 * MIB and media["video_size_limit"] == 64 * MIB
    assert "image/png" in media["supported_mime_types"] and "video/mp4" in media["supported_mime_types"]


@pytest.mark.parametrize("path", ["/api/v1/instance", "/api/v2/instance"])
async def test_the_reactions_offered_are_the_ones_posts_accept(make_client: Any, path: str) -> None:
    client = await make_client(reactions=("like", "love", "wow"))
    shown = (await (await client.get(path)).json())["configuration"]["reactions"]
    assert shown == {"max_reactions": 3, "names": ["like", "love", "wow"]}


async def test_custom_emojis_are_an_empty_list(client: Client) -> None:
    response = await client.get("/api/v1/custom_emojis")
    assert response.status == 200
    assert await response.json() == []
