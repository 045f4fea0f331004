"""Read markers: where an account stopped reading its home timeline and its notifications (Mastodon's
Marker), kept in PostgreSQL so every device agrees; the notifications marker decides what is unread."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.times import iso
from storage import markers as marker_store
from storage.resources import Resources

TIMELINES = ("home", "notifications")


async def get_markers(res: Resources, account_id: int, timelines: Sequence[str]) -> dict[str, Any]:
    """The account's markers for those of `timelines` it has set, keyed by timeline (Mastodon's shape)."""
    wanted = [name for name in dict.fromkeys(timelines) if name in TIMELINES]
    if not wanted:
        return {}
    rows = await marker_store.get_markers(res.db, account_id, wanted)
    return {
        row["timeline"]: {
            "last_read_id": str(row["last_read_id"]),
            "version": row["version"],
            "updated_at": iso(row["updated_at"]),
        }
        for row in rows
    }


async def set_markers(res: Resources, account_id: int, positions: Mapping[str, int]) -> dict[str, Any]:
    """Move the markers named in `positions` (unknown timelines are ignored, as in Mastodon); the markers set."""
    known = {name: value for name, value in positions.items() if name in TIMELINES}
    if known:
        await marker_store.set_markers(res.db, account_id, known)
    return await get_markers(res, account_id, list(known))


async def notifications_read_up_to(res: Resources, account_id: int) -> int:
    """The newest notification id the account has read (0 before it set the marker)."""
    return await marker_store.last_read_id(res.db, account_id, "notifications") or 0
