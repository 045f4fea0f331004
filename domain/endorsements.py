"""Endorsed accounts: accounts one follows and features on one's profile (Mastodon's account pins)."""

from __future__ import annotations

from typing import Any

from core.errors import ApiError
from core.pagination import Page
from domain.accounts import account_entity
from domain.follows import relationships
from storage import accounts as account_store
from storage import endorsements as endorsement_store
from storage import follows as follow_store
from storage.resources import Resources


async def endorse(res: Resources, account_id: int, target_id: int) -> dict[str, Any]:
    """Feature a followed account; idempotent. Returns the Relationship (`endorsed` true)."""
    if await account_store.get_account(res.db, target_id) is None:
        raise ApiError(404, "Record not found")
    if target_id not in await follow_store.follows_among(res.db, account_id, [target_id]):
        raise ApiError(422, "Validation failed: you can only endorse accounts you follow")
    await endorsement_store.insert_endorsement(res.db, res.ids.next_id(), account_id, target_id)
    return (await relationships(res, account_id, [target_id]))[0]


async def unendorse(res: Resources, account_id: int, target_id: int) -> dict[str, Any]:
    if await account_store.get_account(res.db, target_id) is None:
        raise ApiError(404, "Record not found")
    await endorsement_store.delete_endorsement(res.db, account_id, target_id)
    return (await relationships(res, account_id, [target_id]))[0]


async def endorsed_accounts(res: Resources, account_id: int, page: Page) -> tuple[list[dict[str, Any]], list[int]]:
    """The accounts an account endorses, newest first, and the page's cursors (endorsement ids)."""
    rows = await endorsement_store.endorsements_of(res.db, account_id, page)
    accounts = await account_store.get_accounts(res.db, [row["target_account_id"] for row in rows])
    entities = [
        account_entity(accounts[r["target_account_id"]], res.settings)
        for r in rows
        if r["target_account_id"] in accounts
    ]
    return entities, [row["id"] for row in rows]
