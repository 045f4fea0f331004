"""Keyword filters (Mastodon's v2 Filter, and the v1 filters mapped onto it): keywords (whole words or
not) and posts, in contexts (home, notifications, public, thread, account), with an action: `warn` and
`blur` put a FilterResult in the post's `filtered`, `hide` leaves the post out (and out of every stream).

Matching is here (`CompiledFilter`); where it applies is decided with the other rules in
domain/visibility.py. The subject of a match is what a reader sees: the content warning and the content
as text, case-folded (`subject_text`), the same whether the post comes from the post cache or from PostgreSQL.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, overload

import asyncpg
import orjson

from core.errors import ApiError, validation_error
from storage import filters as filter_store
from storage.db import in_transaction
from storage.resources import Resources

CONTEXTS = ("home", "notifications", "public", "thread", "account")
ACTIONS = ("warn", "hide", "blur")
MAX_KEYWORDS = 100
KEYWORD_MAX = 200  # characters, for keywords and v1 phrases (also the bound of those parameters in handlers/filters.py)
MAX_EXPIRES_IN = 10 * 365 * 86_400
_TAG = re.compile(r"<[^>]+>")
_WORD_START = re.compile(r"^\w")
_WORD_END = re.compile(r"\w$")


def subject_text(spoiler_text: str, content_html: str) -> str:
    """The words a filter is matched against: the content warning and the content, as text, case-folded.
    Keywords are matched without regard to case by folding both sides (Unicode full case folding, as
    `str.casefold`), so that "no folded keyword occurs in the folded text" is a quick, exact "no match"."""
    return f"{spoiler_text}\n{html.unescape(_TAG.sub(' ', content_html))}".casefold()


@functools.lru_cache(maxsize=4096)
def keyword_pattern(keyword: str, whole_word: bool) -> re.Pattern[str]:
    """Mastodon's CustomFilterKeyword#to_regex, over folded text (`subject_text`): the folded keyword, with
    word boundaries only where it has a word character."""
    folded = keyword.casefold()
    escaped = re.escape(folded)
    if not whole_word:
        return re.compile(escaped)
    start = r"\b" if _WORD_START.search(folded) else ""
    end = r"\b" if _WORD_END.search(folded) else ""
    return re.compile(f"{start}{escaped}{end}")


@dataclass(frozen=True)
class CompiledFilter:
    entity: dict[str, Any]  # the Filter entity, as FilterResult carries it
    action: str
    context: frozenset[str]
    keywords: tuple[tuple[str, re.Pattern[str]], ...]
    post_ids: frozenset[int]
    status_ids: Mapping[int, str]  # post id -> FilterStatus id
    ends_at: float | None = None  # when it expires (epoch seconds), None for never

    def result(self, post_id: int, text: str) -> dict[str, Any] | None:
        """The FilterResult for a post (`text`: its `subject_text`), or None when nothing matches."""
        words = [keyword for keyword, pattern in self.keywords if pattern.search(text)]
        statuses = [str(post_id)] if post_id in self.post_ids else []
        if not words and not statuses:
            return None
        return {"filter": self.entity, "keyword_matches": words or None, "status_matches": statuses or None}


def filter_entity(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "title": row["title"],
        "context": list(row["context"]),
        "expires_at": _iso(row["expires_at"]),
        "filter_action": row["action"],
        "keywords": list(row["keywords"]),
        "statuses": list(row["statuses"]),
    }


def _iso(value: str | None) -> str | None:
    """PostgreSQL's JSON timestamp as Mastodon writes times (UTC, milliseconds, Z)."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@functools.lru_cache(maxsize=1024)
def compile_filters(filters_json: str) -> tuple[CompiledFilter, ...]:
    """The viewer's filters, compiled once per process for the same JSON (they rarely change)."""
    out = []
    for row in orjson.loads(filters_json):
        entity = filter_entity(row)
        out.append(
            CompiledFilter(
                entity,
                row["action"],
                frozenset(row["context"]),
                tuple((k["keyword"], keyword_pattern(k["keyword"], k["whole_word"])) for k in row["keywords"]),
                frozenset(int(s["status_id"]) for s in row["statuses"]),
                {int(s["status_id"]): s["id"] for s in row["statuses"]},
                None if row.get("ends_at") is None else float(row["ends_at"]),
            )
        )
    return tuple(out)


# writing -------------------------------------------------------------------------------------------------


def expiry(expires_in: int | None) -> datetime | None:
    if expires_in is None or expires_in == 0:
        return None
    if expires_in < 0 or expires_in > MAX_EXPIRES_IN:
        raise validation_error("expires_in", f"must be between 1 and {MAX_EXPIRES_IN} seconds")
    return datetime.now(UTC) + timedelta(seconds=expires_in)


