"""Notifications: written from the durable events of mentions, replies, likes, reactions, reposts, quotes,
edits and follows (the `notifications` queue), read as Mastodon's Notification entity, pushed live after commit.

A reply is a `mention` (Mastodon replies mention the author they answer), a like a `favourite`, a repost a
`reblog`. Nobody is notified of their own action, and one post notifies each account once (explicit
mention first, then reply, then quote). Undoing the cause (unlike, unfollow, ...) removes the notification;
deleting a post removes the notifications about it (the foreign key cascades). Asking a locked account to
follow it is a `follow_request`; its answer (or withdrawing it) removes that, and an authorized request
notifies no `follow`, as in Mastodon.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from config import Settings
from core.errors import ApiError
from core.pagination import Page
from core.times import iso
from domain.accounts import account_entity
from domain.event_kinds import EventKind, PostCreated, PostEdited, decode
from domain.post_entities import post_entities
from domain.visibility import load_shield
from storage import accounts as account_store
from storage import moderation as moderation_store
from storage import notifications as notification_store
from storage import post_versions as version_store
from storage import posts as post_store
from storage import presence
from storage.channels import Message, UserMessage, publish, user_channel
from storage.db import in_transaction
from storage.jobs import Job
from storage.notifications import NewNotification
from storage.resources import Resources

log = logging.getLogger("chirp.notifications")

TYPES = (
    "mention", "favourite", "reaction", "reblog", "quote", "follow", "follow_request", "update", "poll",
    "moderation_warning",
)  # fmt: skip
# Mastodon's other types: accepted in types[]/exclude_types[] (they match nothing here), so clients that
# name them keep working.
MASTODON_TYPES = (
    *TYPES,
    "status",
    "admin.sign_up",
    "admin.report",
    "severed_relationships",
    "quoted_update",
)


@dataclass(frozen=True)
class Undo:
    """A cause that was undone: the notification it made goes."""

    type: str
    from_account_id: int
    post_id: int | None
    account_id: int
    reaction: str = ""


# From events to notifications ------------------------------------------------------------------------


async def _post_created(res: Resources, event: PostCreated) -> list[NewNotification]:
    if event.get("reblog_of_id") is not None:
        return []  # a repost notifies through repost.created
    author = int(event["account_id"])
    post_id = int(event["id"])
    wanted: dict[int, str] = {}
    for mentioned in event.get("mention_ids") or []:
        wanted.setdefault(int(mentioned), "mention")
    if (replied_to := event.get("in_reply_to_account_id")) is not None:
        wanted.setdefault(int(replied_to), "mention")
    if (quote_of_id := event.get("quote_of_id")) is not None:
        quoted = await post_store.get_post(res.db, int(quote_of_id))
        if quoted is not None:
            wanted.setdefault(quoted.account_id, "quote")
    return [
        NewNotification(res.ids.next_id(), account, author, type_, post_id)
        for account, type_ in wanted.items()
        if account != author
    ]


async def _post_edited(res: Resources, event: PostEdited) -> list[NewNotification]:
    """`update` to everyone who reposted or quoted the edited post, `mention` to everyone the edit mentions
    for the first time (one per post and account each)."""
    author, post_id = int(event["account_id"]), int(event["id"])
    mentioned = [
        NewNotification(res.ids.next_id(), int(account), author, "mention", post_id)
        for account in event.get("mention_ids") or []
        if int(account) != author
    ]
    return mentioned + [
        NewNotification(res.ids.next_id(), account, author, "update", post_id)
        for account in await version_store.interested_accounts(res.db, post_id)
        if account != author
    ]


async def _repost_author(res: Resources, original_id: int) -> int | None:
    original = await post_store.get_post(res.db, original_id)
    return original.account_id if original is not None else None


async def effects(res: Resources, job: Job) -> tuple[list[NewNotification], list[Undo]]:
    """The notifications an event asks for, and the ones it takes back."""
    match decode(job):
        case (EventKind.POST_CREATED, created):
            return await _post_created(res, created), []
        case (EventKind.POST_EDITED, edited):
            return await _post_edited(res, edited), []
        case (EventKind.LIKE_CREATED | EventKind.LIKE_DELETED as kind, like):
            author, actor, post = int(like["post_account_id"]), int(like["account_id"]), int(like["post_id"])
            if kind == EventKind.LIKE_CREATED:
                return [NewNotification(res.ids.next_id(), author, actor, "favourite", post)], []
            return [], [Undo("favourite", actor, post, author)]
        case (EventKind.REACTION_CREATED | EventKind.REACTION_DELETED as kind, reaction):
            author, actor, post = (
                int(reaction["post_account_id"]),
                int(reaction["account_id"]),
                int(reaction["post_id"]),
            )
            name = str(reaction["name"])
            if kind == EventKind.REACTION_CREATED:
                return [NewNotification(res.ids.next_id(), author, actor, "reaction", post, name)], []
            return [], [Undo("reaction", actor, post, author, name)]
        case (EventKind.REPOST_CREATED, repost):
            author, actor = int(repost["post_account_id"]), int(repost["account_id"])
            original = int(repost["reblog_of_id"])
            return [NewNotification(res.ids.next_id(), author, actor, "reblog", original)], []
        case (EventKind.REPOST_DELETED, gone):
            original = int(gone["reblog_of_id"])
            author_id = await _repost_author(res, original)
            return [], ([Undo("reblog", int(gone["account_id"]), original, author_id)] if author_id is not None else [])
        case (EventKind.FOLLOW_CREATED | EventKind.FOLLOW_REQUEST_CREATED as kind, follow):
            if follow.get("authorized"):
                return [], []  # a request let through: its follow_request notification said it
            follower, followed = int(follow["account_id"]), int(follow["target_account_id"])
            type_ = "follow" if kind == EventKind.FOLLOW_CREATED else "follow_request"
            return [NewNotification(res.ids.next_id(), followed, follower, type_)], []
        case (EventKind.FOLLOW_DELETED | EventKind.FOLLOW_REQUEST_DELETED as kind, follow):
            type_ = "follow" if kind == EventKind.FOLLOW_DELETED else "follow_request"
            return [], [Undo(type_, int(follow["account_id"]), None, int(follow["target_account_id"]))]
    return [], []


async def apply_events(res: Resources, jobs: Sequence[Job]) -> list[asyncpg.Record]:
    """Write and remove notifications for a batch of events, in order, in one transaction; then push the
    new ones to their recipients' live streams. Idempotent: a retried batch writes nothing twice."""
    planned = [await effects(res, job) for job in jobs]
    if not any(new or undone for new, undone in planned):
        return []  # most new posts notify nobody: no transaction at all

    async def write(conn: asyncpg.Connection) -> list[asyncpg.Record]:
        created: list[asyncpg.Record] = []
        for new, undone in planned:
            created += await notification_store.insert_notifications(conn, new)
            for undo in undone:
                await notification_store.delete_for_cause(
                    conn,
                    undo.type,
                    undo.from_account_id,
                    undo.post_id,
                    account_id=undo.account_id,
                    reaction=undo.reaction,
                )
        return created

    created = await in_transaction(res.db, write)
    if created:
        await push(res, [row["id"] for row in created])
    return created


