"""The Valkey pub/sub wire format shared by publishers (workers) and the API processes' hub.

Channels (docs/streaming.md explains the choice):
- `chirp:node:{node}`: home-timeline events (update, delete, status.update) for the users connected to one
  API process, batched: one message per post and process, whatever the number of recipients there.
- `chirp:user:{account}`: events for one user (notifications), reference counted per user.
- `chirp:public`, `chirp:tag:{tag}`: the public and hashtag streams, one message per post.

Every message is one orjson object. Payloads travel as the JSON text clients receive, rendered once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from redis.asyncio import Redis

PUBLIC_CHANNEL = "chirp:public"
NODE_PREFIX = "chirp:node:"
USER_PREFIX = "chirp:user:"
TAG_PREFIX = "chirp:tag:"

# Message kinds, by where they go.
HOME = "home"  # on a node channel: one event, payload groups, each for a list of account ids
USER = "user"  # on a user channel: one event for that user
PUBLIC = "public"  # on the public or a tag channel: one event for every subscriber


def node_channel(node_id: int) -> str:
    return f"{NODE_PREFIX}{node_id}"


def user_channel(account_id: int) -> str:
    return f"{USER_PREFIX}{account_id}"


def tag_channel(tag: str) -> str:
    return f"{TAG_PREFIX}{tag}"


@dataclass(frozen=True)
class HomeMessage:
    """A home-timeline event for some of one process's users. `groups`: (payload, account ids): the users
    whose view of the post is the same share one rendered payload (a delete's payload is the post id)."""

    event: str
    event_id: int
    groups: Sequence[tuple[str, Sequence[int]]]

    def encode(self) -> bytes:
        return orjson.dumps({"k": HOME, "e": self.event, "i": self.event_id, "g": self.groups})


@dataclass(frozen=True)
class UserMessage:
    """An event for one user: `cursor` names the resume position it advances ("n" for notifications)."""

    event: str
    event_id: int
    payload: str
    cursor: str = "n"

    def encode(self) -> bytes:
        return orjson.dumps({"k": USER, "e": self.event, "i": self.event_id, "p": self.payload, "c": self.cursor})


@dataclass(frozen=True)
class PublicMessage:
    """A public or hashtag event. `anonymous` is the payload for signed-out subscribers and `signed_in` for
    any signed-in one, unless `personal`: then the payload depends on the viewer (a quoted post they liked,
    a status.update's favourited) and the receiving process renders it per viewer from `post_id`."""

    event: str
    event_id: int
    post_id: int
    anonymous: str | None
    signed_in: str | None
    personal: bool = False
    media: bool = False

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "k": PUBLIC,
                "e": self.event,
                "i": self.event_id,
                "post": self.post_id,
                "a": self.anonymous,
                "s": self.signed_in,
                "per": self.personal,
                "m": self.media,
            }
        )


Message = HomeMessage | UserMessage | PublicMessage


def decode(raw: bytes) -> Message:
    """A message from the wire; ValueError/KeyError/TypeError for anything malformed."""
    data = orjson.loads(raw)
    kind = data["k"]
    if kind == HOME:
        groups = [(payload, [int(a) for a in ids]) for payload, ids in data["g"]]
        return HomeMessage(str(data["e"]), int(data["i"]), groups)
    if kind == USER:
        return UserMessage(str(data["e"]), int(data["i"]), str(data["p"]), str(data.get("c", "n")))
    if kind == PUBLIC:
        return PublicMessage(
            str(data["e"]),
            int(data["i"]),
            int(data["post"]),
            data["a"],
            data["s"],
            bool(data["per"]),
            bool(data["m"]),
        )
    raise ValueError(f"unknown message kind {kind!r}")


async def publish(redis: Redis, messages: Sequence[tuple[str, Message]]) -> None:
    """PUBLISH each (channel, message), in one round trip. Call only after the PostgreSQL commit."""
    if not messages:
        return
    if len(messages) == 1:
        channel, message = messages[0]
        await redis.publish(channel, message.encode())
        return
    async with redis.pipeline(transaction=False) as pipe:
        for channel, message in messages:
            pipe.publish(channel, message.encode())
        await pipe.execute()
