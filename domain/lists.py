"""Lists: named sets of followed accounts with timelines of their own, read like the home timeline.

A list timeline is fanned out on write like home (`tll:{owner}:list` in Valkey, same layout and the same
one-call read, domain/timelines.py), and rebuilt from PostgreSQL during the read that finds it missing. Lists
are few per owner and change rarely, so a change of members or rules rebuilds the list's timeline at once
rather than patching it; `exclusive` lists take their members' posts out of the owner's home timeline
(storage/timelines.py leaves them out of fan-out and rebuilds; here the cached home timeline is brought in line).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import asyncpg

from core.errors import ApiError, validation_error
from core.pagination import Page
from domain import viewer_rules
from domain.accounts import account_entity
from domain.cached_posts import VALKEY_DOWN, cached_post_json
from domain.timelines import apply_follows, read_timeline_page
from domain.visibility import droppable_entries
from storage import accounts as account_store
from storage import follows as follow_store
from storage import lists as list_store
from storage import timeline_cache
from storage.db import in_transaction
from storage.home_page import HomePage
from storage.lists import ListRow, list_key
from storage.resources import Resources
from storage.timeline_cache import Delivery, Entry, home_key

TITLE_MAX = 100
MEMBERS_PER_CALL = 250  # account_ids[] per add or remove


def list_entity(row: ListRow) -> dict[str, Any]:
    return {"id": str(row.id), "title": row.title, "replies_policy": row.replies_policy, "exclusive": row.exclusive}


def _title(title: str | None, *, required: bool) -> str | None:
    if title is None:
        if required:
            raise validation_error("title", "can't be blank")
        return None
    title = title.strip()
    if not title:
        raise validation_error("title", "can't be blank")
    if len(title) > TITLE_MAX:
        raise validation_error("title", f"is too long (at most {TITLE_MAX} characters)")
    return title


def _policy(policy: str | None) -> str | None:
    if policy is not None and policy not in list_store.POLICIES:
        raise validation_error("replies_policy", f"is not one of {', '.join(list_store.POLICIES)}")
    return policy


async def owned_list(res: Resources, owner_id: int, list_id: int) -> ListRow:
    row = await list_store.get_list(res.db, list_id, owner_id)
    if row is None:
        raise ApiError(404, "Record not found")
    return row


async def create_list(res: Resources, owner_id: int, title: str | None, policy: str | None, exclusive: bool) -> ListRow:
    checked = _title(title, required=True)
    assert checked is not None
    return await list_store.insert_list(
        res.db, res.ids.next_id(), owner_id, checked, _policy(policy) or "list", exclusive
    )


async def update_list(
    res: Resources, owner_id: int, list_id: int, title: str | None, policy: str | None, exclusive: bool | None
) -> ListRow:
    before = await owned_list(res, owner_id, list_id)
    row = await list_store.update_list(
        res.db, list_id, owner_id, _title(title, required=False), _policy(policy), exclusive
    )
    if row is None:
        raise ApiError(404, "Record not found")
    members = await _member_ids(res, row.id)
    if row.replies_policy != before.replies_policy:
        await rebuild_list(res, row, fresh=True)
    if row.exclusive and not before.exclusive:
        await _leave_home(res, owner_id, members)
    elif before.exclusive and not row.exclusive:
        await apply_follows(res, [(owner_id, m) for m in members])
    return row


async def delete_list(res: Resources, owner_id: int, list_id: int) -> None:
    """Delete the list and its cached timeline: dropped before the row (a Valkey outage refuses the delete,
    so no timeline outlives its list: a cached one is read without looking the list up) and again after (a
    read rebuilding it meanwhile)."""
    await owned_list(res, owner_id, list_id)
    members = await _member_ids(res, list_id)
    key = list_key(owner_id, list_id)
    try:
        await res.redis.delete(key)
    except VALKEY_DOWN:
        raise ApiError(503, "Lists cannot be deleted for a moment", headers={"Retry-After": "5"}) from None
    row = await list_store.delete_list(res.db, list_id, owner_id)
    if row is None:
        raise ApiError(404, "Record not found")
    with contextlib.suppress(*VALKEY_DOWN):
        await res.redis.delete(key)
    if row.exclusive:
        await apply_follows(res, [(owner_id, m) for m in members])


async def _member_ids(res: Resources, list_id: int) -> list[int]:
    rows = await list_store.members_page(res.db, list_id, Page(limit=1_000_000))
    return [row["account_id"] for row in rows]


def _account_ids(account_ids: Sequence[int]) -> list[int]:
    if not account_ids:
        raise validation_error("account_ids", "can't be blank")
    if len(account_ids) > MEMBERS_PER_CALL:
        raise validation_error("account_ids", f"are too many (at most {MEMBERS_PER_CALL})")
    return list(dict.fromkeys(account_ids))


async def add_members(res: Resources, owner_id: int, list_id: int, account_ids: Sequence[int]) -> None:
    """Add followed accounts to the list (422 naming any the owner does not follow); idempotent."""
    row = await owned_list(res, owner_id, list_id)
    wanted = _account_ids(account_ids)
    known = await account_store.get_accounts(res.db, wanted)
    if len(known) < len(wanted):
        raise ApiError(404, "Record not found")
    followed = await follow_store.follows_among(res.db, owner_id, wanted)
    strangers = [a for a in wanted if a not in followed]
    if strangers:
        raise ApiError(422, f"Validation failed: you can only add accounts you follow (not {strangers[0]})")

    async def write(conn: asyncpg.Connection) -> list[int]:
        return await list_store.add_members(conn, row, wanted, [res.ids.next_id() for _ in wanted])

    added = await in_transaction(res.db, write)
    if added:
        await rebuild_list(res, row, fresh=True)
        if row.exclusive:
            await _leave_home(res, owner_id, added)


async def remove_members(res: Resources, owner_id: int, list_id: int, account_ids: Sequence[int]) -> None:
    row = await owned_list(res, owner_id, list_id)
    removed = await list_store.remove_members(res.db, row.id, _account_ids(account_ids))
    await left_list(res, owner_id, [row.id], removed, exclusive=row.exclusive)


async def left_list(
    res: Resources, owner_id: int, list_ids: Sequence[int], member_ids: Sequence[int], *, exclusive: bool = True
) -> None:
    """After members left lists (removed, or unfollowed): their entries leave the lists' cached timelines,
    and their posts come back to the owner's home timeline (unless another exclusive list still holds them)."""
    for list_id in list_ids:
        for member in member_ids:
            await timeline_cache.unmerge(res.redis, list_key(owner_id, list_id), member)
    if exclusive and member_ids:
        await apply_follows(res, [(owner_id, m) for m in member_ids])


