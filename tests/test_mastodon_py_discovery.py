"""Mastodon.py against a real server for the discovery half of issue 24: account search, featured
hashtags, suggestions (and dismissing one), trending tags, posts and links, the directory and familiar
followers, and its error for a featured tag name that is not a tag."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from live import serve_app, signed_in
from mastodon import Mastodon, MastodonAPIError
from search_scope import fresh_search_indexes

from app.main import create_app
from config import Settings
from domain.trends import compute_trends
from storage.resources import Resources, open_resources
from workers.queues import all_queues
from workers.runner import JobRunner


@pytest.fixture
async def scoped(settings: Settings) -> AsyncIterator[Settings]:
    """Settings with fresh Meilisearch indexes of their own (removed afterwards)."""
    async with fresh_search_indexes(settings) as fresh:
        yield fresh


@pytest.fixture
async def served(scoped: Settings) -> AsyncIterator[tuple[str, Resources]]:
    async with open_resources(scoped) as res, serve_app(create_app(scoped)) as url:
        yield url, res


async def test_mastodon_py_finds_people_features_tags_and_reads_trends(served: tuple[str, Resources]) -> None:
    base_url, res = served

    def setup() -> list[Mastodon]:
        alice, bob, carol = (signed_in(base_url, n) for n in ("alice", "bob", "carol_pilot"))
        bob.account_follow(carol.me().id)
        alice.account_follow(bob.me().id)
        for api in (alice, bob):
            api.status_post("#Birding at dawn https://example.com/birds")
        liked = carol.status_post("look up")
        alice.status_favourite(liked.id)
        bob.status_favourite(liked.id)
        featured = alice.featured_tag_create("birding")
        assert featured.name == "birding" and int(featured.statuses_count) == 1
        with pytest.raises(MastodonAPIError, match="not a hashtag"):
            alice.featured_tag_create("not a tag")
        return [alice, bob, carol]

    alice, bob, carol = await asyncio.to_thread(setup)
    await JobRunner(res, all_queues()).drain("search")
    await compute_trends(res)

    def check() -> None:
        carol_id = carol.me().id
        assert [a.acct for a in alice.account_search("carol")] == ["carol_pilot"]
        assert [a.acct for a in alice.account_search("carol", following=True)] == []
        assert [t.name for t in alice.featured_tags()] == ["birding"]
        assert [t.name for t in bob.account_featured_tags(alice.me().id)] == ["birding"]
        assert [t.name for t in bob.featured_tag_suggestions()] == ["birding"]
        alice.featured_tag_delete(alice.featured_tags()[0].id)
        assert alice.featured_tags() == []
        suggested = alice.suggestions()
        assert [a.id for a in suggested] == [carol_id]  # Mastodon.py reads /api/v1/suggestions: accounts
        alice.suggestion_delete(carol_id)
        assert alice.suggestions() == []
        assert [t.name for t in alice.trending_tags()] == ["birding"]
        assert alice.trending_tags()[0].history[0].accounts in ("2", 2)
        assert [s.content for s in alice.trending_statuses()] == ["<p>look up</p>"]
        assert [link.url for link in alice.trending_links()] == ["https://example.com/birds"]
        assert {a.acct for a in alice.directory(order="new")} == {"alice", "bob", "carol_pilot"}
        familiar = alice.account_familiar_followers([carol_id])
        assert [(str(f.id), [a.acct for a in f.accounts]) for f in familiar] == [(str(carol_id), ["bob"])]

    await asyncio.to_thread(check)
