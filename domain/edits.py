"""Editing a post after it was delivered: the new version on the posts row, every version kept for its history,
and one `post.edited` event that carries the change to search, the post cache, live streams and the
`update` notifications of those who reposted or quoted it.

As Mastodon: the text, content warning, sensitive flag, language, media (with their descriptions) and poll
may change; visibility, reply and quote may not. Omitted media_ids mean no media, an omitted poll no poll
(domain.polls.edit_poll: changed options void the votes), an omitted content warning means none, an omitted
language or sensitive flag keeps the post's. Mentions added by an edit reach the post's audience and each
newly mentioned account gets one `mention` notification (Mastodon notifies the post's mentions again on an
edit, once per mention); a direct message edited to mention someone new so reaches them by id, thread,
notification and stream, but, as in Mastodon (whose fan-out skips the conversation on an update), it does
not start a conversation for them. Mentions an edit removes stay, silently, so nobody loses a post they
could see.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from core.errors import ApiError, validation_error
from core.times import iso
from domain import media as media_domain
from domain import polls as poll_domain
from domain.accounts import account_entity
from domain.cached_posts import VALKEY_DOWN, refresh_posts
from domain.event_kinds import EventKind
from domain.events import record_event
from domain.polls import PollDraft
from domain.post_text import mention_ids, render_html, tags
from domain.posts import check_language, check_text
from domain.visibility import visible_original
from storage import accounts as account_store
from storage import media as media_store
from storage import polls as poll_store
from storage import post_versions as version_store
from storage import posts as post_store
from storage.db import in_transaction
from storage.polls import PollRow
from storage.post_versions import NewVersion, PostContent, VersionRow
from storage.posts import PostRow
from storage.resources import Resources


@dataclass(frozen=True)
class EditDraft:
    """What a client asked an edit to be, parsed into types (the handler's job)."""

    text: str = ""
    spoiler_text: str = ""
    sensitive: bool | None = None  # None keeps the post's
    language: str | None = None  # None keeps the post's
    media_ids: Sequence[int] = field(default_factory=tuple)
    descriptions: Mapping[int, str] = field(default_factory=dict)  # media id -> its new description
    poll: PollDraft | None = None  # None: the post has no poll after the edit


async def _own_original(res: Resources, account_id: int, post_id: int) -> PostRow:
    row = await visible_original(res, post_id, account_id)
    if row.id != post_id:
        raise validation_error("id", "is a repost, which cannot be edited")
    if row.account_id != account_id:
        raise ApiError(403, "This action is not allowed")
    return row


async def _attachments(res: Resources, conn: asyncpg.Connection, post_id: int) -> list[dict[str, Any]]:
    """The post's MediaAttachment entities as this transaction sees them."""
    return [await media_domain.media_entity(res, row) for row in await media_store.for_posts(conn, [post_id])]


async def edit_post(res: Resources, account_id: int, post_id: int, draft: EditDraft) -> None:
    """Replace one of the account's posts with a new version, keeping the old ones; one transaction."""
    row = await _own_original(res, account_id, post_id)
    checked = await check_text(res, draft.text, draft.spoiler_text, has_media=bool(draft.media_ids))
    language = check_language(draft.language) if draft.language is not None else row.language
    sensitive = (row.sensitive if draft.sensitive is None else draft.sensitive) or bool(checked.spoiler_text)
    poll = poll_domain.check_poll(draft.poll) if draft.poll is not None else None
    if poll is not None and draft.media_ids:
        raise validation_error("poll", "can't be attached together with media")
    unknown = set(draft.descriptions) - set(draft.media_ids)
    if unknown:
        raise validation_error("media_attributes", f"names media {min(unknown)}, which is not in media_ids")
    new_tags = tags(checked.entities)

    async def write(conn: asyncpg.Connection) -> None:
        own = await post_store.lock_own_post(conn, post_id, account_id)
        if own is None:
            raise ApiError(404, "Record not found")
        current_poll = await poll_store.lock_poll_of_post(conn, post_id)
        if not await version_store.has_versions(conn, post_id):
            media_before = await _attachments(res, conn, post_id)
            await version_store.insert_version(conn, _version(res, own, media_before, current_poll))
        await poll_domain.edit_poll(res, conn, post_id, account_id, current_poll, poll)
        await version_store.detach_media_except(conn, post_id, draft.media_ids)
        await media_domain.attach_media(conn, account_id, draft.media_ids, post_id)
        await version_store.set_descriptions(conn, post_id, dict(draft.descriptions))
        content = PostContent(
            checked.text, checked.entities, checked.spoiler_text, sensitive, language, bool(draft.media_ids)
        )
        edited_at = await version_store.rewrite_post(conn, post_id, content)
        newly_mentioned = await post_store.insert_mentions(conn, post_id, mention_ids(checked.entities))
        await version_store.replace_tags(conn, post_id, new_tags)
        media = await _attachments(res, conn, post_id)
        await version_store.insert_version(
            conn,
            NewVersion(
                res.ids.next_id(),
                post_id,
                content.text,
                content.entities,
                content.spoiler_text,
                sensitive,
                language,
                media,
                edited_at,
                None if poll is None else poll.options,
            ),
        )
        await record_event(
            conn,
            EventKind.POST_EDITED,
            {
                "id": post_id,
                "account_id": account_id,
                "tags": new_tags,
                "old_tags": tags(own.entities or []),
                "mention_ids": newly_mentioned,
            },
        )

    await in_transaction(res.db, write)
    # The author's next read shows the new version at once (the post_cache queue does it too). A courtesy:
    # the edit has committed, so a store failing here must not turn its answer into an error.
    with contextlib.suppress(*VALKEY_DOWN, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        await refresh_posts(res, [post_id])


def _version(res: Resources, row: PostRow, media: list[dict[str, Any]], poll: PollRow | None) -> NewVersion:
    """The version a post was before its first edit, dated when it was posted."""
    return NewVersion(
        res.ids.next_id(),
        row.id,
        row.text,
        row.entities or [],
        row.spoiler_text,
        row.sensitive,
        row.language,
        media,
        row.created_at,
        None if poll is None else poll.options,
    )


def _edit_entity(res: Resources, version: VersionRow, account: dict[str, Any]) -> dict[str, Any]:
    """Mastodon's StatusEdit."""
    return {
        "content": render_html(version.text, version.entities, res.settings.base_url),
        "spoiler_text": version.spoiler_text,
        "sensitive": version.sensitive,
        "created_at": iso(version.created_at),
        "account": account,
        "poll": None if version.poll_options is None else {"options": [{"title": t} for t in version.poll_options]},
        "media_attachments": version.media,
        "emojis": [],
    }


async def post_history(res: Resources, post_id: int, viewer_id: int | None) -> list[dict[str, Any]]:
    """Every version of a post the viewer may see, oldest first (one, for a post never edited)."""
    row = await visible_original(res, post_id, viewer_id)
    account_row = await account_store.get_account(res.db, row.account_id)
    if account_row is None:
        raise ApiError(404, "Record not found")
    account = account_entity(account_row, res.settings)
    versions = await version_store.versions(res.db, row.id)
    if not versions:
        media = (await media_domain.media_attachments(res, [row.id])).get(row.id, []) if row.has_media else []
        poll = (await poll_store.polls_of_posts(res.db, [row.id])).get(row.id)
        versions = [
            VersionRow(
                row.id,
                row.id,
                row.text,
                row.entities or [],
                row.spoiler_text,
                row.sensitive,
                row.language,
                media,
                row.created_at,
                None if poll is None else poll.options,
            )
        ]
    return [_edit_entity(res, version, account) for version in versions]


async def post_source(res: Resources, post_id: int, viewer_id: int) -> dict[str, Any]:
    """Mastodon's StatusSource: the plain text of a post the viewer may see, to edit it."""
    row = await visible_original(res, post_id, viewer_id)
    return {"id": str(row.id), "text": row.text, "spoiler_text": row.spoiler_text}
