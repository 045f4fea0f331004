"""Status entities through the post cache: `cached_post_entities(res, post_ids, viewer_id)` answers exactly
what `domain.post_entities.post_entities` answers, mostly from Valkey, in a constant number of round trips.
`cached_post_json` gives the same entities as JSON documents, for responses (no decoding of cached text).

A read:
1. one Valkey script call (`storage.post_cache.hydrate`, or the caller's: the home page reads its posts'
   pieces in its own call) for the pieces of the requested posts, of the posts they show (reposted
   originals, quoted posts) and the Account entities of every author shown;
2. one PostgreSQL query for the viewer's likes, reposts and reactions among them, and for what the one
   visibility rule (`domain.visibility.apply_visibility`) needs to know about private and direct
   posts among them (`storage.timelines.viewer_marks`), unless this process's marks cache already holds
   its answer (storage/marks_cache.py: a reader reading the same page again);
3. assembly: each entity is its cached fields (bytes) followed by what depends on the viewer.
Posts with anything missing from the cache go through `post_entities` in one batch; its answer is used as
it is and, made viewer-independent, fills the cache for the next reader.

A piece is a post's entity as `post_entities` renders it, without what depends on the viewer (favourited, muted,
reblogged, reactions' `me`, quote_approval's `current_user`) and without the nested account and posts,
which have their own keys, so a counter or an account changes in one place. It also carries the immutable
facts the assembly needs: author, reposted and quoted ids, and the (id, author, visibility, reblog_of_id)
rows of every post its rendering shows, for the visibility rule. A rendering some viewer would see
differently (a quoted post shown as "unauthorized") is not cached.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.exceptions import ClusterError, SlotNotCoveredError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from domain.accounts import account_entity
from domain.filters import subject_text
from domain.post_entities import post_entities
from domain.viewer_rules import rules_at
from domain.visibility import (
    NO_SHIELD,
    Restricted,
    Shield,
    ViewContext,
    apply_visibility,
    filter_verdict,
    quote_policy,
    restricted_posts,
    shield_of,
    shown_account,
)
from storage import accounts as account_store
from storage import marks_cache as marks_store
from storage import post_cache
from storage import timelines as timeline_store
from storage.resources import Resources
from storage.timelines import ViewerMarks

# Fields the assembly writes after the cached ones: the nested account and posts, and the viewer's.
_ASSEMBLED = frozenset(
    {
        "account",
        "reblog",
        "quote",
        "favourited",
        "reblogged",
        "reactions",
        "quote_approval",
        "bookmarked",
        "pinned",
        "filtered",
        "muted",
    }
)
_NO_MARKS = ViewerMarks(set(), set(), {})
# Valkey being away costs latency, never an answer: hydration then reads PostgreSQL alone.
# A shard of a Valkey Cluster failing over (ClusterDownError, TRYAGAIN, a slot without a primary for a
# moment) is an outage too: 503, and the timeline is there (or rebuilt) once the replica has taken over.
VALKEY_DOWN = (RedisConnectionError, RedisTimeoutError, ClusterError, TryAgainError, SlotNotCoveredError)

Entity = dict[str, Any]

log = logging.getLogger("chirp.marks")


# building pieces from post_entities' answer --------------------------------------------------------------


def _row(entity: Mapping[str, Any]) -> list[Any]:
    reblog = entity.get("reblog")
    reblog_id = int(reblog["id"]) if reblog else None
    return [int(entity["id"]), int(entity["account"]["id"]), entity["visibility"], reblog_id]


@dataclass(frozen=True)
class _Built:
    header: dict[str, Any]
    refs: list[int]
    accounts: list[int]

    def encode(self, entity: Mapping[str, Any]) -> bytes:
        body = orjson.dumps({key: value for key, value in entity.items() if key not in _ASSEMBLED})
        return post_cache.encode_piece(self.refs, self.accounts, orjson.dumps(self.header), body)


def _piece(entity: Mapping[str, Any], *, shallow: bool) -> _Built | None:
    """The piece of one post's entity, rendered at full depth unless `shallow` (inside a quote, where its
    own quote is only an id). None when it cannot be cached: it shows something as this viewer sees it (a
    poll, its own or its quoted post's), or (shallow) it lacks the row of the post it quotes."""
    if entity.get("poll") is not None:
        return None  # a poll shows each viewer their own vote, and its totals to its author only
    rows = [_row(entity)]
    refs: list[int] = []
    accounts = [int(entity["account"]["id"])]
    quoted_id: int | None = None
    quote_state: str | None = None
    quote = entity.get("quote")
    if quote is not None:
        quote_state = quote["state"]
        if quote_state == "unauthorized" or (shallow and quote_state == "accepted"):
            return None
        if quote_state == "accepted":
            quoted = quote["quoted_status"]
            if quoted.get("poll") is not None:
                return None
            quoted_id = int(quoted["id"])
            rows.append(_row(quoted))
            refs.append(quoted_id)
            accounts.append(int(quoted["account"]["id"]))
    reblog_id: int | None = None
    reblog = entity.get("reblog")
    if reblog is not None:
        inner = _piece(reblog, shallow=False)
        if inner is None:
            return None
        reblog_id = int(reblog["id"])
        rows += inner.header["rows"]
        refs = [reblog_id, *inner.refs]
        accounts += inner.accounts
    header = {
        "a": accounts[0],
        "r": reblog_id,
        "q": quoted_id,
        "qs": quote_state,
        "v": entity["visibility"],
        "rows": rows,
        "rx": [[r["name"], r["count"]] for r in entity["reactions"]],
        "qa": {k: v for k, v in entity["quote_approval"].items() if k != "current_user"},
        "fx": subject_text(entity["spoiler_text"], entity["content"]),  # what keyword filters match, folded
    }
    return _Built(header, refs, list(dict.fromkeys(accounts)))


@dataclass
class _Fill:
    """Pieces and accounts taken from post_entities' answers, to be cached."""

    pieces: dict[int, bytes]
    accounts: dict[int, bytes]
    need_full: set[int]  # quoted posts whose piece needs a full-depth rendering

    def take(self, entity: Mapping[str, Any], *, shallow: bool) -> None:
        post_id = int(entity["id"])
        self.accounts[int(entity["account"]["id"])] = orjson.dumps(entity["account"])
        built = _piece(entity, shallow=shallow)
        if built is not None:
            self.pieces[post_id] = built.encode(entity)
        elif shallow and (entity.get("quote") or {}).get("state") == "accepted":
            self.need_full.add(post_id)
        reblog = entity.get("reblog")
        if reblog is not None:
            self.take(reblog, shallow=False)
        quote = entity.get("quote")
        if not shallow and quote is not None and quote.get("quoted_status") is not None:
            self.take(quote["quoted_status"], shallow=True)


async def _fallback(
    res: Resources, post_ids: Sequence[int], viewer_id: int | None, context: ViewContext
) -> dict[int, bytes]:
    """Entities straight from post_entities (right for this viewer), caching what they are made of. The
    posts this viewer does not see (its blocks, mutes or filters hide them) are cached too, as a signed-out
    reader sees them: else every later read of a timeline holding one would come back here for it."""
    entities = await post_entities(res, post_ids, viewer_id, context=context)
    fill = _Fill({}, {}, set())
    for entity in entities:
        fill.take(entity, shallow=False)
    unseen = set(post_ids) - {int(entity["id"]) for entity in entities}
    if unseen and viewer_id is not None:
        for entity in await post_entities(res, list(unseen), None):
            fill.take(entity, shallow=False)
    wanted = fill.need_full - fill.pieces.keys()
    if wanted:
        for entity in await post_entities(res, list(wanted), viewer_id):
            fill.take(entity, shallow=False)
    with contextlib.suppress(*VALKEY_DOWN):  # filling the cache is a courtesy to the next reader
        await post_cache.put(res.redis, fill.pieces, fill.accounts)
    return {int(entity["id"]): orjson.dumps(entity) for entity in entities}


# assembling ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Piece:
    """A stored piece as the assembly uses it, decoded once per process (`_decode`): the JSON text around
    what the viewer changes is kept as bytes, so assembling an entity is joining bytes, not encoding."""

    refs: list[int]
    accounts: list[int]
    header: dict[str, Any]  # shared by every read of the same stored value: never modified
    body: bytes
    rows: dict[int, dict[str, Any]]  # the visibility rows of every post the rendering shows, by id
    opening: bytes  # the body without its closing brace, then `,"account":`
    reactions: bytes  # `reactions` as a viewer who reacted with nothing sees them
    needs: tuple[frozenset[int], frozenset[int]]  # the refs and accounts a full rendering needs
    approvals: dict[str, bytes] = field(default_factory=dict)  # quote_approval by current_user, filled on use


# Decoded pieces by post id, each with the stored bytes it was decoded from: a timeline's hot posts are
# decoded once per process, not per read. A read compares the bytes it got with the kept ones (equal
# lengths, then memcmp; no hashing of a kilobyte per piece), so a rewritten piece (new counters) is decoded
# again. At the bound the oldest decoded half is dropped.
_DECODED_PIECES = 10_000
_decoded: dict[int, tuple[bytes, _Piece]] = {}


def _decode_piece(value: bytes) -> _Piece:
    stored = post_cache.decode_piece(value)
    header = orjson.loads(stored.header)
    return _Piece(
        stored.refs,
        stored.accounts,
        header,
        stored.body,
        {row[0]: _row_mapping(row) for row in header["rows"]},
        stored.body[:-1] + b',"account":',
        orjson.dumps([{"name": name, "count": count, "me": False} for name, count in header["rx"]]),
        (frozenset(stored.refs), frozenset(stored.accounts)),
    )


def _decode(post_id: int, value: bytes) -> _Piece:
    kept = _decoded.get(post_id)
    if kept is not None and kept[0] == value:
        return kept[1]
    piece = _decode_piece(value)
    if len(_decoded) >= _DECODED_PIECES:
        for old in list(itertools.islice(_decoded, _DECODED_PIECES // 2)):
            del _decoded[old]
    _decoded.pop(post_id, None)  # to the end: the newest decoded
    _decoded[post_id] = (value, piece)
    return piece


@dataclass(frozen=True)
class _View:
    viewer_id: int | None
    pieces: Mapping[int, _Piece]
    accounts: Mapping[int, bytes]
    visible: set[int]
    marks: ViewerMarks
    shield: Shield = NO_SHIELD


def _filtered(view: _View, post_id: int, piece: _Piece) -> list[dict[str, Any]] | None:
    """The viewer's filters on a post (domain.visibility.filter_verdict); None when one hides it."""
    text = piece.header.get("fx")
    if text is None:  # a piece cached before the filters matched folded text
        body = orjson.loads(piece.body)
        text = subject_text(body["spoiler_text"], body["content"])
    return filter_verdict(view.shield, post_id, text, author_id=piece.header["a"], viewer_id=view.viewer_id)


def _approval(view: _View, piece: _Piece) -> bytes:
    """quote_approval as JSON, with current_user as post_entities decides it."""
    header = piece.header
    current_user = quote_policy(header["v"], header["a"], view.viewer_id)[1]
    approval = piece.approvals.get(current_user)
    if approval is None:
        approval = piece.approvals[current_user] = orjson.dumps({**header["qa"], "current_user": current_user})
    return approval


def _quote(view: _View, header: Mapping[str, Any], *, shallow: bool) -> Entity | None:
    state: str | None = header["qs"]
    if state is None:
        return None
    quoted_id = header["q"]
    if state == "accepted" and quoted_id not in view.visible:
        state = "unauthorized"
    if shallow:
        return {"state": state, "quoted_status_id": str(quoted_id) if state == "accepted" else None}
    quoted = _render(view, quoted_id, shallow=True) if state == "accepted" else None
    if state == "accepted" and quoted is None:
        state = "unauthorized"
    return {"state": state, "quoted_status": orjson.Fragment(quoted) if quoted is not None else None}


def _flags(*marks: bool) -> bytes:
    names = ("favourited", "reblogged", "bookmarked", "pinned", "muted")
    values = (b"true" if on else b"false" for on in marks)
    return b"".join(b',"%s":%s' % (name.encode(), value) for name, value in zip(names, values, strict=True))


# favourited, reblogged, bookmarked, pinned and muted as JSON, indexed by those five as the bits of a number
_FLAGS = [_flags(*(bool(i & bit) for bit in (16, 8, 4, 2, 1))) for i in range(32)]


def _render(view: _View, post_id: int, *, shallow: bool = False) -> bytes | None:
    """The entity as JSON: the cached fields, then the nested account and posts and the viewer's marks (the
    keys in the order post_entities writes them)."""
    piece = view.pieces.get(post_id)
    if piece is None or post_id not in view.visible:
        return None
    header = piece.header
    account = view.accounts.get(header["a"])
    if account is None:
        return None
    marks = view.marks
    original_id = header["r"]
    filtered: list[dict[str, Any]] | None = []
    if view.shield.filters and not shallow:
        content_id = original_id if original_id is not None else post_id
        content = view.pieces.get(content_id)
        filtered = _filtered(view, content_id, content) if content is not None else []
        if filtered is None:
            return None  # a hide filter matched
    if original_id is not None:
        inner = _render(view, original_id)
        if inner is None:
            return None
        # A repost wrapper answers for its original, as post_entities does.
        flags = (
            (original_id in marks.liked) << 4
            | (original_id in marks.reposted) << 3
            | (original_id in marks.bookmarked) << 2
            | (post_id in marks.muted)
        )
        parts = [piece.opening, account, b',"reblog":', inner, b',"quote":null', _FLAGS[flags], b',"reactions":[]']
    else:
        liked = post_id in marks.liked
        reacted = marks.reacted.get(post_id, ())
        flags = (
            liked << 4
            | (post_id in marks.reposted) << 3
            | (post_id in marks.bookmarked) << 2
            | (post_id in marks.pinned) << 1
            | (post_id in marks.muted)
        )
        quote = _quote(view, header, shallow=shallow)
        reactions = piece.reactions
        if liked or reacted:
            reactions = orjson.dumps(
                [
                    {"name": name, "count": count, "me": liked if name == "like" else name in reacted}
                    for name, count in header["rx"]
                ]
            )
        parts = [
            piece.opening,
            account,
            b',"reblog":null,"quote":',
            b"null" if quote is None else orjson.dumps(quote),
            _FLAGS[flags],
            b',"reactions":',
            reactions,
        ]
    parts += (b',"quote_approval":', _approval(view, piece))
    if filtered:
        parts += (b',"filtered":', orjson.dumps(filtered))
    parts.append(b"}")
    return b"".join(parts)


def _complete(stored: _Piece, pieces: Mapping[int, Any], accounts: Mapping[int, Any]) -> bool:
    """Everything a full rendering of the post needs is in hand."""
    refs, shown_accounts = stored.needs
    return (not refs or pieces.keys() >= refs) and accounts.keys() >= shown_accounts


async def _marks(
    res: Resources, viewer_id: int | None, post_ids: Collection[int], restricted: Restricted, authors: Collection[int]
) -> ViewerMarks:
    """The viewer's marks, and what the visibility rule needs to know about restricted posts, the viewer's
    rules (their version stamp) and the suspended authors: from this process's marks cache when it holds
    them (storage/marks_cache.py), else in one query. Pages with restricted posts always ask the query."""
    if viewer_id is None:
        return _NO_MARKS
    cacheable = not restricted.post_ids and res.marks.live
    if cacheable:
        cached = res.marks.get(viewer_id, post_ids, authors)
        if cached is not None:
            return cached
    stamp = res.marks.stamp(viewer_id)
    marks = await timeline_store.viewer_marks(
        res.db,
        viewer_id,
        post_ids,
        followed_among=restricted.private_authors,
        mentions_among=restricted.post_ids,
        related_among=authors,
    )
    if cacheable:
        res.marks.put(viewer_id, post_ids, authors, marks, stamp)
    return marks


async def forget_marks(res: Resources, account_ids: Collection[int] | None) -> None:
    """After a commit that changed these accounts' marks (None: what anyone sees, as a suspension does): drop
    them from this process's marks cache at once, and from every other API process's by broadcast."""
    if not res.marks.enabled:
        return
    if account_ids is None:
        res.marks.forget_everyone()
    else:
        res.marks.drop(account_ids)
    try:
        await marks_store.publish_changed(res.redis, account_ids)
    except VALKEY_DOWN as exc:  # the other processes' listeners are likely cut off too, and so not answering
        log.warning("could not announce changed marks of %s: %s", account_ids or "everyone", exc)


async def cached_post_json(
    res: Resources,
    post_ids: Sequence[int],
    viewer_id: int | None,
    *,
    hydrated: post_cache.Hydrated | None = None,
    context: ViewContext = None,
) -> list[tuple[int, bytes]]:
    """(post id, Status entity as JSON) of the posts the viewer may see in `context`, in the order of
    `post_ids`. `hydrated`: what the caller already read from the cache for exactly these posts."""
    ids = list(dict.fromkeys(post_ids))
    if not ids:
        return []
    try:
        found = hydrated if hydrated is not None else await post_cache.hydrate(res.redis, ids)
    except VALKEY_DOWN:
        entities = await post_entities(res, ids, viewer_id, context=context)
        return [(int(entity["id"]), orjson.dumps(entity)) for entity in entities]
    stored = {post_id: _decode(post_id, value) for post_id, value in found.pieces.items()}
    complete = [i for i in ids if i in stored and _complete(stored[i], stored, found.accounts)]
    rendered: dict[int, bytes | None] = {}
    if complete:
        pieces: dict[int, _Piece] = {}  # the posts shown: the complete ones and those they show
        posts: dict[int, dict[str, Any]] = {}
        for post_id in complete:
            for shown_id in (post_id, *stored[post_id].refs):
                if shown_id not in pieces:
                    pieces[shown_id] = piece = stored[shown_id]
                    posts.update(piece.rows)
        shown = pieces.keys()
        restricted = restricted_posts(posts, viewer_id)
        authors = {row["account_id"] for row in posts.values()} - {viewer_id}
        marks = await _marks(res, viewer_id, shown, restricted, authors)
        rules = await rules_at(res, viewer_id, marks.rules_version) if viewer_id is not None else None
        shield = shield_of(rules, context, marks.suspended)
        visible = apply_visibility(posts, restricted, marks.following, marks.mentioned, shield)
        view = _View(viewer_id, pieces, found.accounts, visible, marks, shield)
        rendered = {post_id: _render(view, post_id) for post_id in complete}
    missing = [i for i in ids if i not in rendered]
    fallen_back = await _fallback(res, missing, viewer_id, context) if missing else {}
    out: list[tuple[int, bytes]] = []
    for post_id in ids:
        entity = rendered[post_id] if post_id in rendered else fallen_back.get(post_id)
        if entity is not None:
            out.append((post_id, entity))
    return out


async def cached_post_entities(
    res: Resources, post_ids: Sequence[int], viewer_id: int | None, *, context: ViewContext = None
) -> list[Entity]:
    """Status entities of the posts the viewer may see, in the order of `post_ids` (as post_entities)."""
    return [orjson.loads(entity) for _, entity in await cached_post_json(res, post_ids, viewer_id, context=context)]


def _row_mapping(row: Sequence[Any]) -> dict[str, Any]:
    return {"id": row[0], "account_id": row[1], "visibility": row[2], "reblog_of_id": row[3]}


# keeping the cache current (the post_cache queue and the fan-out worker) --------------------------------


async def refresh_posts(res: Resources, post_ids: Iterable[int]) -> None:
    """Rewrite the cached pieces of posts whose counters or text changed; forget those that went away.

    Public and unlisted posts are re-rendered as a signed-out reader sees them (the same for everyone,
    apart from the marks the assembly adds); other cached posts are dropped and filled on their next read.
    """
    cached = await post_cache.cached_posts(res.redis, list(set(post_ids)))
    if not cached:
        return
    pieces: dict[int, bytes] = {}
    for entity in await post_entities(res, cached, None):
        built = _piece(entity, shallow=False)
        if built is not None:
            pieces[int(entity["id"])] = built.encode(entity)
    await post_cache.replace(res.redis, pieces, {})
    await post_cache.forget_posts(res.redis, set(cached) - pieces.keys())


async def forget_deleted_posts(res: Resources, post_ids: Iterable[int]) -> None:
    """Drop deleted posts from the cache, and the pieces of posts quoting them (they show the quote's state)."""
    ids = list(set(post_ids))
    if ids:
        await post_cache.forget_posts(res.redis, [*ids, *await timeline_store.quoting_post_ids(res.db, ids)])


async def refresh_accounts(res: Resources, account_ids: Iterable[int]) -> None:
    """Rewrite cached Account entities whose profile or counters changed; forget deleted accounts."""
    cached = await post_cache.cached_accounts(res.redis, list(set(account_ids)))
    if not cached:
        return
    found = await account_store.get_accounts(res.db, cached)
    rows = {account_id: row for account_id, row in found.items() if shown_account(row)}  # suspended: nowhere
    await post_cache.replace(
        res.redis, {}, {account_id: orjson.dumps(account_entity(row, res.settings)) for account_id, row in rows.items()}
    )
    await post_cache.forget_accounts(res.redis, [account_id for account_id in cached if account_id not in rows])
