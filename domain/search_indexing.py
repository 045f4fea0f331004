"""Keeping the search indexes in step with PostgreSQL: the `search` queue's batches, and the full reindex.

The events say what changed; the rows say what it is now. A batch of events becomes a set of post,
account and tag keys; their documents are built from the current rows (a missing row deletes the
document), so replays and duplicates are harmless. Reading rows and sending documents happen under one
lock per index prefix (`storage.search.lock_indexing`), so Meilisearch receives versions in the order
they were read. The job completes only after Meilisearch reports the tasks succeeded.

Reindex: fresh indexes under the `_rebuild` names, filled from a scan of PostgreSQL while the worker
keeps writing to both the live and the rebuild indexes (it sees the rebuild under the same lock), then
swapped in atomically. Nothing written during the rebuild is lost (docs/search.md has the argument).

Hashtag use counts: a count reads up to TAG_USES_CAP rows, so a tag on many new posts is recounted for
new posts at most once per TAG_RECOUNT_SECONDS in a worker (`TagRecounts`), the posts in between
settled by one delayed follow-up; a post deleted or edited recounts its tags at once.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from domain.event_kinds import EventKind, decode
from domain.post_text import tags as entity_tags
from domain.search_documents import account_document, post_document, tag_document, tag_id
from domain.subscriptions import SEARCH_QUEUE
from storage import jobs as job_store
from storage import search as search_store
from storage import search_indexes as indexes
from storage.jobs import Job
from storage.resources import Resources
from storage.search_indexes import ACCOUNTS, ALL_INDEXES, HASHTAGS, POSTS, IndexSpec, index_name

log = logging.getLogger("chirp.search")

# A job of the search queue itself, not a domain event (so not an EventKind): re-render an author's posts
# (new display name) a page at a time.
AUTHOR_POSTS = "search.author_posts"
AUTHOR_PAGE = 1000
# Another: recount these hashtags' uses (the follow-up of new posts whose count was put off).
RECOUNT_TAGS = "search.recount_tags"
# A tag on new posts is counted at most this often by one worker. Its document's `uses` (which orders
# hashtag suggestions) lags by up to this long; a tag's first use is indexed at once, since this worker
# has not counted it lately. The benchmark's one tag on every post cost about 9 ms of PostgreSQL a batch.
TAG_RECOUNT_SECONDS = 10.0
# The reindex: rows per page, and Meilisearch tasks left in flight before waiting (a short task queue
# keeps the live index's own updates from waiting behind a long line of rebuild pages).
REINDEX_PAGE = 5000
REINDEX_IN_FLIGHT = 4
REINDEX_WAIT_MS = 600_000

Progress = Callable[[str, int, int], None]  # stage, done, total


@dataclass
class Changes:
    """What a batch of events asks to re-render, by key."""

    posts: set[int] = field(default_factory=set)
    edited: set[int] = field(default_factory=set)  # posts whose current tags need recounting too
    accounts: set[int] = field(default_factory=set)
    # author id → re-render their posts older than this id (None: from the newest)
    authors: dict[int, int | None] = field(default_factory=dict)
    tags: set[str] = field(default_factory=set)  # to recount now
    new_tags: set[str] = field(default_factory=set)  # on new posts: recounted now or put off (TagRecounts)


@dataclass
class TagRecounts:
    """When this worker last counted each hashtag's uses, and which tags have a recount follow-up due: what
    lets new posts' tags be put off. Lost with the process, which then counts each tag once more."""

    window: float = TAG_RECOUNT_SECONDS
    counted: dict[str, float] = field(default_factory=dict)
    follow_up_due: dict[str, float] = field(default_factory=dict)

    def put_off(self, tags: Iterable[str], now: float) -> tuple[set[str], set[str]]:
        """Of new posts' tags: those counted within the window (left out of this batch's counts), and of
        them those no follow-up is due for yet (one is to be enqueued, `window` from now)."""
        recent = {tag for tag in tags if tag in self.counted and now - self.counted[tag] < self.window}
        return recent, {tag for tag in recent if self.follow_up_due.get(tag, now) <= now}

    def record(self, counted: Iterable[str], followed_up: Iterable[str], now: float) -> None:
        """After the batch's writes landed: what it counted, and the follow-ups it enqueued."""
        for tag in counted:
            self.counted[tag] = now
        for tag in followed_up:
            self.follow_up_due[tag] = now + self.window
        if len(self.counted) > 10 * 1024:  # forget tags not counted lately
            self.counted = {t: at for t, at in self.counted.items() if now - at < self.window}
            self.follow_up_due = {t: at for t, at in self.follow_up_due.items() if at > now}


