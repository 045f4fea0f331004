"""Discovery and the instance's documents: WebFinger, NodeInfo, host-meta, and the /api/v1/instance/* routes
clients read at start, checked with Mastodon.py where it has a method for them."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import ClientFactory, UserFactory
from live import serve_app
from mastodon import Mastodon, MastodonNotFoundError
from oauth_flow import Client

from app.main import create_app
from config import Settings

PUBLIC = "https://chirp.example"


@pytest.fixture
async def base_url(settings: Settings) -> AsyncIterator[str]:
    async with serve_app(create_app(settings)) as url:
        yield url


async def test_webfinger_finds_a_local_account_by_acct_and_by_profile_url(
    make_client: ClientFactory, make_user: UserFactory
) -> None:
    client = await make_client(public_url=PUBLIC)
    await make_user("Alice")
    for resource in ("acct:alice@chirp.example", "alice@chirp.example", "acct:Alice", f"{PUBLIC}/@alice"):
        response = await client.get("/.well-known/webfinger", params={"resource": resource})
        assert response.status == 200, resource
        assert response.content_type == "application/jrd+json"
        body = await response.json(content_type=None)
        assert body["subject"] == "acct:Alice@chirp.example"
        profile = [link for link in body["links"] if link["rel"] == "http://webfinger.net/rel/profile-page"]
        assert profile == [
            {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": f"{PUBLIC}/@Alice"}
        ]


async def test_webfinger_refuses_other_hosts_unknown_names_and_a_missing_resource(
    make_client: ClientFactory, make_user: UserFactory
) -> None:
    client = await make_client(public_url=PUBLIC)
    await make_user("alice")
    for resource in ("acct:alice@elsewhere.example", "acct:nobody@chirp.example", "https://elsewhere.example/@alice"):
        response = await client.get("/.well-known/webfinger", params={"resource": resource})
        assert response.status == 404, resource
    missing = await client.get("/.well-known/webfinger")
    assert missing.status == 422 and "resource" in (await missing.json())["error"]


async def test_nodeinfo_links_both_versions_and_counts_users_and_posts(
    make_client: ClientFactory, make_user: UserFactory
) -> None:
    client = await make_client(public_url=PUBLIC)
    alice = await make_user("alice")
    await client.post("/api/v1/statuses", json={"status": "counted"}, headers=alice.headers)
    links = (await (await client.get("/.well-known/nodeinfo")).json())["links"]
    assert [link["href"] for link in links] == [f"{PUBLIC}/nodeinfo/2.0", f"{PUBLIC}/nodeinfo/2.1"]
    for version in ("2.0", "2.1"):
        response = await client.get(f"/nodeinfo/{version}")
        assert response.status == 200
        assert f"schema/{version}#" in response.headers["Content-Type"]
        body = await response.json(content_type=None)
        assert body["version"] == version and body["software"]["name"] == "chirp"
        assert body["usage"]["users"] == {"total": 1, "activeMonth": 1, "activeHalfyear": 1}
        assert body["usage"]["localPosts"] == 1 and body["protocols"] == []
    assert (await client.get("/nodeinfo/1.0")).status == 404


async def test_host_meta_points_to_webfinger_in_xml_and_json(make_client: ClientFactory) -> None:
    client = await make_client(public_url=PUBLIC)
    xml = await client.get("/.well-known/host-meta")
    assert xml.status == 200 and xml.content_type == "application/xrd+xml"
    assert f'template="{PUBLIC}/.well-known/webfinger?resource={{uri}}"' in await xml.text()
    as_json = await (await client.get("/.well-known/host-meta?format=json")).json(content_type=None)
    assert as_json["links"][0]["template"] == f"{PUBLIC}/.well-known/webfinger?resource={{uri}}"


def instance_documents(base_url: str) -> dict[str, Any]:
    api = Mastodon(api_base_url=base_url)
    out: dict[str, Any] = {
        "rules": api.instance_rules(),
        "activity": api.instance_activity(),
        "peers": api.instance_peers(),
        "about": api.instance_extended_description(),
        "translation": api.instance_translation_languages(),
        "nodeinfo": api.instance_nodeinfo(),
    }
    try:
        api.instance_terms_of_service()
    except MastodonNotFoundError as exc:
        out["terms"] = exc
    return out


async def test_mastodon_py_reads_the_instance_documents(base_url: str, client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    await client.post("/api/v1/statuses", json={"status": "this week"}, headers=alice.headers)
    documents = await asyncio.to_thread(instance_documents, base_url)
    assert documents["rules"] == [] and documents["peers"] == [] and documents["translation"] == {}
    assert "<p>" in documents["about"].content
    weeks = documents["activity"]
    assert len(weeks) == 12
    assert int(weeks[0].statuses) == 1 and int(weeks[0].registrations) == 1 and int(weeks[0].logins) == 1
    assert all(int(week.statuses) == 0 for week in weeks[1:])
    assert weeks[0].week > weeks[1].week and weeks[0].week.weekday() == 0  # Mastodon.py reads the UNIX times
    assert documents["nodeinfo"].software.name == "chirp"
    assert "terms" in documents


async def test_the_privacy_policy_and_the_v2_links_to_the_documents(make_client: ClientFactory) -> None:
    client = await make_client(public_url=PUBLIC)
    policy = await (await client.get("/api/v1/instance/privacy_policy")).json()
    assert re.search(r"\d{4}-\d\d-\d\dT", policy["updated_at"]) and "password" in policy["content"]
    v2 = await (await client.get("/api/v2/instance")).json()
    urls = v2["configuration"]["urls"]
    assert urls["privacy_policy"] == f"{PUBLIC}/api/v1/instance/privacy_policy"
    assert urls["terms_of_service"] is None
    assert v2["configuration"]["timelines_access"]["live_feeds"]["local"] == "public"
    thumbnail = await client.get("/thumbnail.png")
    assert thumbnail.status == 200 and (await thumbnail.read())[:8] == b"\x89PNG\r\n\x1a\n"
    assert v2["thumbnail"]["url"] == f"{PUBLIC}/thumbnail.png"