async def _leave_home(res: Resources, owner_id: int, member_ids: Sequence[int]) -> None:
    """Members of an exclusive list: their posts leave the owner's cached home timeline."""
    for member in member_ids:
        await timeline_cache.unmerge(res.redis, home_key(owner_id), member)


async def list_members(
    res: Resources, owner_id: int, list_id: int, page: Page
) -> tuple[list[dict[str, Any]], list[int]]:
    row = await owned_list(res, owner_id, list_id)
    rows = await list_store.members_page(res.db, row.id, page)
    accounts = await account_store.get_accounts(res.db, [r["account_id"] for r in rows])
    entities = [account_entity(accounts[r["account_id"]], res.settings) for r in rows if r["account_id"] in accounts]
    return entities, [r["id"] for r in rows]


async def lists_of(res: Resources, owner_id: int, member_id: int | None = None) -> list[dict[str, Any]]:
    if member_id is not None and await account_store.get_account(res.db, member_id) is None:
        raise ApiError(404, "Record not found")
    return [list_entity(row) for row in await list_store.lists_of(res.db, owner_id, member_id)]


# the list timeline ------------------------------------------------------------------------------------


def _ttl(res: Resources) -> int:
    return res.settings.timeline_ttl_days * 86_400


async def rebuild_list(res: Resources, row: ListRow, *, fresh: bool = False) -> list[Entry]:
    """Build a list timeline from PostgreSQL (newest first); `fresh` drops a cached one first (its members
    or rules changed). Posts fanned out while the query runs are kept."""
    key = list_key(row.account_id, row.id)
    if fresh:
        await res.redis.delete(key)
    if await timeline_cache.begin_build(res.redis, key):
        return []
    rows = await list_store.list_rows(res.db, row, res.settings.timeline_size)
    entries = [Entry(r.id, r.account_id, r.reblog_of_id) for r in rows]
    await timeline_cache.finish_build(res.redis, key, entries[::-1], [], cap=res.settings.timeline_size, ttl=_ttl(res))
    return entries