async def push(res: Resources, notification_ids: Sequence[int]) -> None:
    """Publish `notification` events for those still existing whose recipient is connected, each rendered
    for its recipient, on the recipient's own channel. After the commit only."""
    rows = await notification_store.get_notifications(res.db, notification_ids)
    online = await presence.online_among(res.redis, [row["account_id"] for row in rows])
    by_recipient: dict[int, list[asyncpg.Record]] = {}
    for row in rows:
        if row["account_id"] in online:
            by_recipient.setdefault(row["account_id"], []).append(row)
    rendered = await asyncio.gather(
        *(notification_entities(res, recipient_rows, recipient) for recipient, recipient_rows in by_recipient.items())
    )
    messages: list[tuple[str, Message]] = [
        (user_channel(int(entity["_account_id"])), UserMessage("notification", int(entity["id"]), _payload(entity)))
        for entities in rendered
        for entity in entities
    ]
    await publish(res.redis, messages)


def _payload(entity: dict[str, Any]) -> str:
    """A notification entity as the JSON clients receive (internal fields removed)."""
    return orjson.dumps({k: v for k, v in entity.items() if not k.startswith("_")}).decode()


# Reading ---------------------------------------------------------------------------------------------


def warning_entity(row: Mapping[str, Any], target: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """Mastodon's AccountWarning, as a `moderation_warning` notification shows it (domain.moderation)."""
    return {
        "id": str(row["id"]),
        "action": row["action"],
        "text": row["text"],
        "status_ids": [str(i) for i in row["status_ids"]],
        "target_account": account_entity(target, settings),
        "appeal": None,
        "created_at": iso(row["created_at"]),
    }


async def notification_entities(res: Resources, rows: Sequence[asyncpg.Record], viewer_id: int) -> list[dict[str, Any]]:
    """Mastodon Notification entities for `viewer_id`'s rows, in their order, in a constant number of
    queries. A notification whose post the viewer can no longer see is left out. Each entity carries the
    recipient as `_account_id` (for routing; `payload_json` drops it)."""
    post_ids = [row["post_id"] for row in rows if row["post_id"] is not None]
    actors = {row["from_account_id"] for row in rows}
    warned = [row["id"] for row in rows if row["type"] == "moderation_warning"]
    statuses, accounts, shield, warnings = await asyncio.gather(
        post_entities(res, post_ids, viewer_id, context="notifications"),
        account_store.get_accounts(res.db, actors),
        load_shield(res, viewer_id, actors, "notifications"),
        moderation_store.warnings_of_notifications(res.db, warned),
    )
    status_by_id = {int(status["id"]): status for status in statuses}
    out: list[dict[str, Any]] = []
    for row in rows:
        account = accounts.get(row["from_account_id"])
        if account is None or shield.hides(row["from_account_id"]):
            continue
        entity: dict[str, Any] = {
            "id": str(row["id"]),
            "type": row["type"],
            "group_key": row["group_key"] or f"ungrouped-{row['id']}",
            "created_at": iso(row["created_at"]),
            "account": account_entity(account, res.settings),
            "_account_id": row["account_id"],
        }
        if row["post_id"] is not None:
            status = status_by_id.get(row["post_id"])
            if status is None:
                continue
            entity["status"] = status
        if row["type"] == "reaction":
            entity["reaction"] = {"name": row["reaction"]}
        if row["type"] == "moderation_warning":
            warning = warnings.get(row["id"])
            if warning is None:
                continue
            entity["moderation_warning"] = warning_entity(warning, account, res.settings)
        out.append(entity)
    return out


def _public(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in entity.items() if not k.startswith("_")} for entity in entities]


