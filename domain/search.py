"""Search: posts, accounts and hashtags from Meilisearch, hydrated from PostgreSQL (Mastodon's v2 search).

Meilisearch only proposes ids. Posts are then passed through `post_entities`, the same visibility-checked
hydration every timeline uses, so a deleted or no-longer-visible post never appears even while the index
lags; accounts and hashtags are likewise checked against their rows. When Meilisearch does not answer
within `CHIRP_SEARCH_TIMEOUT`, search is a 503 (there is no PostgreSQL full-text fallback: docs/search.md).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal
from urllib.parse import quote

from meilisearch_python_sdk.models.search import SearchParams

from core.errors import ApiError, validation_error
from domain.accounts import account_entity
from domain.post_entities import post_entities
from domain.post_text import normalize_tag
from domain.search_documents import id_ms
from domain.search_query import QueryError, SearchQuery, parse_query
from domain.visibility import shown_account
from storage import accounts as account_store
from storage import discovery as discovery_store
from storage import search as search_store
from storage.resources import Resources
from storage.search_indexes import ACCOUNTS, HASHTAGS, POSTS, index_name, meili_unavailable

TYPES = ("accounts", "hashtags", "statuses")
SORTS = ("relevant", "recent")
UNAVAILABLE = "search is unavailable"


@dataclass(frozen=True)
class SearchRequest:
    q: str
    types: tuple[str, ...] = TYPES
    limit: int = 20
    offset: int = 0
    sort: str = "relevant"
    account_id: int | None = None  # statuses by this account only
    min_id: int | None = None  # statuses newer than this id
    max_id: int | None = None  # statuses older than this id
    following: bool = False  # accounts the viewer follows only


def _quoted(value: str) -> str:
    """A filter value as a double-quoted string (tags are letters and digits, but never trust that)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ids(values: Sequence[int]) -> str:
    return "[" + ", ".join(_quoted(str(v)) for v in values) + "]"


def _day_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def visibility_filter(viewer_id: int | None, following: Sequence[int]) -> str:
    """Who may find what (docs/search.md): public and unlisted posts for everyone; the viewer's own;
    those mentioning the viewer; private posts of the accounts the viewer follows (up to the cap)."""
    everyone = 'visibility IN ["public", "unlisted"]'
    if viewer_id is None:
        return everyone
    me = _quoted(str(viewer_id))
    parts = [everyone, f"author_id = {me}", f"mention_ids = {me}"]
    if following:
        parts.append(f'(visibility = "private" AND author_id IN {_ids(following)})')
    return "(" + " OR ".join(parts) + ")"


async def _author_filters(res: Resources, query: SearchQuery, account_id: int | None) -> list[str] | None:
    """from:, -from: and account_id as filters; None when they name no account (nothing can match)."""
    filters: list[str] = []
    if query.from_users:
        authors = await search_store.account_ids_by_username(res.db, query.from_users)
        if not authors:
            return None
        filters.append(f"author_id IN {_ids(authors)}")
    if query.not_from_users:
        excluded = await search_store.account_ids_by_username(res.db, query.not_from_users)
        if excluded:
            filters.append(f"NOT author_id IN {_ids(excluded)}")
    if account_id is not None:
        filters.append(f"author_id = {_quoted(str(account_id))}")
    return filters


def post_filters(query: SearchQuery, request: SearchRequest) -> list[str]:
    """The query's operators and the request's bounds as Meilisearch filters (all must hold)."""
    filters = [f"hashtags = {_quoted(tag)}" for tag in query.tags]
    filters += [f"NOT hashtags = {_quoted(tag)}" for tag in query.not_tags]
    if query.has_media is not None:
        filters.append(f"has_media = {str(query.has_media).lower()}")
    if query.is_reply is not None:
        filters.append(f"is_reply = {str(query.is_reply).lower()}")
    filters.append(f"is_repost = {str(query.is_repost).lower()}")
    if query.language:
        filters.append(f"language = {_quoted(query.language)}")
    if query.since:
        filters.append(f"created_at >= {_day_ms(query.since)}")
    if query.until:
        filters.append(f"created_at < {_day_ms(query.until)}")
    # Bounds on the id's millisecond; ids within the bounding millisecond are sorted out exactly later.
    if request.min_id is not None:
        filters.append(f"id_ms >= {id_ms(request.min_id)}")
    if request.max_id is not None:
        filters.append(f"id_ms <= {id_ms(request.max_id)}")
    return filters


