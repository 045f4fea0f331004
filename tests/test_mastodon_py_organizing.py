"""Mastodon.py against a real server for issue 24: bookmarks, pins, endorsements, lists and their timeline,
followed hashtags, and its errors for a sixth pin and a non-followed list member."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from live import serve_app, signed_in
from mastodon import Mastodon, MastodonAPIError
from streams import run_queues

from app.main import create_app
from config import Settings
from storage.resources import Resources


@pytest.fixture
async def base_url(settings: Settings) -> AsyncIterator[str]:
    async with serve_app(create_app(settings)) as url:
        yield url


async def test_mastodon_py_bookmarks_pins_and_endorses(base_url: str) -> None:
    def run() -> None:
        alice, bob = signed_in(base_url, "alice"), signed_in(base_url, "bob")
        post = bob.status_post("worth keeping")
        assert alice.status_bookmark(post.id).bookmarked is True
        assert [s.id for s in alice.bookmarks()] == [post.id]
        assert alice.status_unbookmark(post.id).bookmarked is False
        mine = [alice.status_post(f"mine {i}") for i in range(6)]
        for status in mine[:5]:
            assert alice.status_pin(status.id).pinned is True
        with pytest.raises(MastodonAPIError, match="limited to 5"):
            alice.status_pin(mine[5].id)
        with pytest.raises(MastodonAPIError, match="own"):
            alice.status_pin(post.id)
        me = alice.me()
        assert len(alice.account_statuses(me.id, pinned=True)) == 5
        assert alice.status_unpin(mine[0].id).pinned is False
        bob_id = bob.me().id
        alice.account_follow(bob_id)
        assert alice.account_pin(bob_id).endorsed is True
        assert [a.id for a in alice.endorsements()] == [bob_id]

    await asyncio.to_thread(run)


async def test_mastodon_py_lists_their_timeline_and_followed_tags(base_url: str, res: Resources) -> None:
    def setup() -> tuple[Mastodon, Mastodon, Mastodon, str, str]:
        alice, bob, carol = signed_in(base_url, "alice"), signed_in(base_url, "bob"), signed_in(base_url, "carol")
        bob_id, carol_id = bob.me().id, carol.me().id
        made = alice.list_create("friends", replies_policy="none", exclusive=False)
        with pytest.raises(MastodonAPIError, match="follow"):
            alice.list_accounts_add(made.id, [bob_id])
        alice.account_follow(bob_id)
        alice.account_follow(carol_id)
        alice.list_accounts_add(made.id, [bob_id])
        assert [a.id for a in alice.list_accounts(made.id)] == [bob_id]
        assert [lst.id for lst in alice.account_lists(bob_id)] == [made.id]
        assert alice.list_update(made.id, "close friends").title == "close friends"
        assert [lst.title for lst in alice.lists()] == ["close friends"]
        alice.tag_follow("birds")
        return alice, bob, carol, str(made.id), str(carol_id)

    alice, bob, carol, list_id, _ = await asyncio.to_thread(setup)
    in_list = await asyncio.to_thread(bob.status_post, "for the list")
    await asyncio.to_thread(carol.status_post, "not for the list")
    stranger = await asyncio.to_thread(signed_in, base_url, "dave")
    tagged = await asyncio.to_thread(stranger.status_post, "#birds sing")
    await run_queues(res, "timeline", "post_cache")

    def check() -> None:
        assert [s.id for s in alice.timeline_list(list_id)] == [in_list.id]
        assert tagged.id in [s.id for s in alice.timeline_home()]
        assert [t.name for t in alice.followed_tags()] == ["birds"]
        assert alice.tag("birds").following is True
        alice.tag_unfollow("birds")
        alice.list_delete(list_id)
        assert alice.lists() == []

    await asyncio.to_thread(check)