def changes_from(jobs: Iterable[Job]) -> Changes:
    """Fold a batch of events into the keys to re-render; kinds that change no document are ignored (a kind
    that is neither an EventKind nor AUTHOR_POSTS raises, in `decode`)."""
    changes = Changes()
    for job in jobs:
        if job.kind == AUTHOR_POSTS:
            _author_posts(changes, job.payload)
            continue
        if job.kind == RECOUNT_TAGS:
            changes.tags.update(job.payload["tags"])
            continue
        # Tag use counts change only when posts come, go or are edited, not on every like.
        match decode(job):
            case (EventKind.POST_CREATED, post):
                changes.posts.add(int(post["id"]))
                changes.new_tags.update(post.get("tags") or ())
            case (EventKind.POST_DELETED, post):
                changes.posts.add(int(post["id"]))
                changes.tags.update(post.get("tags") or ())
            case (EventKind.POST_EDITED, edited):
                changes.posts.add(int(edited["id"]))
                changes.tags.update(edited.get("tags") or ())
                changes.tags.update(edited.get("old_tags") or ())
                changes.edited.add(int(edited["id"]))
            case (EventKind.POST_UPDATED, updated):
                changes.posts.add(int(updated["id"]))
            case (EventKind.ACCOUNT_CREATED | EventKind.ACCOUNT_DELETED, account):
                changes.accounts.add(int(account["account_id"]))
            case (EventKind.ACCOUNT_UPDATED, account):
                account_id = int(account["account_id"])
                changes.accounts.add(account_id)
                changes.authors[account_id] = None  # posts carry the author's names
            case (EventKind.FOLLOW_CREATED | EventKind.FOLLOW_DELETED, follow):
                changes.accounts.add(int(follow["target_account_id"]))  # followers_count ranks accounts
    return changes


def _author_posts(changes: Changes, cursor: Mapping[str, Any]) -> None:
    """Fold in an AUTHOR_POSTS follow-up: re-render the author's posts older than `before_id`."""
    account_id = int(cursor["account_id"])
    before_id = int(cursor["before_id"])
    # Of several cursors for one author keep the least advanced (a restart from the newest, None, beats
    # all): walking on from there to the oldest post covers what the others would have.
    if account_id not in changes.authors:
        changes.authors[account_id] = before_id
    elif (current := changes.authors[account_id]) is not None:
        changes.authors[account_id] = max(current, before_id)


@dataclass
class Writes:
    """Documents to put and ids to delete, per index, and the follow-up jobs of this batch."""

    puts: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {s.kind: {} for s in ALL_INDEXES})
    deletes: dict[str, set[str]] = field(default_factory=lambda: {s.kind: set() for s in ALL_INDEXES})
    authors_gone: set[int] = field(default_factory=set)
    follow_ups: list[job_store.NewJob] = field(default_factory=list)

    def put(self, spec: IndexSpec, document: dict[str, Any]) -> None:
        self.puts[spec.kind][document["id"]] = document
        self.deletes[spec.kind].discard(document["id"])

    def delete(self, spec: IndexSpec, doc_id: str) -> None:
        self.puts[spec.kind].pop(doc_id, None)
        self.deletes[spec.kind].add(doc_id)

    @property
    def empty(self) -> bool:
        return not (any(self.puts.values()) or any(self.deletes.values()) or self.authors_gone)


async def _post_writes(conn: asyncpg.Connection, changes: Changes, writes: Writes) -> None:
    rows = await search_store.post_rows(conn, changes.posts)
    for post_id in changes.posts:
        row = rows.get(post_id)
        if row is None:
            writes.delete(POSTS, str(post_id))
        else:
            writes.put(POSTS, post_document(row))
            if post_id in changes.edited:
                changes.tags.update(entity_tags(row["entities"] or []))
    for author_id, before_id in changes.authors.items():
        page = await search_store.author_post_rows(conn, author_id, before_id, AUTHOR_PAGE)
        for row in page:
            writes.put(POSTS, post_document(row))
        if len(page) == AUTHOR_PAGE:
            writes.follow_ups.append(
                job_store.NewJob(SEARCH_QUEUE, AUTHOR_POSTS, {"account_id": author_id, "before_id": page[-1]["id"]})
            )


