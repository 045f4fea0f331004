"""Followed hashtags: following a tag brings its public posts into one's home timeline (and `user` stream),
from anyone, once each (the fan-out adds the tag's followers to the post's audience: storage/tags.py).
Also Mastodon's Tag entity with `following` and its 7-day `history`."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

from core.errors import ApiError
from core.ids import id_at
from core.pagination import Page
from domain.post_text import MAX_TAG_LENGTH, normalize_tag
from domain.search import tag_entity
from storage import tags as tag_store
from storage import timeline_cache
from storage.resources import Resources
from storage.timeline_cache import Entry, home_key

HISTORY_DAYS = 7


def checked_tag(raw: str) -> str:
    """A hashtag as stored (NFKC, lower case, without `#`); 422 for anything a post could not tag."""
    name = normalize_tag(raw.strip().removeprefix("#"))
    letters = any(unicodedata.category(ch)[0] == "L" for ch in name)
    chars = all(ch == "_" or unicodedata.category(ch)[0] in "LM" or unicodedata.category(ch) == "Nd" for ch in name)
    if not name or not letters or not chars or len(name) > MAX_TAG_LENGTH:
        raise ApiError(422, f"Validation failed: {raw!r} is not a hashtag (letters, digits and _, with a letter)")
    return name


async def history(res: Resources, name: str) -> list[dict[str, str]]:
    """Mastodon's tag history: the last HISTORY_DAYS UTC days, newest first, as strings."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=HISTORY_DAYS - 1)
    uses = {day.replace(tzinfo=UTC): (n, a) for day, n, a in await tag_store.daily_uses(res.db, name, id_at(first) - 1)}
    out = []
    for back in range(HISTORY_DAYS):
        day = today - timedelta(days=back)
        n, accounts = uses.get(day, (0, 0))
        out.append({"day": str(int(day.timestamp())), "uses": str(n), "accounts": str(accounts)})
    return out


async def tag(res: Resources, raw: str, viewer_id: int | None) -> dict[str, Any]:
    name = checked_tag(raw)
    following = viewer_id is not None and await tag_store.follows_tag(res.db, viewer_id, name)
    return {**tag_entity(res, name), "history": await history(res, name), "following": following}


async def follow_tag(res: Resources, account_id: int, raw: str) -> dict[str, Any]:
    """Follow a hashtag (idempotent); its recent public posts join the cached home timeline now."""
    name = checked_tag(raw)
    if await tag_store.insert_follow(res.db, res.ids.next_id(), account_id, name):
        cap = res.settings.timeline_size
        rows = await tag_store.followed_tag_rows(res.db, account_id, cap, name)
        entries = [Entry(r.id, r.account_id, r.reblog_of_id) for r in reversed(rows)]
        await timeline_cache.merge(res.redis, home_key(account_id), entries, cap)  # -1 when not cached: fine
    return await tag(res, name, account_id)


async def unfollow_tag(res: Resources, account_id: int, raw: str) -> dict[str, Any]:
    """Stop following a hashtag; idempotent. Posts it brought stay in the timeline (as Mastodon's do)."""
    name = checked_tag(raw)
    await tag_store.delete_follow(res.db, account_id, name)
    return await tag(res, name, account_id)


async def followed_tags(res: Resources, account_id: int, page: Page) -> tuple[list[dict[str, Any]], list[int]]:
    rows = await tag_store.followed_page(res.db, account_id, page)
    return [{**tag_entity(res, r["tag"]), "following": True} for r in rows], [r["id"] for r in rows]
