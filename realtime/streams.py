"""Mastodon's stream names, what each needs (a user, a tag) and which pub/sub channel feeds it.

Chirp is one instance, so every post is local: `public:local` carries what `public` carries and the
`remote` streams carry nothing (they are accepted so clients asking for them do not fail).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from core.ids import parse_id
from domain.post_text import normalize_tag
from storage.channels import PUBLIC_CHANNEL, tag_channel, user_channel
from storage.lists import list_channel

USER = "user"
USER_NOTIFICATION = "user:notification"
DIRECT = "direct"  # the user's conversations (`conversation` events), fed by the user's own channel
HASHTAG_STREAMS = ("hashtag", "hashtag:local")
PUBLIC_STREAMS = ("public", "public:local", "public:media", "public:local:media")
REMOTE_STREAMS = ("public:remote", "public:remote:media")
USER_STREAMS = (USER, USER_NOTIFICATION, DIRECT)
LIST = "list"  # one of the viewer's lists (its owner checked by the handler: handlers/streaming.py)
ALL_STREAMS = (*USER_STREAMS, *PUBLIC_STREAMS, *REMOTE_STREAMS, *HASHTAG_STREAMS, LIST)
TAG_MAX = 100


class StreamError(Exception):
    """A stream request that cannot be served: `status` as HTTP would say it (400, 401, 403)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Stream:
    name: str
    tag: str | None
    # The `stream` field of a websocket frame, encoded once: ["hashtag","chirp"].
    label: bytes
    # The pub/sub channel feeding it, other than the user's own (None for user and remote streams).
    channel: str | None
    media_only: bool

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.name, self.tag)

    @property
    def is_user(self) -> bool:
        return self.name in USER_STREAMS

    @property
    def scope(self) -> str:
        """The OAuth scope a token needs for it, as Mastodon asks."""
        return "read:notifications" if self.name == USER_NOTIFICATION else "read:statuses"

    def channels(self, account_id: int | None) -> tuple[str, ...]:
        """Every channel this stream needs; the home-timeline (node) channel is the hub's business."""
        if self.is_user:
            assert account_id is not None
            return (user_channel(account_id),)
        return (self.channel,) if self.channel is not None else ()


def _label(*parts: str) -> bytes:
    # A copy of exactly its length: orjson's own output keeps its 4 KiB buffer, which a stream held by
    # 10,000 connections would keep 10,000 times.
    return bytes(memoryview(orjson.dumps(parts)))


# The streams with no tag, made once and shared by every connection holding one.
_UNTAGGED = {
    name: Stream(name, None, _label(name), PUBLIC_CHANNEL if name in PUBLIC_STREAMS else None, name.endswith(":media"))
    for name in (*USER_STREAMS, *PUBLIC_STREAMS, *REMOTE_STREAMS)
}


def parse_stream(name: str | None, tag: str | None = None, list_id: str | None = None) -> Stream:
    """The stream a client asked for by Mastodon's name (and `tag` for hashtag streams, `list_id` for a list)."""
    if not name:
        raise StreamError(400, "Missing stream")
    if name not in ALL_STREAMS:
        raise StreamError(400, f"Unknown stream type: {name}")
    if name in HASHTAG_STREAMS:
        normalized = normalize_tag((tag or "").strip().lstrip("#"))
        if not normalized or len(normalized) > TAG_MAX:
            raise StreamError(400, "Missing or invalid tag")
        return Stream(name, normalized, _label(name, normalized), tag_channel(normalized), False)
    if name == LIST:
        ident = parse_id(list_id or "")
        if ident is None:
            raise StreamError(400, "Missing or invalid list")
        return Stream(name, str(ident), _label(name, str(ident)), list_channel(ident), False)
    return _UNTAGGED[name]
