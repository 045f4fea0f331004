"""Posts as the API shows them: Mastodon's Status entity, for a whole list of posts at once.

`post_entities(res, post_ids, viewer_id)` is what every route returning statuses uses (single, batch,
context, profile, timelines): a constant number of queries whatever the list's length (the posts, then
the posts they repost or quote, the viewer's follows and mentions for private ones, then accounts,
likes, reposts, reactions, applications and media together). Posts that are missing or that the viewer
may not see are dropped from the result, which keeps the order asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from config import Settings
from core.times import iso
from domain import media as media_domain
from domain import polls as poll_domain
from domain.accounts import account_entity
from domain.filters import subject_text
from domain.post_text import render_html
from domain.visibility import (
    NO_SHIELD,
    Shield,
    ViewContext,
    filter_verdict,
    quote_policy,
    shown_account,
    visibility_of,
)
from storage import accounts as account_store
from storage import bookmarks as bookmark_store
from storage import likes as like_store
from storage import posts as post_store
from storage import safety as safety_store
from storage.posts import ApplicationRow, PostRow
from storage.resources import Resources

# Rounds of loading posts referenced by loaded posts: repost → original → quoted post → its quote.
_REFERENCE_ROUNDS = 3


def referenced_ids(row: PostRow) -> list[int]:
    return [i for i in (row.reblog_of_id, row.quote_of_id) if i is not None]


async def load_with_references(res: Resources, post_ids: Iterable[int]) -> dict[int, PostRow]:
    """The posts, and the posts they repost or quote (and those quote), in at most four queries."""
    tried = set(post_ids)
    posts = await post_store.get_posts(res.db, tried)
    for _ in range(_REFERENCE_ROUNDS):
        wanted = {ref for row in posts.values() for ref in referenced_ids(row)} - tried
        if not wanted:
            break
        tried |= wanted
        posts.update(await post_store.get_posts(res.db, wanted))
    return posts


async def media_attachments(res: Resources, post_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The media plug-in point for reading: Attachment entities of the posts that have media, by post id.

    `post_ids` are only posts whose `has_media` is set; the media capability loads them in one query.
    """
    return await media_domain.media_attachments(res, post_ids)


@dataclass(frozen=True)
class Written:
    """Posts the viewer wrote a moment ago (the answer to its own `POST /api/v1/statuses`). Nobody has
    reacted to them yet, and the viewer has neither bookmarked nor pinned them, so those queries leave them
    out; only a reply can be in a conversation the viewer muted; only `with_polls` have a poll. (Each query
    left out is a round trip to PostgreSQL, about 22 µs of CPU on each side here: docs/capacity.md.)"""

    post_ids: frozenset[int]
    with_polls: frozenset[int] = frozenset()

    def may_be_marked(self, row: PostRow) -> bool:
        return row.id not in self.post_ids

    def may_have_poll(self, row: PostRow) -> bool:
        return row.id not in self.post_ids or row.id in self.with_polls

    def may_be_muted(self, row: PostRow) -> bool:
        return row.id not in self.post_ids or row.thread_root_id != row.id


NOTHING_WRITTEN = Written(frozenset())


@dataclass(frozen=True)
class _Context:
    """Everything the entities of one list are built from, loaded up front."""

    settings: Settings
    viewer_id: int | None
    posts: Mapping[int, PostRow]
    visible: set[int]
    accounts: Mapping[int, dict[str, Any]]
    liked: set[int]
    reposted: set[int]
    reactions: Mapping[int, list[tuple[str, int, bool]]]
    applications: Mapping[int, ApplicationRow]
    media: Mapping[int, list[dict[str, Any]]]
    polls: Mapping[int, dict[str, Any]]
    bookmarked: set[int]
    pinned: set[int]
    shield: Shield = NO_SHIELD
    muted: set[int] = field(default_factory=set)  # shown posts in conversations the viewer muted


