"""Direct messages as conversations: each participant's list of threads of direct posts (Mastodon's
Conversation entity), kept by the `conversations` queue and pushed live as `conversation` events on the
`direct` stream.

A direct post reaches only its author and the accounts it mentions (the rule is `domain.visibility`'s):
it is on no home, public, tag or list timeline, and it reaches its readers here and through their
`mention` notifications. A conversation is one thread (its root), so replies continue it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson

from core.errors import ApiError
from core.pagination import Page
from domain.accounts import account_entity
from domain.event_kinds import EventKind, PostCreated, decode
from domain.post_entities import post_entities
from storage import accounts as account_store
from storage import conversations as store
from storage import presence
from storage.channels import Message, UserMessage, publish, user_channel
from storage.conversations import ConversationRow, DirectPost
from storage.jobs import Job
from storage.resources import Resources

CONVERSATION_CURSOR = "c"  # conversation events move no resume cursor (the list is the REST read)


def _direct_post(event: PostCreated) -> DirectPost | None:
    if event.get("visibility") != "direct" or event.get("reblog_of_id") is not None:
        return None
    return DirectPost(
        int(event["id"]),
        int(event["account_id"]),
        int(event["thread_root_id"]),
        [int(account) for account in event.get("mention_ids") or []],
    )


async def record_direct_posts(res: Resources, jobs: Sequence[Job]) -> list[ConversationRow]:
    """Each new direct post into its participants' conversations, then a live `conversation` event to each
    of them who is connected (after the write committed). Idempotent."""
    changed: list[ConversationRow] = []
    for job in jobs:
        match decode(job):
            case (EventKind.POST_CREATED, created):
                post = _direct_post(created)
                if post is not None:
                    ids = [res.ids.next_id() for _ in range(len(post.mention_ids) + 1)]
                    changed += await store.record_direct_post(res.db, post, ids)
    if changed:
        await push(res, changed)
    return changed


async def push(res: Resources, rows: Sequence[ConversationRow]) -> None:
    online = await presence.online_among(res.redis, [row.account_id for row in rows])
    wanted = [row for row in rows if row.account_id in online]
    rendered = await asyncio.gather(*(conversation_entities(res, [row], row.account_id) for row in wanted))
    messages: list[tuple[str, Message]] = [
        (
            user_channel(row.account_id),
            UserMessage("conversation", row.id, orjson.dumps(entities[0]).decode(), CONVERSATION_CURSOR),
        )
        for row, entities in zip(wanted, rendered, strict=True)
        if entities
    ]
    await publish(res.redis, messages)


async def conversation_entities(
    res: Resources, rows: Sequence[ConversationRow], viewer_id: int
) -> list[dict[str, Any]]:
    """Mastodon's Conversation entities, in a constant number of queries: the other participants (the viewer
    alone, for notes to oneself) and the latest message the viewer may still see (null when none)."""
    accounts, posts = await asyncio.gather(
        account_store.get_accounts(res.db, {a for row in rows for a in row.participant_ids} | {viewer_id}),
        post_entities(res, [row.last_post_id for row in rows], viewer_id),
    )
    by_id = {int(post["id"]): post for post in posts}
    out = []
    for row in rows:
        people = [accounts[a] for a in (row.participant_ids or [viewer_id]) if a in accounts]
        out.append(
            {
                "id": str(row.id),
                "unread": row.unread,
                "accounts": [account_entity(person, res.settings) for person in people],
                "last_status": by_id.get(row.last_post_id),
            }
        )
    return out


async def conversations_page(res: Resources, account_id: int, page: Page) -> tuple[list[dict[str, Any]], list[int]]:
    """One page of the account's conversations, latest message first, and the page's cursors."""
    rows = await store.conversations_page(res.db, account_id, page)
    return await conversation_entities(res, rows, account_id), [row.last_post_id for row in rows]


async def mark_read(res: Resources, account_id: int, conversation_id: int) -> dict[str, Any]:
    row = await store.mark_read(res.db, account_id, conversation_id)
    if row is None:
        raise ApiError(404, "Record not found")
    return (await conversation_entities(res, [row], account_id))[0]


async def remove(res: Resources, account_id: int, conversation_id: int) -> None:
    """Take a conversation off the account's list (the messages stay; a new one brings it back)."""
    if not await store.remove(res.db, account_id, conversation_id):
        raise ApiError(404, "Record not found")