async def _page(res: Resources, row: ListRow, page: Page, *, hydrate: bool) -> HomePage:
    key = list_key(row.account_id, row.id)
    found = await read_timeline_page(res, row.account_id, page, hydrate=hydrate, key=key)
    if found is None:
        built = await rebuild_list(res, row)
        found = await read_timeline_page(res, row.account_id, page, hydrate=hydrate, key=key)
        if found is None:  # evicted again at once: answer from what was just built
            in_page = [e for e in built if page.contains(e.post_id)]
            found = HomePage(in_page[-page.limit :][::-1] if page.ascending else in_page[: page.limit], False, None)
    return HomePage(page.arrange(found.entries), found.short, found.hydrated)


async def _warm_page(res: Resources, owner_id: int, list_id: int, page: Page) -> HomePage:
    """The page, looking the list up in PostgreSQL only when its timeline is not cached. The key is the
    owner's own (`tll:{owner}:list`, written only after the list was found to be theirs, dropped when it is
    deleted), so a cached timeline under it is this owner's list: a warm read is one Valkey call and one
    PostgreSQL query, as home (bench/list_read.py: the look-up cost a tenth of the throughput)."""
    found = await read_timeline_page(res, owner_id, page, hydrate=True, key=list_key(owner_id, list_id))
    if found is None:
        return await _page(res, await owned_list(res, owner_id, list_id), page, hydrate=True)
    return HomePage(page.arrange(found.entries), found.short, found.hydrated)


async def list_timeline(res: Resources, owner_id: int, list_id: int, page: Page) -> tuple[list[bytes], list[int]]:
    """One page of a list timeline as Status JSON, and its cursors (post ids, newest first): one Valkey call
    and one PostgreSQL query when warm, as home. 503 while Valkey is unreachable."""
    try:
        found = await _warm_page(res, owner_id, list_id, page)
    except VALKEY_DOWN:
        raise ApiError(503, "List timelines are unavailable for a moment", headers={"Retry-After": "5"}) from None
    entries = found.entries
    shown = await cached_post_json(res, [e.post_id for e in entries], owner_id, hydrated=found.hydrated, context="home")
    # Gone or no longer visible: out of the page and the timeline (kept, as home, while a rule that ends by
    # itself, a timed mute or a filter, may be what hides them).
    if len(shown) < len(entries) and not await viewer_rules.has_passing_rules(res, owner_id):
        kept = {post_id for post_id, _ in shown}
        dropped = await droppable_entries(res, [e.post_id for e in entries if e.post_id not in kept])
        stale = [Delivery(e, list_key(owner_id, list_id)) for e in entries if e.post_id in dropped]
        with contextlib.suppress(*VALKEY_DOWN):
            await timeline_cache.remove(res.redis, stale)
    return [entity for _, entity in shown], [e.post_id for e in entries]


async def warm_list(res: Resources, owner_id: int, list_id: int) -> None:
    """Make sure a list timeline is cached: the fan-out (and so the `list` stream) writes only cached ones."""
    await _page(res, await owned_list(res, owner_id, list_id), Page(limit=1), hydrate=False)
