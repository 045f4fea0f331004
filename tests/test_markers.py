"""Read markers: set and read back for home and notifications, with a version that counts updates, through
Mastodon.py and raw requests (form and JSON); bad input is a 422, other accounts' markers stay apart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from conftest import UserFactory
from live import serve_app
from mastodon import Mastodon
from social import Client, expect

from app.main import create_app
from config import Settings


@pytest.fixture
async def base_url(settings: Settings) -> AsyncIterator[str]:
    async with serve_app(create_app(settings)) as url:
        yield url


async def test_mastodon_py_sets_and_reads_markers_with_a_counting_version(
    base_url: str, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    api = Mastodon(access_token=alice.token, api_base_url=base_url)

    assert await asyncio.to_thread(api.markers_get, ["home", "notifications"]) == {}
    first = await asyncio.to_thread(api.markers_set, ["home", "notifications"], [100, 7])
    assert first["home"]["last_read_id"] == "100" and first["home"]["version"] == 0
    assert first["notifications"]["last_read_id"] == "7" and first["notifications"]["version"] == 0

    moved = await asyncio.to_thread(api.markers_set, "home", 150)
    assert set(moved) == {"home"}
    assert moved["home"]["last_read_id"] == "150" and moved["home"]["version"] == 1
    assert moved["home"]["updated_at"] >= first["home"]["updated_at"]

    same = await asyncio.to_thread(api.markers_set, "home", 150)  # nothing moved: no new version
    assert same["home"]["version"] == 1

    both = await asyncio.to_thread(api.markers_get, ["home", "notifications"])
    assert both["home"]["last_read_id"] == "150" and both["home"]["version"] == 1
    assert both["notifications"]["last_read_id"] == "7" and both["notifications"]["version"] == 0
    only_home = await asyncio.to_thread(api.markers_get, "home")
    assert set(only_home) == {"home"}


async def test_markers_from_a_form_are_per_account_and_unknown_timelines_are_ignored(
    client: Client, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    body = await expect(
        await client.post(
            "/api/v1/markers",
            data={"notifications[last_read_id]": "42", "lists[last_read_id]": "9"},
            headers=alice.headers,
        ),
        200,
    )
    assert list(body) == ["notifications"] and body["notifications"]["last_read_id"] == "42"
    params = [("timeline[]", "home"), ("timeline[]", "notifications"), ("timeline[]", "lists")]
    mine = await expect(await client.get("/api/v1/markers", params=params, headers=alice.headers), 200)
    assert list(mine) == ["notifications"]
    theirs = await expect(await client.get("/api/v1/markers", params=params, headers=bob.headers), 200)
    assert theirs == {}


async def test_bad_marker_input_and_missing_scope_are_clear_errors(client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    reader = await make_user("reader", scopes=("read",))
    bad = await expect(
        await client.post("/api/v1/markers", json={"home": {"last_read_id": "not-an-id"}}, headers=alice.headers), 422
    )
    assert "home[last_read_id]" in bad["error"]
    await expect(
        await client.post("/api/v1/markers", json={"home": {"last_read_id": "5"}}, headers=reader.headers), 403
    )
    await expect(await client.get("/api/v1/markers"), 401)
    assert (
        await expect(await client.get("/api/v1/markers", params={"timeline[]": "home"}, headers=alice.headers), 200)
        == {}
    )