async def notifications_page(
    res: Resources,
    account_id: int,
    page: Page,
    *,
    types: Sequence[str] | None = None,
    exclude_types: Sequence[str] = (),
    from_account_id: int | None = None,
) -> tuple[list[dict[str, Any]], list[int]]:
    """One page of the account's notifications, newest first, and the page's cursors (notification ids)."""
    rows = await notification_store.notifications_page(
        res.db, account_id, page, types=types, exclude_types=exclude_types, from_account_id=from_account_id
    )
    return _public(await notification_entities(res, rows, account_id)), [row["id"] for row in rows]


async def get_notification(res: Resources, account_id: int, notification_id: int) -> dict[str, Any]:
    row = await notification_store.get_notification(res.db, account_id, notification_id)
    entities = await notification_entities(res, [row], account_id) if row is not None else []
    if not entities:
        raise ApiError(404, "Record not found")
    return _public(entities)[0]


async def missed_notifications(
    res: Resources, account_id: int, after_id: int, limit: int
) -> tuple[list[tuple[int, str]], bool, int]:
    """What a reconnecting stream missed: (id, payload JSON) oldest first, whether there were more than
    `limit`, and the newest id looked at (where a client told to reload continues from)."""
    rows = await notification_store.notifications_after(res.db, account_id, after_id, limit + 1)
    too_many = len(rows) > limit
    newest = max((row["id"] for row in rows), default=after_id)
    if too_many:
        return [], True, newest
    entities = await notification_entities(res, rows, account_id)
    return [(int(entity["id"]), _payload(entity)) for entity in entities], False, newest


async def dismiss(res: Resources, account_id: int, notification_id: int) -> None:
    if not await notification_store.dismiss(res.db, account_id, notification_id):
        raise ApiError(404, "Record not found")


async def clear(res: Resources, account_id: int) -> None:
    await notification_store.clear(res.db, account_id)