def check_context(context: Sequence[str], *, required: bool) -> list[str]:
    unknown = [c for c in context if c not in CONTEXTS]
    if unknown:
        raise validation_error("context", f"has an unknown value: {unknown[0]} (one of {', '.join(CONTEXTS)})")
    if required and not context:
        raise validation_error("context", "can't be blank")
    return list(dict.fromkeys(context))


@overload
def check_keyword(keyword: str | None, *, required: Literal[True]) -> str: ...


@overload
def check_keyword(keyword: str | None, *, required: Literal[False]) -> str | None: ...


def check_keyword(keyword: str | None, *, required: bool) -> str | None:
    """A filter keyword as given (None: left as it is), or a 422: blank, or over KEYWORD_MAX. Every way of
    writing a keyword goes through here: a filter's keywords_attributes and the one-keyword endpoints."""
    if keyword is None and not required:
        return None
    if keyword is None or not keyword.strip():
        raise validation_error("keyword", "can't be blank")
    if len(keyword) > KEYWORD_MAX:
        raise validation_error("keyword", f"is too long (maximum is {KEYWORD_MAX} characters)")
    return keyword


@dataclass(frozen=True)
class KeywordChange:
    keyword: str | None
    whole_word: bool | None
    id: int | None = None
    destroy: bool = False


@dataclass(frozen=True)
class FilterDraft:
    title: str | None
    context: list[str] | None
    action: str | None
    expires_in: int | None
    change_expiry: bool
    keywords: list[KeywordChange]


async def get_filter(res: Resources, account_id: int, filter_id: int) -> dict[str, Any]:
    found = orjson.loads(await filter_store.filters_json(res.db, account_id, filter_id))
    if not found:
        raise ApiError(404, "Record not found")
    return filter_entity(found[0])


async def list_filters(res: Resources, account_id: int) -> list[dict[str, Any]]:
    return [filter_entity(row) for row in orjson.loads(await filter_store.filters_json(res.db, account_id))]


async def _apply_keywords(
    res: Resources, conn: asyncpg.Connection, account_id: int, filter_id: int, changes: Sequence[KeywordChange]
) -> None:
    for change in changes:
        if change.id is None:
            keyword = check_keyword(change.keyword, required=True)
            whole_word = True if change.whole_word is None else change.whole_word
            await filter_store.insert_keyword(conn, res.ids.next_id(), filter_id, keyword, whole_word)
        elif change.destroy:
            await filter_store.delete_keyword(conn, change.id, account_id)
        else:
            changed = check_keyword(change.keyword, required=False)
            if not await filter_store.update_keyword(conn, change.id, account_id, changed, change.whole_word):
                raise ApiError(404, "Record not found")


async def create_filter(res: Resources, account_id: int, draft: FilterDraft) -> dict[str, Any]:
    if not draft.title:
        raise validation_error("title", "can't be blank")
    if len(draft.keywords) > MAX_KEYWORDS:
        raise validation_error("keywords_attributes", f"has too many items (maximum is {MAX_KEYWORDS})")
    context = check_context(draft.context or [], required=True)
    filter_id = res.ids.next_id()

    async def write(conn: asyncpg.Connection) -> None:
        await filter_store.insert_filter(
            conn,
            filter_id,
            account_id,
            title=draft.title or "",
            context=context,
            action=draft.action or "warn",
            expires_at=expiry(draft.expires_in),
        )
        await _apply_keywords(res, conn, account_id, filter_id, draft.keywords)

    await in_transaction(res.db, write)
    return await get_filter(res, account_id, filter_id)


async def update_filter(res: Resources, account_id: int, filter_id: int, draft: FilterDraft) -> dict[str, Any]:
    context = check_context(draft.context, required=True) if draft.context is not None else None
    if draft.title is not None and not draft.title:
        raise validation_error("title", "can't be blank")

    async def write(conn: asyncpg.Connection) -> None:
        changed = await filter_store.update_filter(
            conn,
            filter_id,
            account_id,
            title=draft.title,
            context=context,
            action=draft.action,
            expires_at=expiry(draft.expires_in),
            change_expiry=draft.change_expiry,
        )
        if not changed:
            raise ApiError(404, "Record not found")
        await _apply_keywords(res, conn, account_id, filter_id, draft.keywords)

    await in_transaction(res.db, write)
    return await get_filter(res, account_id, filter_id)


async def delete_filter(res: Resources, account_id: int, filter_id: int) -> None:
    if not await filter_store.delete_filter(res.db, filter_id, account_id):
        raise ApiError(404, "Record not found")


