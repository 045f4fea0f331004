"""The Meilisearch indexes: their names, their settings, and the calls that write to them.

Three indexes per prefix (`CHIRP_MEILI_INDEX_PREFIX`): posts, accounts, hashtags. `ensure_indexes` creates
the missing ones and applies the settings below only where they differ from what the server has, so it
is safe (and cheap) on every start. `chirp search reindex` builds fresh copies under the `_rebuild`
names and swaps them in (docs/search.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from httpx2 import HTTPError, HTTPStatusError
from meilisearch_python_sdk import AsyncClient
from meilisearch_python_sdk.errors import (
    MeilisearchApiError,
    MeilisearchCommunicationError,
    MeilisearchError,
    MeilisearchTaskFailedError,
    MeilisearchTimeoutError,
)
from meilisearch_python_sdk.models.settings import MeilisearchSettings

from config import Settings

REBUILD_SUFFIX = "_rebuild"
# Settings on a large index reindex every document: waiting that out is part of applying them.
SETTINGS_WAIT_MS = 600_000
WRITE_WAIT_MS = 60_000

# Typo tolerance for short posts: one typo from four letters ("catz" finds "cats"), two from eight;
# none in numbers (a year or a count typed is meant as typed).
_POST_TYPOS = {"enabled": True, "minWordSizeForTypos": {"oneTypo": 4, "twoTypos": 8}, "disableOnNumbers": True}

POSTS_SETTINGS: dict[str, Any] = {
    # Most to least telling: the words of the post, its content warning, then who wrote it.
    "searchableAttributes": ["text", "spoiler_text", "display_name", "username"],
    "filterableAttributes": [
        "author_id",
        "hashtags",
        "has_media",
        "created_at",
        "language",
        "visibility",
        "mention_ids",
        "is_reply",
        "is_repost",
        "id_ms",
    ],
    "sortableAttributes": ["created_at"],
    # `sort` after words and typo: "recent" orders the posts that match every word without a typo
    # newest first, then those matching with typos; "relevant" (no sort) falls through to proximity,
    # attribute, exactness, then popularity (a log2 bucket of engagement) and recency as tie-breakers.
    "rankingRules": [
        "words",
        "typo",
        "sort",
        "proximity",
        "attribute",
        "exactness",
        "popularity:desc",
        "created_at:desc",
    ],
    "typoTolerance": _POST_TYPOS,
    "facetSearch": False,  # no facet search is offered: skip building its structures
    # Whole words only (as Twitter's search): prefix databases cost every indexing batch time that grows
    # with the index (measured: 520 ms -> 210 ms per small batch at 200,000 posts), and posts are not
    # searched as-you-type. Accounts and hashtags keep prefix search for suggestions.
    "prefixSearch": "disabled",
}

ACCOUNTS_SETTINGS: dict[str, Any] = {
    "searchableAttributes": ["username", "display_name", "note"],
    "filterableAttributes": ["id", "username_key", "discoverable"],
    "sortableAttributes": [],
    # Well-followed accounts first among equally good matches.
    "rankingRules": ["words", "typo", "proximity", "attribute", "exactness", "followers_count:desc"],
    "typoTolerance": {"enabled": True, "minWordSizeForTypos": {"oneTypo": 4, "twoTypos": 8}},
    "facetSearch": False,
}

HASHTAGS_SETTINGS: dict[str, Any] = {
    "searchableAttributes": ["name"],
    "filterableAttributes": [],
    "sortableAttributes": [],
    # The prefix typed matches the start of the tag (Meilisearch's prefix search on the last word);
    # among matches the most used come first.
    "rankingRules": ["words", "typo", "exactness", "uses:desc"],
    "typoTolerance": {"enabled": True, "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9}},
    "facetSearch": False,
}


@dataclass(frozen=True)
class IndexSpec:
    kind: str  # "posts" | "accounts" | "hashtags"
    settings: Mapping[str, Any]


POSTS = IndexSpec("posts", POSTS_SETTINGS)
ACCOUNTS = IndexSpec("accounts", ACCOUNTS_SETTINGS)
HASHTAGS = IndexSpec("hashtags", HASHTAGS_SETTINGS)
ALL_INDEXES = (POSTS, ACCOUNTS, HASHTAGS)


def index_name(settings: Settings, spec: IndexSpec, *, rebuild: bool = False) -> str:
    return f"{settings.meili_index_prefix}_{spec.kind}{REBUILD_SUFFIX if rebuild else ''}"


def posts_index(settings: Settings) -> str:
    return index_name(settings, POSTS)


def accounts_index(settings: Settings) -> str:
    return index_name(settings, ACCOUNTS)


def hashtags_index(settings: Settings) -> str:
    return index_name(settings, HASHTAGS)


# settings -------------------------------------------------------------------------------------------


def _covers(current: Any, wanted: Any) -> bool:
    """Whether the server's `current` value already says everything `wanted` says (extra keys aside)."""
    if isinstance(wanted, Mapping):
        return isinstance(current, Mapping) and all(_covers(current.get(k), v) for k, v in wanted.items())
    return bool(current == wanted)


