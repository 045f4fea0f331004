"""The Valkey pub/sub wire format shared by publishers (workers) and the API processes' hub.

Channels (docs/streaming.md explains the choice):
- `chirp:node:{node}`: home-timeline events (update, delete, status.update) for the users connected to one
  API process, batched: one message per post and process, whatever the number of recipients there.
- `chirp:user:{account}`: events for one user (notifications), reference counted per user.
- `chirp:public`, `chirp:tag:{tag}`: the public and hashtag streams, one message per post.

Per-process and per-user channels carry a hash tag and use sharded pub/sub (SPUBLISH/SSUBSCRIBE): on a
Valkey Cluster each is served by one shard, so their traffic spreads over the shards instead of crossing
every node; on one Valkey sharded pub/sub behaves as the classic one. The public and hashtag channels stay
classic (`storage/pubsub.py` `is_sharded`; docs/streaming.md, "Valkey Cluster").

Every message is one orjson object. Payloads travel as the JSON text clients receive, rendered once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from storage.keys import HUB_CHANNEL_PREFIX, NODE_CHANNEL_PREFIX, USER_CHANNEL_PREFIX, Valkey, tagged
from storage.pubsub import is_sharded

PUBLIC_CHANNEL = "chirp:public"
TAG_PREFIX = "chirp:tag:"

# Message kinds, by where they go.
HOME = "home"  # on a node channel: one event, payload groups, each for a list of account ids
USER = "user"  # on a user channel: one event for that user
PUBLIC = "public"  # on the public or a tag channel: one event for every subscriber


def node_channel(node_id: int) -> str:
    return tagged(NODE_CHANNEL_PREFIX, node_id)


def user_channel(account_id: int) -> str:
    return tagged(USER_CHANNEL_PREFIX, account_id)


def hub_channel(node_id: int) -> str:
    """A process's own control channel: its hub's subscriptions are live once Valkey confirms this one."""
    return tagged(HUB_CHANNEL_PREFIX, node_id)


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


async def publish(redis: Valkey, messages: Sequence[tuple[str, Message]]) -> None:
    """SPUBLISH (sharded channels) or PUBLISH each (channel, message), in one round trip per node. Call
    only after the PostgreSQL commit."""
    if not messages:
        return
    sharded = [(channel, message.encode()) for channel, message in messages if is_sharded(channel)]
    for channel, message in messages:
        if not is_sharded(channel):
            await redis.publish(channel, message.encode())  # no key: a cluster pipeline could not route it
    if len(sharded) == 1:
        await redis.spublish(*sharded[0])
    elif sharded:
        async with redis.pipeline(transaction=False) as pipe:
            for channel, data in sharded:
                pipe.spublish(channel, data)
            await pipe.execute()