async def _account_writes(conn: asyncpg.Connection, changes: Changes, writes: Writes) -> None:
    rows = await search_store.account_rows(conn, changes.accounts)
    for account_id in changes.accounts:
        row = rows.get(account_id)
        if row is None:
            writes.delete(ACCOUNTS, str(account_id))
            writes.authors_gone.add(account_id)  # their posts went with them (ON DELETE CASCADE)
        else:
            writes.put(ACCOUNTS, account_document(row))


async def _tag_writes(conn: asyncpg.Connection, changes: Changes, writes: Writes) -> None:
    for tag, uses in (await search_store.tag_uses(conn, changes.tags)).items():
        if uses > 0:
            writes.put(HASHTAGS, tag_document(tag, uses))
        else:
            writes.delete(HASHTAGS, tag_id(tag))


async def build_writes(conn: asyncpg.Connection, changes: Changes) -> Writes:
    writes = Writes()
    await _post_writes(conn, changes, writes)
    await _account_writes(conn, changes, writes)
    await _tag_writes(conn, changes, writes)
    return writes


async def send_writes(res: Resources, writes: Writes, *, rebuild: bool) -> list[int]:
    """Enqueue the writes in Meilisearch (live or rebuild indexes); the task ids to wait for."""
    meili, settings = res.meili, res.settings
    task_ids: list[int] = []
    for spec in ALL_INDEXES:
        uid = index_name(settings, spec, rebuild=rebuild)
        task_ids += await indexes.put_documents(meili, uid, list(writes.puts[spec.kind].values()))
        task_ids += await indexes.delete_documents(meili, uid, sorted(writes.deletes[spec.kind]))
    if writes.authors_gone:
        uid = index_name(settings, POSTS, rebuild=rebuild)
        authors = ", ".join(f'"{author_id}"' for author_id in sorted(writes.authors_gone))
        task_ids += await indexes.delete_documents_where(meili, uid, f"author_id IN [{authors}]")
    return task_ids


async def rebuild_in_progress(res: Resources) -> bool:
    """A reindex is running when its posts rebuild index exists (created last and dropped first, under the lock)."""
    return await indexes.index_exists(res.meili, index_name(res.settings, POSTS, rebuild=True))


async def index_changes(res: Resources, changes: Changes, recounts: TagRecounts) -> None:
    """Re-render the changed keys into the live indexes (and the rebuild ones during a reindex). New
    posts' tags this worker counted lately (`recounts`) are put off to one delayed follow-up."""
    now = time.monotonic()
    put_off, follow_up = recounts.put_off(changes.new_tags - changes.tags, now)
    changes.tags |= changes.new_tags - put_off
    task_ids: list[int] = []
    async with res.db.acquire() as conn, conn.transaction():
        await search_store.lock_indexing(conn, res.settings.meili_index_prefix)
        writes = await build_writes(conn, changes)
        if not writes.empty:
            task_ids += await send_writes(res, writes, rebuild=False)
            if await rebuild_in_progress(res):
                task_ids += await send_writes(res, writes, rebuild=True)
        await job_store.enqueue_many(conn, writes.follow_ups)
        if follow_up:
            recount = job_store.NewJob(SEARCH_QUEUE, RECOUNT_TAGS, {"tags": sorted(follow_up)})
            await job_store.enqueue_many(conn, [recount], delay=recounts.window)
    await indexes.wait_for_tasks(res.meili, task_ids)
    recounts.record(changes.tags, follow_up, now)


async def index_jobs(res: Resources, jobs: Sequence[Job], recounts: TagRecounts) -> None:
    """The `search` queue's batch handler (`recounts`: the worker's, kept across its batches)."""
    await index_changes(res, changes_from(jobs), recounts)


# reindex --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReindexResult:
    posts: int
    accounts: int
    hashtags: int


class _Flight:
    """Meilisearch tasks sent and not yet waited for, kept to a few."""

    def __init__(self, res: Resources) -> None:
        self._res = res
        self._pending: collections.deque[int] = collections.deque()

    async def add(self, task_ids: Iterable[int]) -> None:
        self._pending.extend(task_ids)
        while len(self._pending) > REINDEX_IN_FLIGHT:
            await indexes.wait_for_tasks(self._res.meili, [self._pending.popleft()], timeout_ms=REINDEX_WAIT_MS)

    async def drain(self) -> None:
        await indexes.wait_for_tasks(self._res.meili, list(self._pending), timeout_ms=REINDEX_WAIT_MS)
        self._pending.clear()


