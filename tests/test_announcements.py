"""Announcements: the operator publishes them with `chirp announce`; users see the current ones (Mastodon.py's
`announcements`), dismiss them and react with emoji."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from conftest import UserFactory
from live import serve_app
from mastodon import Mastodon
from oauth_flow import Client

from app.main import create_app
from config import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent


def chirp(stack_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "announce", *args],
        env={**stack_env, "PATH": "/usr/bin:/bin"},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def published_id(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[-1]


@pytest.fixture
async def base_url(settings: Settings) -> AsyncIterator[str]:
    async with serve_app(create_app(settings)) as url:
        yield url


def mastodon_py_reads_reacts_and_dismisses(base_url: str, token: str) -> dict[str, Any]:
    api = Mastodon(access_token=token, api_base_url=base_url)
    shown = api.announcements()
    api.announcement_reaction_create(shown[0], "🎉")
    reacted = api.announcements()
    api.announcement_dismiss(shown[0])
    return {"shown": shown, "reacted": reacted, "after": api.announcements()}


async def test_an_announcement_from_the_command_line_reaches_mastodon_py(
    stack_env: dict[str, str], settings: Settings, base_url: str, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    ends = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    announcement_id = published_id(
        chirp(stack_env, "add", "Maintenance tonight <b>at 22:00</b>", "--ends-at", ends, "--starts-at", "2026-01-01")
    )
    seen = await asyncio.to_thread(mastodon_py_reads_reacts_and_dismisses, base_url, alice.token)
    [shown] = seen["shown"]
    assert str(shown.id) == announcement_id
    assert shown.content == "<p>Maintenance tonight &lt;b&gt;at 22:00&lt;/b&gt;</p>"
    assert shown.read is False and shown.all_day is False and shown.ends_at is not None
    assert [(r.name, r.count, r.me) for r in seen["reacted"][0].reactions] == [("🎉", 1, True)]
    assert seen["after"] == []  # dismissed: gone unless asked for with_dismissed


async def test_dismissed_ones_come_back_with_with_dismissed_and_reactions_are_counted_per_user(
    stack_env: dict[str, str], client: Client, make_user: UserFactory
) -> None:
    alice, bob = await make_user("alice"), await make_user("bob")
    announcement_id = published_id(chirp(stack_env, "add", "Welcome!"))
    name = quote("👍")
    for user in (alice, bob, bob):  # bob twice: one reaction of a name per user
        response = await client.put(f"/api/v1/announcements/{announcement_id}/reactions/{name}", headers=user.headers)
        assert response.status == 200
    assert (await client.post(f"/api/v1/announcements/{announcement_id}/dismiss", headers=alice.headers)).status == 200
    assert await (await client.get("/api/v1/announcements", headers=alice.headers)).json() == []
    [again] = await (await client.get("/api/v1/announcements?with_dismissed=true", headers=alice.headers)).json()
    assert again["read"] is True and again["reactions"] == [{"name": "👍", "count": 2, "me": True}]
    removed = await client.delete(f"/api/v1/announcements/{announcement_id}/reactions/{name}", headers=bob.headers)
    assert removed.status == 200
    [for_bob] = await (await client.get("/api/v1/announcements", headers=bob.headers)).json()
    assert for_bob["read"] is False and for_bob["reactions"] == [{"name": "👍", "count": 1, "me": False}]


async def test_ended_and_removed_announcements_are_not_shown(
    stack_env: dict[str, str], client: Client, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    ended = published_id(chirp(stack_env, "add", "Old news", "--starts-at", "2025-01-01", "--ends-at", "2025-01-02"))
    current = published_id(chirp(stack_env, "add", "Current"))
    listed = chirp(stack_env, "list")
    assert listed.returncode == 0 and ended in listed.stdout and current in listed.stdout
    shown = await (await client.get("/api/v1/announcements", headers=alice.headers)).json()
    assert [a["id"] for a in shown] == [current]
    gone = await client.post(f"/api/v1/announcements/{ended}/dismiss", headers=alice.headers)
    assert gone.status == 404
    assert chirp(stack_env, "remove", current).returncode == 0
    assert await (await client.get("/api/v1/announcements", headers=alice.headers)).json() == []
    assert chirp(stack_env, "remove", current).returncode == 1


async def test_bad_requests_are_clear_4xx(stack_env: dict[str, str], client: Client, make_user: UserFactory) -> None:
    alice = await make_user("alice")
    announcement_id = published_id(chirp(stack_env, "add", "Hello"))
    assert (await client.get("/api/v1/announcements")).status == 401
    not_emoji = await client.put(f"/api/v1/announcements/{announcement_id}/reactions/like", headers=alice.headers)
    assert not_emoji.status == 422 and "emoji" in (await not_emoji.json())["error"]
    unknown = await client.put(f"/api/v1/announcements/12345/reactions/{quote('🎉')}", headers=alice.headers)
    assert unknown.status == 404


def test_the_command_explains_itself_and_refuses_bad_input(stack_env: dict[str, str]) -> None:
    helped = chirp(stack_env, "add", "--help")
    assert helped.returncode == 0 and "--ends-at" in helped.stdout and "dismisses" in helped.stdout
    bad_time = chirp(stack_env, "add", "x", "--ends-at", "tomorrow-ish")
    assert bad_time.returncode == 2 and "ISO 8601" in bad_time.stderr
    backwards = chirp(stack_env, "add", "x", "--starts-at", "2026-02-02", "--ends-at", "2026-02-01")
    assert backwards.returncode == 2 and "ends before it starts" in backwards.stderr
    empty = chirp(stack_env, "add", "   ")
    assert empty.returncode == 2 and "empty" in empty.stderr
