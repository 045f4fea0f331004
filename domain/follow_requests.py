"""Follow requests: a locked account's answer to those who asked to follow it. Authorizing one turns it
into a follow in the same transaction (counted, and fanned out like any follow); rejecting it deletes it.
Either way the request's `follow_request` notification goes with it, as in Mastodon."""

from __future__ import annotations

from typing import Any

import asyncpg

from core.errors import ApiError
from core.pagination import Page
from domain.accounts import account_entity
from domain.follows import relationships, start_following, withdraw_request
from storage import accounts as account_store
from storage import follow_requests as request_store
from storage.db import in_transaction
from storage.resources import Resources


async def authorize(res: Resources, account_id: int, requester_id: int) -> dict[str, Any]:
    """Let `requester_id` follow `account_id`; 404 when it did not ask. The Relationship to the requester."""
    follow_id = res.ids.next_id()

    async def write(conn: asyncpg.Connection) -> None:
        request = await withdraw_request(conn, requester_id, account_id)
        if request is None:
            raise ApiError(404, "Record not found")
        await start_following(
            conn,
            follow_id,
            requester_id,
            account_id,
            show_reposts=request["show_reposts"],
            notify=request["notify"],
        )

    await in_transaction(res.db, write)
    return (await relationships(res, account_id, [requester_id]))[0]


async def reject(res: Resources, account_id: int, requester_id: int) -> dict[str, Any]:
    """Turn `requester_id`'s request down; 404 when it did not ask. The Relationship to the requester."""

    async def write(conn: asyncpg.Connection) -> None:
        if await withdraw_request(conn, requester_id, account_id) is None:
            raise ApiError(404, "Record not found")

    await in_transaction(res.db, write)
    return (await relationships(res, account_id, [requester_id]))[0]


async def requests_page(res: Resources, account_id: int, page: Page) -> tuple[list[dict[str, Any]], list[int]]:
    """The accounts waiting for `account_id`'s answer, newest request first, and the page's cursors."""
    rows = await request_store.request_page(res.db, account_id, page)
    accounts = await account_store.get_accounts(res.db, (row["account_id"] for row in rows))
    entities = [account_entity(accounts[r["account_id"]], res.settings) for r in rows if r["account_id"] in accounts]
    return entities, [row["id"] for row in rows]


async def pending_count(res: Resources, account_id: int) -> int:
    return await request_store.pending_count(res.db, account_id)


async def authorize_all(res: Resources, account_id: int) -> int:
    """Let everyone waiting follow: an account that unlocks answers its pending requests yes, as Mastodon
    does. Each in its own transaction (a request answered meanwhile is skipped); how many were let in."""
    let_in = 0
    while True:
        rows = await request_store.request_page(res.db, account_id, Page(limit=100))
        for row in rows:
            try:
                await authorize(res, account_id, row["account_id"])
                let_in += 1
            except ApiError:
                pass  # withdrawn or answered meanwhile
        if len(rows) < 100:
            return let_in
