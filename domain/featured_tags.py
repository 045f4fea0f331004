"""Featured hashtags: up to MAX_FEATURED_TAGS tags an account shows on its profile, each with how many of its
public posts carry it and when it last used it (counted on read, so they follow posts made and deleted)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import asyncpg

from core.errors import ApiError, validation_error
from domain.search import tag_entity
from domain.tags import checked_tag
from storage import accounts as account_store
from storage import discovery as discovery_store
from storage.db import in_transaction
from storage.resources import Resources

MAX_FEATURED_TAGS = 10
SUGGESTIONS = 10


def featured_entity(res: Resources, row: asyncpg.Record, username: str) -> dict[str, Any]:
    """Mastodon's FeaturedTag: the url is the profile's posts with the tag."""
    last = row["last_status_at"]
    return {
        "id": str(row["id"]),
        "name": row["tag"],
        "url": f"{res.settings.base_url}/@{username}/tagged/{quote(row['tag'], safe='')}",
        "statuses_count": str(row["statuses_count"]),
        "last_status_at": last.date().isoformat() if last else None,
    }


async def _username(res: Resources, account_id: int) -> str:
    row = await account_store.get_account(res.db, account_id)
    if row is None or row["suspended_at"] is not None:
        raise ApiError(404, "Record not found")
    return str(row["username"])


async def featured_tags(res: Resources, account_id: int) -> list[dict[str, Any]]:
    """An account's featured tags, oldest first; 404 for an unknown or suspended account."""
    username = await _username(res, account_id)
    rows = await discovery_store.featured_with_use(res.db, account_id)
    return [featured_entity(res, row, username) for row in rows]


async def feature_tag(res: Resources, account_id: int, raw: str) -> dict[str, Any]:
    """Feature a hashtag (idempotent); 422 for a name that is not a tag or past MAX_FEATURED_TAGS."""
    name = checked_tag(raw)

    async def write(conn: asyncpg.Connection) -> int:
        await discovery_store.lock_account(conn, account_id)
        existing = await discovery_store.featured_names(conn, account_id)
        if name in existing:
            return existing[name]
        if len(existing) >= MAX_FEATURED_TAGS:
            raise validation_error("name", f"featured tags are limited to {MAX_FEATURED_TAGS}")
        return await discovery_store.insert_featured(conn, res.ids.next_id(), account_id, name)

    featured_id = await in_transaction(res.db, write)
    rows = await discovery_store.featured_with_use(res.db, account_id, featured_id)
    return featured_entity(res, rows[0], await _username(res, account_id))


async def unfeature_tag(res: Resources, account_id: int, featured_id: int) -> None:
    if not await discovery_store.delete_featured(res.db, account_id, featured_id):
        raise ApiError(404, "Record not found")


async def suggested_tags(res: Resources, account_id: int) -> list[dict[str, Any]]:
    """Mastodon's featured-tag suggestions: one's most used hashtags not yet featured, as Tag entities."""
    featured = await discovery_store.featured_names(res.db, account_id)
    names = await discovery_store.most_used_tags(res.db, account_id, SUGGESTIONS, list(featured))
    return [tag_entity(res, name) for name in names]