async def _statuses_params(
    res: Resources, viewer_id: int | None, query: SearchQuery, request: SearchRequest
) -> SearchParams | None:
    if not query.text and not query.has_filters and request.account_id is None:
        return None  # nothing asked for (`""`): no results rather than every post
    authors = await _author_filters(res, query, request.account_id)
    if authors is None:
        return None
    following: list[int] = []
    if viewer_id is not None and res.settings.search_following_cap > 0:
        following = await search_store.followed_ids(res.db, viewer_id, res.settings.search_following_cap)
    sort: list[str] | None = ["created_at:desc"] if request.sort == "recent" else None
    return SearchParams(
        index_uid=index_name(res.settings, POSTS),
        q=query.text,
        filter=[visibility_filter(viewer_id, following), *authors, *post_filters(query, request)],
        sort=sort,
        limit=request.limit,
        offset=request.offset,
        # Every word must match (with typo tolerance), as people expect of a post search.
        matching_strategy="all",
        attributes_to_retrieve=["id"],
    )


def account_terms(q: str) -> str:
    """`@alice`, `@alice@host` or `alice` all look for alice."""
    text = q.strip()
    if text.startswith("@") and " " not in text:
        text = text[1:].split("@", 1)[0]
    return text


async def _accounts_params(res: Resources, viewer_id: int | None, request: SearchRequest) -> SearchParams | None:
    terms = account_terms(request.q)
    if not terms:
        return None
    # As Mastodon: accounts that opted out of discovery are found only by their exact username.
    filters: list[str | list[str]] = [f"(discoverable = true OR username_key = {_quoted(terms.lower())})"]
    if request.following:
        if viewer_id is None:
            raise validation_error("following", "requires a signed-in user")
        followed = await search_store.followed_ids(res.db, viewer_id, max(res.settings.search_following_cap, 1))
        if not followed:
            return None
        filters.append(f"id IN {_ids(followed)}")
    return SearchParams(
        index_uid=index_name(res.settings, ACCOUNTS),
        q=terms,
        filter=filters,
        limit=request.limit,
        offset=request.offset,
        attributes_to_retrieve=["id"],
    )


def hashtag_terms(q: str) -> str:
    return normalize_tag(q.strip().lstrip("#").strip())


def _hashtags_params(res: Resources, request: SearchRequest) -> SearchParams | None:
    terms = hashtag_terms(request.q)
    if not terms:
        return None
    return SearchParams(
        index_uid=index_name(res.settings, HASHTAGS),
        q=terms,
        limit=request.limit,
        offset=request.offset,
        attributes_to_retrieve=["name"],
    )


async def _run(res: Resources, queries: Sequence[SearchParams]) -> list[list[dict[str, Any]]]:
    """The hits of each query, in one multi-search; a 503 when Meilisearch cannot answer in time."""
    if not queries:
        return []
    try:
        async with asyncio.timeout(res.settings.search_timeout):
            results = await res.meili.multi_search(list(queries))
    except Exception as exc:
        if meili_unavailable(exc):
            raise ApiError(503, UNAVAILABLE) from exc
        raise
    assert isinstance(results, list)
    return [list(result.hits) for result in results]


