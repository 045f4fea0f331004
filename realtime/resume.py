"""Resuming a user stream without gaps: what a client missed since its cursor, from its home timeline, its
notifications and the edits of posts it had already received, sent before anything live.

The order that makes it exact: the connection holds live events back, subscribes (and waits for Valkey to
confirm) and records its presence, and only then reads what it missed; anything published after the read
began is among the held events, anything before is in the read. The held events then follow the replay,
minus those the replay already carried (deduplicated by post and notification id).
"""

from __future__ import annotations

import logging

import orjson

from domain.notifications import missed_notifications
from domain.streaming import missed_edits, missed_home
from realtime.connection import Connection, Payload
from storage.resources import Resources

log = logging.getLogger("chirp.streaming")

RELOAD = b"reload"


async def catch_up(res: Resources, conn: Connection, *, limit: int) -> None:
    """Replay to `conn` (holding live events) what it missed since its cursor, then let the held ones go.

    More than `limit` missed posts or notifications: the client is told to reload (`reload` event) and
    continues live from now.
    """
    replayed: set[tuple[str, int]] = set()
    try:
        account = conn.account_id
        if account is None or conn.closed:
            return
        cursor = conn.cursor()
        home: list[tuple[int, str]] = []
        home_newest = cursor.home
        home_too_many = False
        if conn.wants_home:
            home, home_too_many, home_newest = await missed_home(res, account, cursor.home, limit)
        notes, notes_too_many, notes_newest = await missed_notifications(res, account, cursor.notifications, limit)
        if home_too_many or notes_too_many:
            conn.cursor_home = max(conn.cursor_home, home_newest)
            conn.cursor_notifications = max(conn.cursor_notifications, notes_newest)
            conn.notice(RELOAD, Payload(orjson.dumps({"reason": "too_far_behind", "limit": limit}).decode()))
            return
        events = sorted([("h", i, text) for i, text in home] + [("n", i, text) for i, text in notes], key=_by_id)
        for kind, event_id, text in events:
            conn.replayed_event(kind, b"update" if kind == "h" else b"notification", event_id, Payload(text))
            replayed.add((kind, event_id))
        if conn.wants_home:  # posts received before the cursor and edited since: their current version
            for post_id, text in await missed_edits(res, account, cursor.home, limit):
                conn.replayed_event("h", b"status.update", post_id, Payload(text))
    except Exception:
        # The stream stays open and live; what could not be replayed is in the client's next REST read.
        log.exception("replay for a reconnecting stream failed")
    finally:
        conn.release(replayed)


def _by_id(item: tuple[str, int, str]) -> int:
    return item[1]
