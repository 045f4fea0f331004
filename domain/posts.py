"""Posts: writing one (text, reply, quote, mentions, tags), deleting one, and reading threads and profiles."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from core.errors import ApiError, validation_error
from core.pagination import Page
from domain import bookmarks
from domain import media as media_domain
from domain import polls as poll_domain
from domain.cached_posts import VALKEY_DOWN, forget_deleted_posts
from domain.event_kinds import EventKind, PostCounts, PostCreated
from domain.events import outbox_jobs, record_event
from domain.polls import PollDraft
from domain.post_entities import post_entities
from domain.post_text import (
    clean_text,
    mention_ids,
    mentioned_usernames,
    normalize_tag,
    parse,
    resolve_mentions,
    tags,
    text_length,
)
from domain.visibility import may_quote, quote_visibility, visible_original, visible_post
from storage import accounts as account_store
from storage import posts as post_store
from storage.db import in_transaction
from storage.posts import CountersRow, NewPost, PostRow, ProfileFilters
from storage.resources import Resources

VISIBILITIES = ("public", "unlisted", "private", "direct")
IDEMPOTENCY_TTL_SECONDS = 3600.0  # as Mastodon: a retry within the hour returns the first post
IDEMPOTENCY_KEY_MAX = 255
SPOILER_MAX = 1000

# ISO 639-1 codes, for the `language` parameter.
_LANGUAGE_CODES = """
    aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz
    ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io
    is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr
    ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si
    sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh
    yi yo za zh zu"""
LANGUAGES = frozenset(_LANGUAGE_CODES.split())

# Signed-out readers see a bounded slice of a thread, as Mastodon limits them.
SIGNED_OUT_ANCESTORS = 40
SIGNED_OUT_DESCENDANTS = 60
SIGNED_OUT_DEPTH = 20
SIGNED_IN_LIMIT = 4096


@dataclass(frozen=True)
class PostDraft:
    """What a client asked to post, already parsed into types (the handler's job)."""

    text: str = ""
    media_ids: Sequence[int] = field(default_factory=tuple)
    in_reply_to_id: int | None = None
    quote_of_id: int | None = None
    sensitive: bool = False
    spoiler_text: str = ""
    visibility: str | None = None
    language: str | None = None
    lat: float | None = None
    lon: float | None = None
    poll: PollDraft | None = None


@dataclass(frozen=True)
class _Checked:
    """A draft that passed validation: clean text, parsed entities, resolved reply and quote targets."""

    text: str
    spoiler_text: str
    entities: list[dict[str, Any]]
    visibility: str
    language: str | None
    parent: PostRow | None
    quoted: PostRow | None


def check_language(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    code = raw.strip().lower()
    if code not in LANGUAGES:
        raise validation_error("language", "is not a valid ISO 639-1 language code")
    return code


def _visibility(raw: str | None) -> str:
    visibility = raw or "public"
    if visibility not in VISIBILITIES:
        raise validation_error("visibility", f"must be one of {', '.join(VISIBILITIES)}")
    return visibility


async def _reply_target(res: Resources, author_id: int, post_id: int | None) -> PostRow | None:
    if post_id is None:
        return None
    try:
        return await visible_original(res, post_id, author_id)
    except ApiError:
        raise ApiError(404, "The post you are trying to reply to does not appear to exist") from None


async def _quote_target(res: Resources, author_id: int, post_id: int | None) -> PostRow | None:
    if post_id is None:
        return None
    try:
        quoted = await visible_original(res, post_id, author_id)
    except ApiError:
        raise ApiError(404, "The post you are trying to quote does not appear to exist") from None
    if not may_quote(quoted, author_id):
        raise ApiError(403, "This post cannot be quoted")
    return quoted


@dataclass(frozen=True)
class CheckedText:
    """A post's text and content warning within the limits, and the text's entities with mentions resolved."""

    text: str
    spoiler_text: str
    entities: list[dict[str, Any]]


async def check_text(res: Resources, raw_text: str, raw_spoiler: str, *, has_media: bool) -> CheckedText:
    """The length and blankness rules of a post's text, shared by new posts and edits."""
    text = clean_text(raw_text)
    spoiler = clean_text(raw_spoiler)
    if not text and not has_media:
        raise validation_error("status", "can't be blank")
    if len(spoiler) > SPOILER_MAX:
        raise validation_error("spoiler_text", f"is too long (maximum is {SPOILER_MAX} characters)")
    spans = parse(text)
    limit = res.settings.post_max_chars
    if text_length(text, spans) + len(spoiler) > limit:
        raise validation_error("status", f"is too long (maximum is {limit} characters)")
    accounts = await account_store.find_by_usernames(res.db, mentioned_usernames(spans))
    entities = resolve_mentions(spans, {name: (row["id"], row["username"]) for name, row in accounts.items()})
    return CheckedText(text, spoiler, entities)


async def _check_draft(res: Resources, author_id: int, draft: PostDraft) -> _Checked:
    checked = await check_text(res, draft.text, draft.spoiler_text, has_media=bool(draft.media_ids))
    text, spoiler, entities = checked.text, checked.spoiler_text, checked.entities
    visibility = _visibility(draft.visibility)
    language = check_language(draft.language)
    if (draft.lat is None) != (draft.lon is None):
        raise validation_error("lat" if draft.lat is None else "long", "must be given with the other coordinate")
    parent, quoted = await asyncio.gather(
        _reply_target(res, author_id, draft.in_reply_to_id), _quote_target(res, author_id, draft.quote_of_id)
    )
    visibility = quote_visibility(quoted, visibility)
    return _Checked(text, spoiler, entities, visibility, language, parent, quoted)


async def check_draft(res: Resources, author_id: int, draft: PostDraft) -> None:
    """What create_post would refuse, without writing (a scheduled post is checked when it is scheduled)."""
    await _check_draft(res, author_id, draft)
    if draft.poll is not None:
        poll_domain.check_poll(draft.poll)
        if draft.media_ids:
            raise validation_error("poll", "can't be attached together with media")


async def attach_media(conn: asyncpg.Connection, account_id: int, post_id: int, media_ids: Sequence[int]) -> None:
    """The media plug-in point for writing, inside create_post's transaction after the post row exists.

    The media capability validates that each upload belongs to `account_id` and is unattached, and links it
    to `post_id` (422 naming media_ids otherwise).
    """
    await media_domain.attach_media(conn, account_id, media_ids, post_id)


def _counts(row: CountersRow) -> PostCounts:
    return {
        "replies_count": row.replies_count,
        "reposts_count": row.reposts_count,
        "likes_count": row.likes_count,
        "quotes_count": row.quotes_count,
    }


async def record_counts_changed(conn: asyncpg.Connection, row: CountersRow | None, reason: str) -> None:
    """`post.updated` for a post whose counters this transaction changed (`row` from add_to_counter)."""
    if row is not None:
        await record_event(
            conn,
            EventKind.POST_UPDATED,
            {"id": row.id, "account_id": row.account_id, "reason": reason, "counts": _counts(row)},
        )


def check_idempotency_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    key = clean_text(raw)
    if not key:
        return None
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise validation_error("Idempotency-Key", f"is too long (maximum is {IDEMPOTENCY_KEY_MAX} characters)")
    return key


async def create_post(
    res: Resources,
    author_id: int,
    draft: PostDraft,
    *,
    application_id: int | None = None,
    idempotency_key: str | None = None,
    claim: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
) -> int:
    """Publish a post; returns its id. With an idempotency key already used within the hour by this
    account, returns the post made then and creates nothing. `claim` runs first in the post's transaction
    (a scheduled post takes its row there, so it is published once) and may raise to write nothing."""
    key = check_idempotency_key(idempotency_key)
    earlier = await post_store.idempotent_post(res.db, author_id, key) if key is not None else None
    if earlier is not None:
        return earlier
    checked = await _check_draft(res, author_id, draft)
    poll = poll_domain.check_poll(draft.poll) if draft.poll is not None else None
    if poll is not None and draft.media_ids:
        raise validation_error("poll", "can't be attached together with media")
    post_id = res.ids.next_id()
    parent, quoted = checked.parent, checked.quoted
    mentions = mention_ids(checked.entities)
    post_tags = tags(checked.entities)

    created: PostCreated = {
        "id": post_id,
        "account_id": author_id,
        "visibility": checked.visibility,
        "in_reply_to_id": parent.id if parent else None,
        "in_reply_to_account_id": parent.account_id if parent else None,
        "thread_root_id": parent.thread_root_id if parent else post_id,
        "reblog_of_id": None,
        "quote_of_id": quoted.id if quoted else None,
        "mention_ids": mentions,
        "tags": post_tags,
    }
    # A post that claims, locks or counts nothing else, with neither media nor a poll, is written by one
    # statement (the post, its mentions, tags and outbox jobs), which commits by itself.
    alone = claim is None and key is None and parent is None and quoted is None and not draft.media_ids and poll is None

    async def write(conn: asyncpg.Connection) -> int:
        if claim is not None:
            await claim(conn)
        if key is not None:
            existing = await post_store.claim_idempotency_key(conn, author_id, key, post_id, IDEMPOTENCY_TTL_SECONDS)
            if existing is not None:
                return existing
        targets = [row.id for row in (parent, quoted) if row is not None]
        locked = await post_store.lock_posts(conn, targets)
        if parent is not None and parent.id not in locked:
            raise ApiError(404, "The post you are trying to reply to does not appear to exist")
        if quoted is not None and quoted.id not in locked:
            raise ApiError(404, "The post you are trying to quote does not appear to exist")
        if parent is not None:
            counts = await post_store.add_to_counter(conn, parent.id, "replies_count", 1)
            await record_counts_changed(conn, counts, "reply")
        if quoted is not None:
            counts = await post_store.add_to_counter(conn, quoted.id, "quotes_count", 1)
            await record_counts_changed(conn, counts, "quote")
        await post_store.insert_post(
            conn,
            NewPost(
                id=post_id,
                account_id=author_id,
                visibility=checked.visibility,
                text=checked.text,
                entities=checked.entities,
                spoiler_text=checked.spoiler_text,
                sensitive=draft.sensitive or bool(checked.spoiler_text),
                language=checked.language,
                lat=draft.lat,
                lon=draft.lon,
                in_reply_to_id=parent.id if parent else None,
                in_reply_to_account_id=parent.account_id if parent else None,
                thread_root_id=parent.thread_root_id if parent else None,
                thread_path=parent.thread_path if parent else None,
                thread_depth=parent.thread_depth + 1 if parent else 0,
                quote_of_id=quoted.id if quoted else None,
                application_id=application_id,
                has_media=bool(draft.media_ids),
            ),
            mentions=mentions,
            tags=post_tags,
            jobs=outbox_jobs(EventKind.POST_CREATED, created),
        )
        await attach_media(conn, author_id, post_id, draft.media_ids)
        if poll is not None:
            await poll_domain.add_poll(res, conn, post_id, author_id, poll)
        return post_id

    return await in_transaction(res.db, write, single_statement=alone)


async def delete_post(res: Resources, account_id: int, post_id: int) -> dict[str, Any]:
    """Delete one of the account's posts (or reposts) and the reposts of it; the deleted post's entity,
    with its source `text`. Replies stay, still pointing at it; quotes of it show it as deleted."""
    row = await visible_post(res, post_id, account_id)
    if row.account_id != account_id:
        raise ApiError(403, "This action is not allowed")
    entities = await post_entities(res, [post_id], account_id, source=True)
    if not entities:
        raise ApiError(404, "Record not found")

    async def write(conn: asyncpg.Connection) -> list[int]:
        others = [i for i in (row.in_reply_to_id, row.quote_of_id, row.reblog_of_id) if i is not None]
        await post_store.lock_posts(conn, others)
        own = await post_store.lock_own_post(conn, post_id, account_id)
        if own is None:
            raise ApiError(404, "Record not found")
        reposts = await post_store.delete_reposts_of(conn, post_id)
        await post_store.delete_post_row(conn, post_id)
        for column, target, reason in (
            ("replies_count", own.in_reply_to_id, "reply.deleted"),
            ("quotes_count", own.quote_of_id, "quote.deleted"),
            ("reposts_count", own.reblog_of_id, "repost.deleted"),
        ):
            if target is not None:
                await record_counts_changed(conn, await post_store.add_to_counter(conn, target, column, -1), reason)
        deltas: dict[int, int] = {account_id: -1}
        for repost in reposts:
            deltas[repost.account_id] = deltas.get(repost.account_id, 0) - 1
        await post_store.add_posts_counts(conn, deltas)
        await _record_deleted(
            conn,
            own.id,
            own.account_id,
            own.visibility,
            reblog_of_id=own.reblog_of_id,
            in_reply_to_id=own.in_reply_to_id,
            quote_of_id=own.quote_of_id,
            post_tags=tags(own.entities or []),
        )
        for repost in reposts:
            await _record_deleted(conn, repost.id, repost.account_id, repost.visibility, reblog_of_id=post_id)
        return [post_id, *(repost.id for repost in reposts)]

    deleted = await in_transaction(res.db, write)
    # Gone from the post cache before the answer (the post_cache queue does it too): a timeline read after
    # the delete finds no cached copy to show, so it checks PostgreSQL and drops the entry. A courtesy: the
    # delete has committed, so a store failing here must not turn its answer into an error.
    with contextlib.suppress(*VALKEY_DOWN, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        await forget_deleted_posts(res, deleted)
    return entities[0]


async def _record_deleted(
    conn: asyncpg.Connection,
    post_id: int,
    account_id: int,
    visibility: str,
    *,
    reblog_of_id: int | None = None,
    in_reply_to_id: int | None = None,
    quote_of_id: int | None = None,
    post_tags: Sequence[str] = (),
) -> None:
    """`post.deleted` (and `repost.deleted` for a repost) for a post that was just deleted."""
    await record_event(
        conn,
        EventKind.POST_DELETED,
        {
            "id": post_id,
            "account_id": account_id,
            "visibility": visibility,
            "reblog_of_id": reblog_of_id,
            "in_reply_to_id": in_reply_to_id,
            "quote_of_id": quote_of_id,
            "tags": list(post_tags),
        },
    )
    if reblog_of_id is not None:
        await record_event(
            conn,
            EventKind.REPOST_DELETED,
            {"id": post_id, "account_id": account_id, "reblog_of_id": reblog_of_id},
        )


async def thread_context(res: Resources, post_id: int, viewer_id: int | None) -> dict[str, list[dict[str, Any]]]:
    """Mastodon's Context: the ancestors (root first) and the descendants (depth-first) the viewer may see."""
    row = await visible_original(res, post_id, viewer_id)
    if viewer_id is None:
        ancestor_limit, descendant_limit = SIGNED_OUT_ANCESTORS, SIGNED_OUT_DESCENDANTS
        max_depth = row.thread_depth + SIGNED_OUT_DEPTH
    else:
        ancestor_limit, descendant_limit = SIGNED_IN_LIMIT, SIGNED_IN_LIMIT
        max_depth = 2**31 - 1
    ancestor_ids = post_store.path_ids(row.thread_path)[:-1][-ancestor_limit:]
    descendant_ids = await post_store.descendant_ids(
        res.db, row.thread_root_id, row.thread_path, viewer_id, max_depth=max_depth, limit=descendant_limit
    )
    ancestors, descendants = await asyncio.gather(
        post_entities(res, ancestor_ids, viewer_id, context="thread"),
        post_entities(res, descendant_ids, viewer_id, context="thread"),
    )
    return {"ancestors": ancestors, "descendants": descendants}


def profile_filters(
    *, exclude_replies: bool, exclude_reposts: bool, only_media: bool, tagged: str | None
) -> ProfileFilters:
    tag = normalize_tag(clean_text(tagged).lstrip("#")) if tagged else None
    return ProfileFilters(exclude_replies, exclude_reposts, only_media, tag or None)


async def profile_posts(
    res: Resources, account_id: int, viewer_id: int | None, page: Page, filters: ProfileFilters, *, pinned: bool
) -> tuple[list[dict[str, Any]], list[int]]:
    """One page of an account's posts as the viewer may see them, and the page's cursor ids."""
    if await account_store.get_account(res.db, account_id) is None:
        raise ApiError(404, "Record not found")
    if pinned:  # at most five: one page, and nothing past it
        paged = page.max_id is not None or page.lower is not None
        return ([], []) if paged else await bookmarks.pinned_posts(res, account_id, viewer_id)
    ids = await post_store.profile_post_ids(await res.reader(viewer_id), account_id, viewer_id, page, filters)
    return await post_entities(res, ids, viewer_id, context="account"), ids


async def post_quotes(
    res: Resources, post_id: int, viewer_id: int, page: Page
) -> tuple[list[dict[str, Any]], list[int]]:
    """One page of the posts quoting a post, as the viewer may see them, and the page's cursor ids."""
    original = await visible_original(res, post_id, viewer_id)
    ids = await post_store.quote_ids(res.db, original.id, viewer_id, page)
    return await post_entities(res, ids, viewer_id), ids


async def purge_idempotency_keys(res: Resources) -> None:
    """Periodic housekeeping: forget Idempotency-Keys older than their hour."""
    while await post_store.purge_idempotency_keys(res.db) > 0:
        pass