async def post_entities(
    res: Resources,
    post_ids: Sequence[int],
    viewer_id: int | None,
    *,
    source: bool = False,
    loaded: dict[int, PostRow] | None = None,
    reactions: dict[int, list[tuple[str, int, bool]]] | None = None,
    context: ViewContext = None,
    written: Written = NOTHING_WRITTEN,
) -> list[dict[str, Any]]:
    """Status entities of the posts the viewer may see in `context` (domain.visibility), in the order of
    `post_ids`. Posts of suspended accounts are left out (their Account is not rendered).

    `source` adds `text` (the plain source), as Mastodon does only when answering a delete. `loaded`: the
    posts and the posts they show, when the caller has them already (`load_with_references`); `reactions`:
    their reactions as the viewer sees them, likewise (`reaction_counts`); `written`: which of them the
    viewer has just written (`Written`).
    """
    ids = list(dict.fromkeys(post_ids))
    if not ids:
        return []
    posts = loaded if loaded is not None else await load_with_references(res, ids)
    visible, shield = await visibility_of(res, posts, viewer_id, context)
    shown = [posts[i] for i in visible]
    content = [row for row in shown if row.reblog_of_id is None]
    marked = [row.id for row in content if written.may_be_marked(row)]
    # Nobody has liked (or reposted) a post whose counter is zero: the counters change in the same
    # transaction as the likes, so only posts with some are asked about (a new post needs neither query).
    liked_ids = [row.id for row in content if row.likes_count]
    reposted_ids = [row.id for row in content if row.reposts_count]
    # The viewer's bookmarks, pins and muted conversations go alongside (a nested gather: its typing stops at six).
    (
        (account_rows, liked, reposted, reactions, apps, (media, polls)),
        ((bookmarked, pinned), muted),
    ) = await asyncio.gather(
        asyncio.gather(
            account_store.get_accounts(res.db, {row.account_id for row in shown}),
            like_store.liked_by(res.db, viewer_id, liked_ids) if viewer_id is not None else _known(set[int]()),
            post_store.reposted_by(res.db, viewer_id, reposted_ids) if viewer_id is not None else _known(set[int]()),
            like_store.reaction_counts(res.db, marked, viewer_id) if reactions is None else _known(reactions),
            post_store.applications(res.db, {row.application_id for row in shown if row.application_id}),
            asyncio.gather(
                media_attachments(res, [row.id for row in shown if row.has_media]),
                poll_domain.poll_entities(res, [row.id for row in content if written.may_have_poll(row)], viewer_id),
            ),
        ),
        asyncio.gather(
            bookmark_store.marks_of(res.db, viewer_id, marked)
            if viewer_id is not None
            else _known((set[int](), set[int]())),
            safety_store.posts_in_muted_conversations(
                res.db, viewer_id, [row.id for row in shown if written.may_be_muted(row)]
            )
            if viewer_id is not None
            else _known(set[int]()),
        ),
    )
    built = _Context(
        settings=res.settings,
        viewer_id=viewer_id,
        posts=posts,
        visible=visible,
        accounts={
            account_id: account_entity(row, res.settings)
            for account_id, row in account_rows.items()
            if shown_account(row)
        },
        liked=liked,
        reposted=reposted,
        reactions=reactions,
        applications=apps,
        media=media,
        polls=polls,
        bookmarked=bookmarked,
        pinned=pinned,
        shield=shield,
        muted=muted,
    )
    entities = [_status(built, posts[i], source=source) for i in ids if i in visible]
    return [entity for entity in entities if entity is not None]


_T = TypeVar("_T")


async def _known(value: _T) -> _T:
    """An answer already known, where asyncio.gather expects a query."""
    return value


def _urls(settings: Settings, username: str, post_id: int, *, repost: bool) -> tuple[str, str]:
    base = settings.base_url
    uri = f"{base}/users/{username}/statuses/{post_id}"
    if repost:
        return f"{uri}/activity", f"{uri}/activity"
    return uri, f"{base}/@{username}/{post_id}"


def _reactions(context: _Context, row: PostRow) -> list[dict[str, Any]]:
    """Pleroma/Akkoma-style reactions, in the configured order; "like" is the like count."""
    counts = {name: (count, me) for name, count, me in context.reactions.get(row.id, [])}
    if row.likes_count > 0:
        counts["like"] = (row.likes_count, row.id in context.liked)
    order = [*context.settings.reactions, *sorted(set(counts) - set(context.settings.reactions))]
    return [{"name": name, "count": counts[name][0], "me": counts[name][1]} for name in order if name in counts]


def _quote_approval(context: _Context, row: PostRow) -> dict[str, Any]:
    quotable_by_all, current = quote_policy(row.visibility, row.account_id, context.viewer_id)
    return {"automatic": ["public"] if quotable_by_all else [], "manual": [], "current_user": current}


