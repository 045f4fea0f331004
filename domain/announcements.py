"""Announcements: the operator's notices to every user (`chirp announce`), as Mastodon's Announcement entity.

The operator publishes and removes them from the command line; users list the current ones, dismiss them
(clients then stop showing them: Mastodon's `read`) and react with emoji. Plain text in, escaped HTML out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from core.errors import ApiError, validation_error
from core.times import iso
from domain.accounts import bio_html
from storage import announcements as store
from storage.resources import Resources

TEXT_MAX = 5000
REACTION_NAME_MAX = 32


async def publish(
    res: Resources, text: str, *, starts_at: datetime | None = None, ends_at: datetime | None = None, all_day: bool
) -> asyncpg.Record:
    text = text.strip()
    if not text:
        raise ValueError("the announcement's text is empty")
    if len(text) > TEXT_MAX:
        raise ValueError(f"the announcement's text is longer than {TEXT_MAX} characters")
    if starts_at is not None and ends_at is not None and ends_at < starts_at:
        raise ValueError("the announcement ends before it starts")
    return await store.insert_announcement(
        res.db, res.ids.next_id(), text=text, starts_at=starts_at, ends_at=ends_at, all_day=all_day
    )


async def remove(res: Resources, announcement_id: int) -> bool:
    return await store.delete_announcement(res.db, announcement_id)


async def all_announcements(res: Resources) -> list[asyncpg.Record]:
    return await store.all_announcements(res.db)


def _entity(row: asyncpg.Record, reactions: Sequence[tuple[str, int, bool]]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "content": bio_html(row["text"]),
        "starts_at": iso(row["starts_at"]),
        "ends_at": iso(row["ends_at"]),
        "all_day": row["all_day"],
        "published_at": iso(row["published_at"]),
        "updated_at": iso(row["updated_at"]),
        "read": row["read"],
        "mentions": [],
        "statuses": [],
        "tags": [],
        "emojis": [],
        "reactions": [{"name": name, "count": count, "me": me} for name, count, me in reactions],
    }


async def current_announcements(res: Resources, account_id: int, *, with_dismissed: bool) -> list[dict[str, Any]]:
    rows = await store.current_announcements(res.db, account_id, with_dismissed=with_dismissed)
    reactions = await store.reaction_counts(res.db, [row["id"] for row in rows], account_id)
    return [_entity(row, reactions.get(row["id"], [])) for row in rows]


async def _require_current(res: Resources, announcement_id: int) -> None:
    if not await store.is_current(res.db, announcement_id):
        raise ApiError(404, "Record not found")


async def dismiss(res: Resources, account_id: int, announcement_id: int) -> None:
    await _require_current(res, announcement_id)
    await store.dismiss(res.db, announcement_id, account_id)


def check_reaction_name(name: str) -> str:
    """An emoji: Chirp has no custom emojis, so a reaction's name is a short run of non-ASCII characters
    (Unicode emoji, with their joiners and variation selectors)."""
    if not name or len(name) > REACTION_NAME_MAX or any(ord(ch) < 128 or ch.isspace() for ch in name):
        raise validation_error("name", "is not a recognized emoji")
    return name


async def react(res: Resources, account_id: int, announcement_id: int, name: str, *, on: bool) -> None:
    check_reaction_name(name)
    await _require_current(res, announcement_id)
    if on:
        await store.add_reaction(res.db, announcement_id, account_id, name)
    else:
        await store.remove_reaction(res.db, announcement_id, account_id, name)