def tag_id(name: str) -> str:
    """A hashtag's `id`: Chirp keeps no table of tags, so it is derived from the (normalised) name, the
    same on every server process and every day: 63 bits of its BLAKE2b digest, as decimal digits."""
    return str(int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big") >> 1)


def tag_entity(res: Resources, name: str) -> dict[str, Any]:
    """Mastodon's Tag; usage history is not kept, so it is empty."""
    return {
        "id": tag_id(name),
        "name": name,
        "url": f"{res.settings.base_url}/tags/{quote(name, safe='')}",
        "history": [],
    }


async def _statuses(
    res: Resources, viewer_id: int | None, hits: list[dict[str, Any]], request: SearchRequest
) -> list[dict[str, Any]]:
    ids = [int(hit["id"]) for hit in hits]
    ids = [
        i
        for i in ids
        if (request.min_id is None or i > request.min_id) and (request.max_id is None or i < request.max_id)
    ]
    return await post_entities(res, ids, viewer_id)


async def _accounts(res: Resources, viewer_id: int | None, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The hits' Account entities in rank order, leaving out the suspended and anyone blocking or blocked by
    the viewer (the index may still hold them)."""
    ids = [int(hit["id"]) for hit in hits]
    rows, hidden = await asyncio.gather(
        account_store.get_accounts(res.db, ids), discovery_store.hidden_from(res.db, viewer_id, ids)
    )
    return [
        account_entity(rows[i], res.settings) for i in ids if i in rows and shown_account(rows[i]) and i not in hidden
    ]


async def search_accounts(res: Resources, viewer_id: int | None, request: SearchRequest) -> list[dict[str, Any]]:
    """Accounts only (GET /api/v1/accounts/search): the same query, ranking and hiding as `search`'s accounts."""
    params = await _accounts_params(res, viewer_id, request)
    if params is None:
        return []
    (hits,) = await _run(res, [params])
    reading = res.reading_from(await res.reader(viewer_id)) if hits else res
    return await _accounts(reading, viewer_id, hits)


async def _hashtags(res: Resources, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = [str(hit["name"]) for hit in hits]
    used = await search_store.used_tags(res.db, names)
    return [tag_entity(res, name) for name in names if name in used]


def parse(q: str) -> SearchQuery:
    try:
        return parse_query(q)
    except QueryError as exc:
        raise validation_error("q", str(exc)) from None


async def search(res: Resources, viewer_id: int | None, request: SearchRequest) -> dict[str, list[dict[str, Any]]]:
    """Mastodon's Search result: accounts, statuses and hashtags matching `request.q`, as the viewer may see."""
    query = parse(request.q)
    planned: list[tuple[Literal["accounts", "hashtags", "statuses"], SearchParams]] = []
    if "statuses" in request.types:
        statuses = await _statuses_params(res, viewer_id, query, request)
        if statuses is not None:
            planned.append(("statuses", statuses))
    # Operators are about posts: a query using them finds no accounts (nor hashtags, unless it is
    # itself made of hashtags: `#py` is how one asks for hashtag suggestions).
    if "accounts" in request.types and not query.has_filters:
        accounts = await _accounts_params(res, viewer_id, request)
        if accounts is not None:
            planned.append(("accounts", accounts))
    if "hashtags" in request.types and not query.has_post_operators and not query.not_tags:
        hashtags = _hashtags_params(res, request)
        if hashtags is not None:
            planned.append(("hashtags", hashtags))
    results = await _run(res, [params for _, params in planned])
    hits = {kind: found for (kind, _), found in zip(planned, results, strict=True)}
    # Hydration reads only (nothing of it is cached): a replica fresh enough for the viewer's own writes.
    reading = res.reading_from(await res.reader(viewer_id)) if any(hits.values()) else res
    found_statuses, found_accounts, found_hashtags = await asyncio.gather(
        _statuses(reading, viewer_id, hits.get("statuses", []), request),
        _accounts(reading, viewer_id, hits.get("accounts", [])),
        _hashtags(reading, hits.get("hashtags", [])),
    )
    return {"accounts": found_accounts, "statuses": found_statuses, "hashtags": found_hashtags}
