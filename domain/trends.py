"""Trends: the hashtags, links and posts many people are using or interacting with now.

A pass (`compute_trends`, run by the worker every few minutes and by the trends benchmark) reads the last
HISTORY_DAYS of eligible posts (storage/trends.py: public, not sensitive, not by silenced or suspended
accounts) one SLICE of ids at a time and scores:
- a hashtag or a link: each account that used it within SCORE_WINDOW counts once, weighing
  2^(-age / HALF_LIFE) by its latest use, so a tag spammed by one account does not trend and yesterday's
  trend fades; at least MIN_ACCOUNTS accounts. A tag also carries its 7-day `history` (uses, accounts per
  UTC day, newest first);
- a post: each like and repost by someone else within SCORE_WINDOW, weighed the same way by its age.
The best TRENDS_KEPT of each kind go to Valkey; reads page through them (offset, limit) and render them for
the viewer (posts through `post_entities`, so visibility and blocks still apply). `now` is a parameter so
tests can drive the pass at chosen times.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from core.ids import created_at, id_at
from domain.post_entities import post_entities
from domain.search import tag_entity
from storage import trends as trend_store
from storage.resources import Resources

HISTORY_DAYS = 7
SCORE_WINDOW = timedelta(hours=48)
HALF_LIFE = timedelta(hours=6)
SLICE = timedelta(hours=6)
MIN_ACCOUNTS = 2
TRENDS_KEPT = 100
KINDS = ("tags", "statuses", "links")

ProgressCallback = Callable[[str, int, int], None]


def decay(age: timedelta) -> float:
    """The weight of a use or an interaction `age` old: 1 now, halving every HALF_LIFE."""
    return float(0.5 ** (max(age.total_seconds(), 0.0) / HALF_LIFE.total_seconds()))


@dataclass
class _Uses:
    """What a pass gathers about one hashtag or link."""

    latest: dict[int, int] = field(default_factory=dict)  # account -> latest post id within SCORE_WINDOW
    daily: dict[datetime, list[int]] = field(default_factory=dict)  # day -> [uses, accounts]
    daily_accounts: dict[datetime, set[int]] = field(default_factory=lambda: defaultdict(set))

    def add(self, account_id: int, uses: int, last_id: int, *, scored_from: int) -> None:
        day = created_at(last_id).replace(hour=0, minute=0, second=0, microsecond=0)
        counts = self.daily.setdefault(day, [0, 0])
        counts[0] += uses
        if account_id not in self.daily_accounts[day]:
            self.daily_accounts[day].add(account_id)
            counts[1] += 1
        if last_id >= scored_from and last_id > self.latest.get(account_id, 0):
            self.latest[account_id] = last_id

    def score(self, now: datetime) -> float:
        return sum(decay(now - created_at(post_id)) for post_id in self.latest.values())


@dataclass(frozen=True)
class Trends:
    """One pass's result: each kind's entries, best first, as stored (each with its `score`)."""

    tags: list[dict[str, Any]]
    statuses: list[dict[str, Any]]
    links: list[dict[str, Any]]

    def as_kinds(self) -> dict[str, list[dict[str, Any]]]:
        return {"tags": self.tags, "statuses": self.statuses, "links": self.links}


def _history(uses: _Uses, today: datetime) -> list[dict[str, str]]:
    out = []
    for back in range(HISTORY_DAYS):
        day = today - timedelta(days=back)
        n, accounts = uses.daily.get(day, [0, 0])
        out.append({"day": str(int(day.timestamp())), "uses": str(n), "accounts": str(accounts)})
    return out


def _ranked(found: dict[str, _Uses], now: datetime) -> list[tuple[str, float, _Uses]]:
    scored = [(name, u.score(now), u) for name, u in found.items() if len(u.latest) >= MIN_ACCOUNTS]
    scored.sort(key=lambda item: (-item[1], item[0]))
    return scored[:TRENDS_KEPT]


def _slices(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    out = []
    low = start
    while low < end:
        high = min(low + SLICE, end)
        out.append((low, high))
        low = high
    return out


async def compute_trends(
    res: Resources, *, now: datetime | None = None, progress: ProgressCallback | None = None
) -> Trends:
    """One pass over the last HISTORY_DAYS of posts up to `now` (see the module docstring), stored in
    Valkey and returned."""
    now = now or datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    scored_from = now - SCORE_WINDOW
    slices = _slices(today - timedelta(days=HISTORY_DAYS - 1), now)
    tags: dict[str, _Uses] = defaultdict(_Uses)
    links: dict[str, _Uses] = defaultdict(_Uses)
    posts: dict[int, float] = defaultdict(float)
    scored_id = id_at(scored_from)
    for done, (low, high) in enumerate(slices, start=1):
        low_id, high_id = id_at(low), id_at(high)
        for found, rows in (
            (tags, await trend_store.tag_uses(res.db, low_id, high_id)),
            (links, await trend_store.link_uses(res.db, low_id, high_id)),
        ):
            for row in rows:
                found[row["name"]].add(row["account_id"], row["uses"], row["last_id"], scored_from=scored_id)
        if high > scored_from:
            for row in await trend_store.post_interactions(
                res.db,
                low_id,
                high_id,
                since_id=scored_id,
                until_id=id_at(now),
                now_ms=int(now.timestamp() * 1000),
                half_life_ms=HALF_LIFE.total_seconds() * 1000,
            ):
                posts[row["post_id"]] += float(row["score"])
        if progress is not None:
            progress("trends", done, len(slices))
    result = Trends(
        tags=[
            {**tag_entity(res, name), "history": _history(uses, today), "score": score}
            for name, score, uses in _ranked(tags, now)
        ],
        statuses=[
            {"id": str(post_id), "score": score}
            for post_id, score in sorted(posts.items(), key=lambda item: (-item[1], -item[0]))[:TRENDS_KEPT]
        ],
        links=[
            {**link_card(url), "history": _history(uses, today), "score": score}
            for url, score, uses in _ranked(links, now)
        ],
    )
    await trend_store.store_trends(res.redis, result.as_kinds())
    return result


def link_card(url: str) -> dict[str, Any]:
    """Mastodon's PreviewCard for a URL without fetching it (Chirp sends no traffic outside): the title is
    the URL, the provider its host."""
    host = urlsplit(url).hostname or ""
    return {
        "url": url,
        "title": url,
        "description": "",
        "type": "link",
        "author_name": "",
        "author_url": "",
        "provider_name": host,
        "provider_url": "",
        "html": "",
        "width": 0,
        "height": 0,
        "image": None,
        "image_description": "",
        "embed_url": "",
        "blurhash": None,
        "published_at": None,
        "authors": [],
    }


def _public(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key != "score"}


async def trending_tags(res: Resources, viewer_id: int | None, *, offset: int, limit: int) -> list[dict[str, Any]]:
    """Trending hashtags (Tag entities with history, and `following` for a signed-in viewer)."""
    entries = [_public(e) for e in (await trend_store.read_trends(res.redis, "tags"))[offset : offset + limit]]
    if viewer_id is not None:
        followed = await trend_store.followed_among(res.db, viewer_id, [e["name"] for e in entries])
        entries = [{**e, "following": e["name"] in followed} for e in entries]
    return entries


async def trending_links(res: Resources, *, offset: int, limit: int) -> list[dict[str, Any]]:
    return [_public(e) for e in (await trend_store.read_trends(res.redis, "links"))[offset : offset + limit]]


async def trending_posts(res: Resources, viewer_id: int | None, *, offset: int, limit: int) -> list[dict[str, Any]]:
    """Trending posts as Status entities the viewer may see (a page may come back shorter for a viewer
    who blocks some of their authors)."""
    entries = (await trend_store.read_trends(res.redis, "statuses"))[offset : offset + limit]
    return await post_entities(res, [int(e["id"]) for e in entries], viewer_id, context="public")