async def _start_rebuild(res: Resources) -> None:
    """Fresh, empty rebuild indexes with current settings; the posts one last, as it marks the rebuild."""
    settings = res.settings
    async with res.db.acquire() as conn, conn.transaction():
        await search_store.lock_indexing(conn, settings.meili_index_prefix)
        for spec in ALL_INDEXES:  # leftovers of a reindex that died
            await indexes.delete_index(res.meili, index_name(settings, spec, rebuild=True))
        for spec in (ACCOUNTS, HASHTAGS, POSTS):
            await indexes.create_index(res.meili, index_name(settings, spec, rebuild=True), spec)


async def _abandon_rebuild(res: Resources) -> None:
    """Drop the rebuild indexes of a failed reindex, so the worker stops writing to them."""
    settings = res.settings
    async with res.db.acquire() as conn, conn.transaction():
        await search_store.lock_indexing(conn, settings.meili_index_prefix)
        for spec in (POSTS, ACCOUNTS, HASHTAGS):
            await indexes.delete_index(res.meili, index_name(settings, spec, rebuild=True))


async def _scan(
    res: Resources,
    spec: IndexSpec,
    read_page: Callable[[asyncpg.Connection, Any], Any],
    document: Callable[[Mapping[str, Any]], dict[str, Any]],
    next_key: Callable[[Mapping[str, Any]], Any],
    start: Any,
    progress: Progress,
    total: int,
) -> int:
    """Copy every row into the rebuild index, a page per locked transaction."""
    uid = index_name(res.settings, spec, rebuild=True)
    flight = _Flight(res)
    key, done = start, 0
    progress(spec.kind, 0, total)
    while True:
        async with res.db.acquire() as conn, conn.transaction():
            await search_store.lock_indexing(conn, res.settings.meili_index_prefix)
            rows = await read_page(conn, key)
            if not rows:
                break
            sent = await indexes.put_documents(res.meili, uid, [document(row) for row in rows])
        await flight.add(sent)
        key = next_key(rows[-1])
        done += len(rows)
        progress(spec.kind, done, max(total, done))  # rows written since the count raise the total
    await flight.drain()
    return done


async def _finish_rebuild(res: Resources) -> None:
    """Swap every rebuild index with its live one in one task, then drop the old contents."""
    settings = res.settings
    async with res.db.acquire() as conn, conn.transaction():
        await search_store.lock_indexing(conn, settings.meili_index_prefix)
        await indexes.swap_indexes(
            res.meili, [(index_name(settings, spec), index_name(settings, spec, rebuild=True)) for spec in ALL_INDEXES]
        )
        # Under the lock until gone: a worker must never write to a rebuild name that is being removed.
        for spec in ALL_INDEXES:
            await indexes.delete_index(res.meili, index_name(settings, spec, rebuild=True))


def _no_progress(_stage: str, _done: int, _total: int) -> None:
    return None


async def reindex(res: Resources, progress: Progress = _no_progress) -> ReindexResult:
    """Rebuild every search index from PostgreSQL into fresh indexes and swap them in atomically."""
    await indexes.ensure_indexes(res.meili, res.settings)
    await _start_rebuild(res)
    try:
        posts = await _scan(
            res,
            POSTS,
            lambda conn, after: search_store.post_rows_after(conn, after, REINDEX_PAGE),
            post_document,
            lambda row: row["id"],
            0,
            progress,
            await search_store.count_posts(res.db),
        )
        accounts = await _scan(
            res,
            ACCOUNTS,
            lambda conn, after: search_store.account_rows_after(conn, after, REINDEX_PAGE),
            account_document,
            lambda row: row["id"],
            0,
            progress,
            await search_store.count_accounts(res.db),
        )
        hashtags = await _scan(
            res,
            HASHTAGS,
            lambda conn, after: search_store.tag_uses_after(conn, after, REINDEX_PAGE),
            lambda row: tag_document(row["tag"], row["uses"]),
            lambda row: row["tag"],
            "",
            progress,
            await search_store.count_used_tags(res.db),
        )
        await _finish_rebuild(res)
    except BaseException:
        log.error("reindex failed; the live indexes are untouched and the worker keeps them current")
        with contextlib.suppress(Exception):
            await _abandon_rebuild(res)
        raise
    return ReindexResult(posts, accounts, hashtags)
