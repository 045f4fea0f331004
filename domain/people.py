"""Finding people: the profile directory, the followed accounts who also follow someone (familiar
followers), and suggested accounts to follow (friends of friends, then the most followed among recently
active accounts), which one can dismiss for good."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from core.errors import ApiError
from domain.accounts import account_entity
from storage import accounts as account_store
from storage import discovery as discovery_store
from storage.resources import Resources

DIRECTORY_ORDERS = ("active", "new")
FAMILIAR_PER_ACCOUNT = 20
# "Recently active" for suggestions: posted within this long.
ACTIVE_WITHIN = timedelta(days=30)
# Mastodon's Suggestion sources, and the deprecated single `source` each maps to.
FRIENDS_OF_FRIENDS = "friends_of_friends"
MOST_FOLLOWED = "most_followed"
_LEGACY_SOURCE = {FRIENDS_OF_FRIENDS: "past_interactions", MOST_FOLLOWED: "global"}


async def _entities(res: Resources, ids: Sequence[int]) -> list[dict[str, Any]]:
    rows = await account_store.get_accounts(res.db, ids)
    return [account_entity(rows[i], res.settings) for i in ids if i in rows]


async def directory(
    res: Resources, viewer_id: int | None, *, order: str, offset: int, limit: int
) -> list[dict[str, Any]]:
    """Mastodon's profile directory: discoverable accounts (all are local here), by recent posting or newest."""
    ids = await discovery_store.directory_ids(res.db, viewer_id, order=order, offset=offset, limit=limit)
    return await _entities(res, ids)


async def familiar_followers(res: Resources, viewer_id: int, target_ids: Sequence[int]) -> list[dict[str, Any]]:
    """For each existing account of `target_ids` (in that order, once each): who among the accounts the
    viewer follows also follows it. Unknown and suspended ids are left out, as Mastodon does."""
    ids = list(dict.fromkeys(target_ids))
    found = await discovery_store.familiar_followers(res.db, viewer_id, ids, FAMILIAR_PER_ACCOUNT)
    rows = await account_store.get_accounts(res.db, {a for followers in found.values() for a in followers})
    return [
        {"id": str(target), "accounts": [account_entity(rows[a], res.settings) for a in found[target] if a in rows]}
        for target in ids
        if target in found
    ]


async def suggestions(
    res: Resources, viewer_id: int, limit: int, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Mastodon's v2 Suggestions: friends of friends first, then the most followed recently active
    accounts, never someone followed, dismissed, hidden from the viewer or not discoverable."""
    since = (now or datetime.now(UTC)) - ACTIVE_WITHIN
    sources: dict[int, list[str]] = {}
    for source, ids in (
        (FRIENDS_OF_FRIENDS, await discovery_store.friends_of_friends(res.db, viewer_id, limit)),
        (MOST_FOLLOWED, await discovery_store.most_followed_active(res.db, viewer_id, limit, since)),
    ):
        for account_id in ids:
            sources.setdefault(account_id, []).append(source)
    ids = list(sources)[:limit]
    rows = await account_store.get_accounts(res.db, ids)
    return [
        {
            "source": _LEGACY_SOURCE[sources[i][0]],
            "sources": sources[i],
            "account": account_entity(rows[i], res.settings),
        }
        for i in ids
        if i in rows
    ]


async def dismiss_suggestion(res: Resources, viewer_id: int, target_id: int) -> None:
    """Never suggest this account again; 404 for an unknown account."""
    if await account_store.get_account(res.db, target_id) is None:
        raise ApiError(404, "Record not found")
    await discovery_store.dismiss_suggestion(res.db, viewer_id, target_id)