async def add_keyword(
    res: Resources, account_id: int, filter_id: int, keyword: str, whole_word: bool
) -> dict[str, Any]:
    if not await filter_store.owns_filter(res.db, filter_id, account_id):
        raise ApiError(404, "Record not found")
    keyword = check_keyword(keyword, required=True)
    keyword_id = res.ids.next_id()
    await filter_store.insert_keyword(res.db, keyword_id, filter_id, keyword, whole_word)
    return {"id": str(keyword_id), "keyword": keyword, "whole_word": whole_word}


async def get_keyword(res: Resources, account_id: int, keyword_id: int) -> dict[str, Any]:
    """A FilterKeyword of the account's; 404 for none and for another's alike."""
    row = await filter_store.keyword_of(res.db, keyword_id, account_id)
    if row is None:
        raise ApiError(404, "Record not found")
    return {"id": str(row["id"]), "keyword": row["keyword"], "whole_word": row["whole_word"]}


async def update_keyword(
    res: Resources, account_id: int, keyword_id: int, keyword: str | None, whole_word: bool | None
) -> dict[str, Any]:
    """Change one keyword (what is not given stays); the filter's owner's rules move with it (the
    safety stamp's trigger), so every process matches the new keyword from its next read."""
    keyword = check_keyword(keyword, required=False)
    if not await filter_store.update_keyword(res.db, keyword_id, account_id, keyword, whole_word):
        raise ApiError(404, "Record not found")
    return await get_keyword(res, account_id, keyword_id)


async def get_status(res: Resources, account_id: int, status_filter_id: int) -> dict[str, Any]:
    """A FilterStatus of the account's; 404 for none and for another's alike."""
    row = await filter_store.status_of(res.db, status_filter_id, account_id)
    if row is None:
        raise ApiError(404, "Record not found")
    return {"id": str(row["id"]), "status_id": str(row["post_id"])}


async def add_status(res: Resources, account_id: int, filter_id: int, post_id: int) -> dict[str, Any]:
    if not await filter_store.owns_filter(res.db, filter_id, account_id):
        raise ApiError(404, "Record not found")
    status_filter_id = res.ids.next_id()
    await filter_store.insert_status(res.db, status_filter_id, filter_id, post_id)
    return {"id": str(status_filter_id), "status_id": str(post_id)}


# v1 filters: one v2 filter with one keyword each, identified by the keyword's id, as Mastodon maps them ------


def v1_entities(filters: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "id": keyword["id"],
            "phrase": keyword["keyword"],
            "context": f["context"],
            "whole_word": keyword["whole_word"],
            "expires_at": f["expires_at"],
            "irreversible": f["filter_action"] == "hide",
        }
        for f in filters
        for keyword in f["keywords"]
    ]


async def v1_filter(res: Resources, account_id: int, keyword_id: int) -> dict[str, Any]:
    filter_id = await filter_store.keyword_filter_id(res.db, keyword_id, account_id)
    if filter_id is None:
        raise ApiError(404, "Record not found")
    found = [e for e in v1_entities([await get_filter(res, account_id, filter_id)]) if e["id"] == str(keyword_id)]
    return found[0]


async def create_v1(
    res: Resources,
    account_id: int,
    *,
    phrase: str,
    context: list[str],
    whole_word: bool,
    irreversible: bool,
    expires_in: int | None,
) -> dict[str, Any]:
    draft = FilterDraft(
        phrase, context, "hide" if irreversible else "warn", expires_in, True, [KeywordChange(phrase, whole_word)]
    )
    created = await create_filter(res, account_id, draft)
    return v1_entities([created])[0]


async def update_v1(
    res: Resources,
    account_id: int,
    keyword_id: int,
    *,
    phrase: str | None,
    context: list[str] | None,
    whole_word: bool | None,
    irreversible: bool | None,
    expires_in: int | None,
    change_expiry: bool,
) -> dict[str, Any]:
    filter_id = await filter_store.keyword_filter_id(res.db, keyword_id, account_id)
    if filter_id is None:
        raise ApiError(404, "Record not found")
    action = None if irreversible is None else ("hide" if irreversible else "warn")
    change = KeywordChange(phrase, whole_word, keyword_id)
    await update_filter(
        res, account_id, filter_id, FilterDraft(phrase, context, action, expires_in, change_expiry, [change])
    )
    return await v1_filter(res, account_id, keyword_id)


async def delete_v1(res: Resources, account_id: int, keyword_id: int) -> None:
    """Deleting a v1 filter deletes its v2 filter when that was its only keyword, as Mastodon does."""
    filter_id = await filter_store.keyword_filter_id(res.db, keyword_id, account_id)
    if filter_id is None:
        raise ApiError(404, "Record not found")
    entity = await get_filter(res, account_id, filter_id)
    if len(entity["keywords"]) <= 1:
        await filter_store.delete_filter(res.db, filter_id, account_id)
    else:
        await filter_store.delete_keyword(res.db, keyword_id, account_id)