def _quote(context: _Context, row: PostRow, *, shallow: bool) -> dict[str, Any] | None:
    """Mastodon 4.5's Quote (or, inside a quoted post, ShallowQuote) of the post `row` quotes."""
    quoted_id = row.quote_of_id
    if quoted_id is None:
        return None
    quoted = context.posts.get(quoted_id)
    if quoted is None:
        state = "deleted"
    elif quoted_id not in context.visible:
        state = "unauthorized"
    else:
        state = "accepted"
    if shallow:
        return {"state": state, "quoted_status_id": str(quoted_id) if state == "accepted" else None}
    entity = _status(context, quoted, shallow_quote=True) if quoted is not None and state == "accepted" else None
    if state == "accepted" and entity is None:
        state = "unauthorized"
    return {"state": state, "quoted_status": entity}


def _status(
    context: _Context, row: PostRow, *, source: bool = False, shallow_quote: bool = False
) -> dict[str, Any] | None:
    account = context.accounts.get(row.account_id)
    if account is None:
        return None
    settings = context.settings
    repost = row.reblog_of_id is not None
    inner: dict[str, Any] | None = None
    if row.reblog_of_id is not None:
        original = context.posts.get(row.reblog_of_id)
        inner = _status(context, original) if original is not None else None
        if inner is None:
            return None
    uri, url = _urls(settings, account["username"], row.id, repost=repost)
    entities = row.entities
    geo = {"lat": row.lat, "long": row.lon} if row.lat is not None else None
    entity: dict[str, Any] = {
        "id": str(row.id),
        "created_at": iso(row.created_at),
        "in_reply_to_id": str(row.in_reply_to_id) if row.in_reply_to_id is not None else None,
        "in_reply_to_account_id": (str(row.in_reply_to_account_id) if row.in_reply_to_account_id is not None else None),
        "sensitive": row.sensitive,
        "spoiler_text": row.spoiler_text,
        "visibility": row.visibility,
        "language": row.language,
        "uri": uri,
        "url": url,
        "replies_count": row.replies_count,
        "reblogs_count": row.reposts_count,
        "favourites_count": row.likes_count,
        "quotes_count": row.quotes_count,
        "edited_at": iso(row.edited_at),
        # A repost wrapper answers for its original, as Mastodon's reblog does.
        "favourited": inner["favourited"] if inner else row.id in context.liked,
        "reblogged": inner["reblogged"] if inner else row.id in context.reposted,
        # Mastodon's `muted`: the viewer muted this post's conversation (a repost is a conversation of its own).
        "muted": row.id in context.muted,
        "bookmarked": inner["bookmarked"] if inner else row.id in context.bookmarked,
        "pinned": row.id in context.pinned,
        "content": render_html(row.text, entities, settings.base_url),
        "reblog": inner,
        "quote": _quote(context, row, shallow=shallow_quote),
        "quote_approval": _quote_approval(context, row),
        "application": _application(context, row),
        "account": account,
        "media_attachments": context.media.get(row.id, []),
        "mentions": _mentions(settings, entities),
        "tags": _tags(settings, entities),
        "emojis": [],
        "card": None,
        "poll": context.polls.get(row.id),
        "reactions": [] if repost else _reactions(context, row),
        # Chirp extension: where the post was written, when the author said so.
        "geo": geo,
    }
    if context.shield.filters and not shallow_quote:
        filtered = inner.get("filtered") if inner is not None else _filtered(context, row, entity)
        if filtered is None and inner is None:
            return None  # a hide filter matched
        if filtered:
            entity["filtered"] = filtered
    if source:
        entity["text"] = row.text
    return entity


def _filtered(context: _Context, row: PostRow, entity: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The viewer's filters on the post (domain.visibility.filter_verdict); None when one hides it."""
    text = subject_text(row.spoiler_text, entity["content"])
    return filter_verdict(context.shield, row.id, text, author_id=row.account_id, viewer_id=context.viewer_id)


def _application(context: _Context, row: PostRow) -> dict[str, Any] | None:
    app = context.applications.get(row.application_id) if row.application_id else None
    return {"name": app.name, "website": app.website} if app is not None else None


def _mentions(settings: Settings, entities: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for e in entities:
        if e["type"] == "mention" and e["account_id"] not in out:
            username = e["username"]
            out[e["account_id"]] = {
                "id": str(e["account_id"]),
                "username": username,
                "url": f"{settings.base_url}/@{username}",
                "acct": username,
            }
    return list(out.values())


def _tags(settings: Settings, entities: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    names = dict.fromkeys(str(e["tag"]) for e in entities if e["type"] == "hashtag")
    return [{"name": name, "url": f"{settings.base_url}/tags/{quote(name, safe='')}"} for name in names]
