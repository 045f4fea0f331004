"""Live events: what is published to Valkey pub/sub after a write commits, rendered right for each viewer.

Called from workers (never before the PostgreSQL commit): the timeline fan-out publishes home updates with
`publish_home`; the `streaming` queue publishes public and hashtag updates, deletes and status updates.
docs/streaming.md has the channel design and why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import asyncpg
import orjson

from app.pagination import Page
from app.resources import Resources
from domain.cached_posts import cached_post_entities
from domain.post_entities import PUBLIC_VISIBILITIES, load_with_references, post_entities
from domain.post_text import tags as entity_tags
from domain.timelines import home_entries, missed_home_posts
from realtime.channels import (
    PUBLIC_CHANNEL,
    HomeMessage,
    Message,
    PublicMessage,
    node_channel,
    publish,
    tag_channel,
)
from storage import audiences as audience_store
from storage import posts as post_store
from storage import presence

# A signed-in viewer who has no relation to anything in the post (no account has id 0): the payload every
# signed-in viewer without likes, reposts, reactions or follows of restricted authors in the post receives.
GENERIC_VIEWER = 0
PUBLISH_CONCURRENCY = 8  # posts of one fan-out batch rendered and published at once


def _json(entity: Mapping[str, Any]) -> str:
    return orjson.dumps(entity).decode()


async def viewer_payloads(
    res: Resources, post_id: int, viewer_ids: Sequence[int], *, fresh: bool = False
) -> list[tuple[str, list[int]]]:
    """The post's Status JSON for each viewer, grouped: viewers who would see the same entity share one.

    What differs between viewers is known in advance (favourited, reblogged and reactions' `me` of each
    post in it, which restricted posts they may see, whether they wrote one of them), so one query sorts
    the viewers into groups and the entity is rendered once per group, with the posts engineer's
    `post_entities` for one of its members. A new post usually makes one group (plus its author's).
    Viewers who may not see the post are left out.
    """
    viewers = list(dict.fromkeys(viewer_ids))
    if not viewers:
        return []
    tree = await load_with_references(res, [post_id])
    if post_id not in tree:
        return []
    rows = list(tree.values())
    restricted = [row for row in rows if row["visibility"] not in PUBLIC_VISIBILITIES]
    marks = await audience_store.viewer_marks(
        res.db,
        viewers,
        content_ids=[row["id"] for row in rows if row["reblog_of_id"] is None],
        restricted_ids=[row["id"] for row in restricted],
        restricted_authors=[row["account_id"] for row in restricted],
    )
    authors = {row["account_id"] for row in rows}
    groups: dict[frozenset[tuple[str, int | str]], list[int]] = {}
    for viewer in viewers:
        key = set(marks.get(viewer, ()))
        if viewer in authors:
            key.add(("a", viewer))
        groups.setdefault(frozenset(key), []).append(viewer)
    members = list(groups.values())
    # A new post renders the same from the post cache; changed counters (`fresh`) are read from
    # PostgreSQL, since the post cache is refreshed by its own queue, perhaps after this runs.
    render = post_entities if fresh else cached_post_entities
    rendered = await asyncio.gather(*(render(res, [post_id], group[0]) for group in members))
    return [(_json(entities[0]), group) for group, entities in zip(members, rendered, strict=True) if entities]


async def personalize(res: Resources, post_id: int, viewer_ids: Sequence[int]) -> dict[int, str]:
    """`viewer_payloads` as a lookup: viewer → payload (absent when the viewer may not see the post)."""
    groups = await viewer_payloads(res, post_id, viewer_ids, fresh=True)
    return {viewer: payload for payload, group in groups for viewer in group}


async def publish_home(res: Resources, event: str, post_id: int, recipient_ids: Sequence[int]) -> int:
    """Publish a home-timeline event (update, status.update, delete) to those of `recipient_ids` who are
    connected: one message per API process holding any of them, carrying each one's payload. Returns
    the number of recipients online. Call after the post's transaction committed."""
    online = await presence.online_by_node(res.redis, recipient_ids)
    if not online:
        return 0
    everyone = list(dict.fromkeys(account for accounts in online.values() for account in accounts))
    if event == "delete":
        groups = [(str(post_id), everyone)]
    else:
        groups = await viewer_payloads(res, post_id, everyone, fresh=event != "update")
    messages: list[tuple[str, Message]] = []
    for node, accounts in online.items():
        here = set(accounts)
        node_groups = [(payload, [a for a in group if a in here]) for payload, group in groups]
        node_groups = [(payload, group) for payload, group in node_groups if group]
        if node_groups:
            messages.append((node_channel(node), HomeMessage(event, post_id, node_groups)))
    await publish(res.redis, messages)
    return len(everyone)


def _public_channels(row: Mapping[str, Any], *, include_replies: bool) -> list[str]:
    """The public and hashtag channels a public post belongs to. As Mastodon: replies to someone else stay
    off the public stream (they still reach their hashtags), reposts reach neither."""
    if row["visibility"] != "public" or row["reblog_of_id"] is not None:
        return []
    channels = [tag_channel(tag) for tag in entity_tags(row["entities"] or [])]
    reply_to_other = row["in_reply_to_id"] is not None and row["in_reply_to_account_id"] != row["account_id"]
    if include_replies or not reply_to_other:
        channels.insert(0, PUBLIC_CHANNEL)
    return channels


async def _public_message(res: Resources, event: str, row: asyncpg.Record, *, personal: bool) -> PublicMessage | None:
    post_id = row["id"]
    anonymous = await post_entities(res, [post_id], None)
    if not anonymous:
        return None
    signed_in = None if personal else await post_entities(res, [post_id], GENERIC_VIEWER)
    return PublicMessage(
        event,
        post_id,
        post_id,
        _json(anonymous[0]),
        _json(signed_in[0]) if signed_in else None,
        personal=personal,
        media=bool(row["has_media"]),
    )


async def publish_post_created(res: Resources, post_id: int) -> None:
    """`update` on the public and hashtag streams for a new public post."""
    row = await post_store.get_post(res.db, post_id)
    if row is None:
        return
    channels = _public_channels(row, include_replies=False)
    if not channels:
        return
    # Nobody can have liked a post this new, so one signed-in payload fits all, unless it quotes a post
    # (whose favourited and visibility differ between viewers).
    message = await _public_message(res, "update", row, personal=row["quote_of_id"] is not None)
    if message is not None:
        await publish(res.redis, [(channel, message) for channel in channels])


async def publish_post_deleted(res: Resources, event: Mapping[str, Any]) -> None:
    """`delete` to everyone who may have received the post: the author's connected followers and the author
    (home), and the public and hashtag streams when it was public."""
    post_id = int(event["id"])
    author = int(event["account_id"])
    messages: list[tuple[str, Message]] = []
    if event.get("visibility") == "public" and event.get("reblog_of_id") is None:
        delete = PublicMessage("delete", post_id, post_id, str(post_id), str(post_id))
        channels = [PUBLIC_CHANNEL, *(tag_channel(tag) for tag in event.get("tags") or [])]
        messages = [(channel, delete) for channel in channels]
    await publish(res.redis, messages)
    await publish_home(res, "delete", post_id, [author, *await audience_store.follower_ids(res.db, author)])


async def publish_posts_changed(res: Resources, post_ids: Iterable[int]) -> None:
    """`status.update` (new counts, reactions) to everyone who may have received each post: the author's
    connected followers and the author, each with their own favourited/reblogged/reactions, and the public
    and hashtag streams (rendered per viewer by each API process)."""
    for post_id in dict.fromkeys(post_ids):
        row = await post_store.get_post(res.db, post_id)
        if row is None:
            continue
        author = row["account_id"]
        await publish_home(res, "status.update", post_id, [author, *await audience_store.follower_ids(res.db, author)])
        channels = _public_channels(row, include_replies=True)
        if channels:
            message = await _public_message(res, "status.update", row, personal=True)
            if message is not None:
                await publish(res.redis, [(channel, message) for channel in channels])


async def publish_home_updates(res: Resources, deliveries: Sequence[tuple[int, Sequence[int]]]) -> None:
    """For the timeline fan-out, after it wrote the posts into home timelines: a live `update` per post for
    its connected recipients. Followers of high-follower authors (whose posts are merged in at read time,
    not written) get it too when connected."""
    merged = await _merged_audiences(res, [post_id for post_id, _ in deliveries])
    limit = asyncio.Semaphore(PUBLISH_CONCURRENCY)

    async def one(post_id: int, recipients: Sequence[int]) -> None:
        async with limit:
            await publish_home(res, "update", post_id, [*recipients, *merged.get(post_id, ())])

    await asyncio.gather(*(one(post_id, recipients) for post_id, recipients in deliveries))


async def _merged_audiences(res: Resources, post_ids: Sequence[int]) -> dict[int, list[int]]:
    """Connected followers of high-follower authors, for those of `post_ids` such authors wrote (not replies
    to others: their fan-out already chose who gets those). Walks who is online, not the followers."""
    posts = await audience_store.merged_posts(res.db, post_ids, res.settings.fanout_max_followers)
    if not posts:
        return {}
    online = await presence.all_online(res.redis)
    out: dict[int, list[int]] = {}
    for post in posts:
        out[post["id"]] = await audience_store.followers_among(
            res.db, post["account_id"], online, reposts=post["reblog_of_id"] is not None
        )
    return out


async def missed_home(
    res: Resources, account_id: int, after_id: int, limit: int
) -> tuple[list[tuple[int, str]], bool, int]:
    """What a reconnecting `user` stream missed from its home timeline (the timeline's own read): (post id,
    Status JSON) oldest first, whether there were more than `limit`, and the newest id looked at."""
    entities, more = await missed_home_posts(res, account_id, after_id, limit=limit)
    if more:
        newest = await home_entries(res, account_id, Page(limit=1))
        return [], True, newest[0].post_id if newest else after_id
    missed = [(int(entity["id"]), _json(entity)) for entity in entities]
    return missed, False, max((post_id for post_id, _ in missed), default=after_id)


async def warm_home(res: Resources, account_id: int) -> None:
    """Make sure the account's home timeline is cached: the fan-out writes (and so streams) new posts only
    to cached timelines, so a client opening a `user` stream gets its timeline built now if it was not."""
    await home_entries(res, account_id, Page(limit=1))