def settings_to_change(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The settings whose server value differs from the wanted one (filterable and sortable as sets)."""
    changes: dict[str, Any] = {}
    for key, value in wanted.items():
        have = current.get(key)
        if key in ("filterableAttributes", "sortableAttributes"):
            same = isinstance(have, list) and sorted(map(str, have)) == sorted(map(str, value))
        else:
            same = _covers(have, value)
        if not same:
            changes[key] = value
    return changes


async def apply_settings(meili: AsyncClient, uid: str, spec: IndexSpec) -> bool:
    """Bring an index's settings to `spec`'s, touching only what differs; True when something changed."""
    index = meili.index(uid)
    current = (await index.get_settings()).model_dump(by_alias=True, mode="json")
    changes = settings_to_change(current, spec.settings)
    if not changes:
        return False
    task = await index.update_settings(MeilisearchSettings.model_validate(changes))
    await meili.wait_for_task(task.task_uid, timeout_in_ms=SETTINGS_WAIT_MS, raise_for_status=True)
    return True


async def index_exists(meili: AsyncClient, uid: str) -> bool:
    try:
        await meili.get_index(uid)
    except MeilisearchApiError as exc:
        if exc.code != "index_not_found":
            raise
        return False
    return True


async def create_index(meili: AsyncClient, uid: str, spec: IndexSpec) -> None:
    await meili.create_index(uid, primary_key="id", wait=True)
    await apply_settings(meili, uid, spec)


async def ensure_indexes(meili: AsyncClient, settings: Settings) -> list[str]:
    """Create the indexes that do not exist yet and apply settings that differ; returns the names created."""
    created: list[str] = []
    for spec in ALL_INDEXES:
        uid = index_name(settings, spec)
        if not await index_exists(meili, uid):
            await meili.create_index(uid, primary_key="id", wait=True)
            created.append(uid)
        await apply_settings(meili, uid, spec)
    return created


async def delete_index(meili: AsyncClient, uid: str) -> None:
    task = await meili.index(uid).delete()
    result = await meili.wait_for_task(task.task_uid, timeout_in_ms=WRITE_WAIT_MS)
    if result.status == "failed" and (result.error or {}).get("code") != "index_not_found":
        raise MeilisearchTaskFailedError(f"deleting index {uid} failed: {result.error}")


async def swap_indexes(meili: AsyncClient, pairs: Sequence[tuple[str, str]]) -> None:
    """Swap each pair's contents in one atomic task: searches see all old or all new indexes."""
    task = await meili.swap_indexes(list(pairs))
    await meili.wait_for_task(task.task_uid, timeout_in_ms=WRITE_WAIT_MS, raise_for_status=True)


# documents ------------------------------------------------------------------------------------------


async def put_documents(meili: AsyncClient, uid: str, documents: Sequence[dict[str, Any]]) -> list[int]:
    """Add or replace whole documents (idempotent); the task ids to wait for."""
    if not documents:
        return []
    task = await meili.index(uid).add_documents(list(documents), primary_key="id")
    return [task.task_uid]


async def delete_documents(meili: AsyncClient, uid: str, ids: Sequence[str]) -> list[int]:
    if not ids:
        return []
    task = await meili.index(uid).delete_documents(list(ids))
    return [task.task_uid]


async def wait_for_tasks(meili: AsyncClient, task_ids: Sequence[int], *, timeout_ms: int = WRITE_WAIT_MS) -> None:
    """Wait until Meilisearch has processed the tasks; a failed task raises, so the job is retried."""
    deadline = time.monotonic() + timeout_ms / 1000
    for task_id in task_ids:
        # Polled with a growing pause (10 ms, doubling to 100 ms): a fixed 10 ms poll cost the worker and
        # Meilisearch an HTTP request each per 10 ms per batch in flight, more than indexing a small batch.
        pause = 0.01
        while (result := await meili.get_task(task_id)).status in ("enqueued", "processing"):
            if time.monotonic() >= deadline:
                raise MeilisearchTimeoutError(f"task {task_id} still {result.status} after {timeout_ms} ms")
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.1)
        if result.status != "succeeded":  # failed or canceled: say why, for the job's last_error
            error = (result.error or {}).get("message", "no reason given")
            raise MeilisearchTaskFailedError(f"task {task_id} ({result.task_type}) {result.status}: {error}")


async def delete_documents_where(meili: AsyncClient, uid: str, filter_expression: str) -> list[int]:
    task = await meili.index(uid).delete_documents_by_filter(filter_expression)
    return [task.task_uid]


def meili_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means Meilisearch is away or overwhelmed (retry later), not that a request was wrong."""
    if isinstance(exc, MeilisearchCommunicationError | MeilisearchTimeoutError | TimeoutError | OSError | HTTPError):
        return not isinstance(exc, HTTPStatusError) or exc.response.status_code >= 500
    if isinstance(exc, MeilisearchApiError):
        return exc.status_code >= 500
    # The SDK wraps a transport failure with no response (a read timeout) in the bare base class.
    return type(exc) is MeilisearchError
