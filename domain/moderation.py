"""Moderation (issue 22): who may moderate, what moderators do to accounts and reports, and the effects.

- Staff are accounts whose role is `admin` or `moderator` (the instance's first account is its admin;
  `chirp admin grant USER` names others). Only staff reach the admin API (403 otherwise).
- An action on an account (Mastodon's Admin::AccountAction): `none` (a warning only), `sensitive`,
  `disable`, `silence`, `suspend`. Each leaves an `account_warnings` row and, unless asked not to, a
  `moderation_warning` notification to the account; with `report_id` that report is resolved, and any
  action but `none` resolves every open report about the account, as in Mastodon. Undone by `unsensitive`,
  `enable`, `unsilence`, `unsuspend`.
- Effects: what a state means for readers lives in domain.visibility (`shown_account`, `listed_on_public`)
  and storage (`tokens.find_token` refuses the tokens of suspended and disabled accounts,
  `accounts.find_login` bars their sign-in, `accounts.listed_author` keeps silenced posts off public
  timelines). After the commit this module makes the change felt at once: the account's cached Account
  entity is dropped from the post cache (so cached timelines render it afresh, or not at all), and a
  suspended or disabled account's tokens are dropped from every API process's token cache. Nothing is
  deleted, so unsuspending brings everything back as it was.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import asyncpg
import orjson

from core.errors import ApiError
from core.pagination import Page
from core.times import iso
from domain import oauth
from domain.accounts import account_entity, role_entity
from domain.cached_posts import VALKEY_DOWN, forget_marks
from domain.event_kinds import EventKind
from domain.events import record_event
from domain.notifications import push
from storage import accounts as account_store
from storage import moderation as moderation_store
from storage import post_cache
from storage import tokens as token_store
from storage.db import in_transaction
from storage.moderation import AccountQuery, ReportQuery
from storage.resources import Resources

log = logging.getLogger("chirp.moderation")

STAFF: Final = frozenset({"admin", "moderator"})
ACTIONS: Final = ("none", "sensitive", "disable", "silence", "suspend")
# The states an action enters, and the routes that leave them.
LIFTS: Final = {"unsuspend": "suspend", "unsilence": "silence", "enable": "disable", "unsensitive": "sensitive"}
BARRING: Final = frozenset({"suspend", "disable"})  # states in which the account cannot sign in
ACCOUNT_STATUSES: Final = ("active", "pending", "disabled", "silenced", "suspended")
MAX_WARNING = 5_000

_NOT_ALLOWED = "This action is not allowed"
_NOT_FOUND = "Record not found"


async def require_staff(res: Resources, account_id: int) -> str:
    """The account's role when it is staff; otherwise 403, as Mastodon answers a user without the permission."""
    role = await moderation_store.role_of(res.db, account_id)
    if role not in STAFF:
        raise ApiError(403, _NOT_ALLOWED)
    assert role is not None
    return role


async def grant_role(res: Resources, username: str, role: str) -> int | None:
    """Give `username` the role (user, moderator, admin); the account's id, None when there is none. The
    cached Account entity shows roles, so it is dropped."""
    account_id = await moderation_store.set_role(res.db, username.lstrip("@"), role)
    if account_id is not None:
        await _forget_cached_account(res, account_id)
    return account_id


# entities ------------------------------------------------------------------------------------------------


def admin_account_entity(row: Mapping[str, Any], account: Mapping[str, Any], res: Resources) -> dict[str, Any]:
    """Mastodon's Admin::Account: the account as moderators see it, with its Account (`account`, a row of
    storage.accounts) inside."""
    return {
        "id": str(row["id"]),
        "username": row["username"],
        "domain": None,
        "created_at": iso(row["created_at"]),
        "email": row["email"],
        "ip": row["ip"],
        "ips": [],
        "locale": row["default_language"] or "en",
        "invite_request": None,
        "role": role_entity(row["role"]),
        "confirmed": True,
        "approved": True,
        "disabled": row["disabled_at"] is not None,
        "silenced": row["silenced_at"] is not None,
        "suspended": row["suspended_at"] is not None,
        "sensitized": row["sensitized_at"] is not None,
        "account": account_entity(account, res.settings),
        "created_by_application_id": None,
        "invited_by_account_id": None,
    }


async def admin_account_entities(res: Resources, account_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """Admin::Account entities by id (two queries); missing accounts are absent."""
    admin_rows, rows = await asyncio.gather(
        moderation_store.admin_accounts(res.db, account_ids), account_store.get_accounts(res.db, account_ids)
    )
    return {i: admin_account_entity(admin_rows[i], rows[i], res) for i in account_ids if i in admin_rows and i in rows}


async def admin_account(res: Resources, account_id: int) -> dict[str, Any]:
    found = await admin_account_entities(res, [account_id])
    if account_id not in found:
        raise ApiError(404, _NOT_FOUND)
    return found[account_id]


async def account_page(res: Resources, query: AccountQuery, page: Page) -> tuple[list[dict[str, Any]], list[int]]:
    """One page of accounts for the admin listing, and its cursors."""
    rows = await moderation_store.account_page(res.db, query, page)
    ids = [row["id"] for row in rows]
    accounts = await account_store.get_accounts(res.db, ids)
    return [admin_account_entity(row, accounts[row["id"]], res) for row in rows if row["id"] in accounts], ids


async def report_entities(res: Resources, rows: Sequence[asyncpg.Record]) -> list[dict[str, Any]]:
    """Mastodon's Admin::Report for each report row: the accounts involved as Admin::Accounts, and the
    reported posts as they were when reported (the report's snapshot)."""
    wanted = {
        i
        for row in rows
        for i in (row["account_id"], row["target_account_id"], row["assigned_account_id"], row["action_taken_by_id"])
        if i is not None
    }
    accounts = await admin_account_entities(res, list(wanted))
    out = []
    for row in rows:
        if row["account_id"] not in accounts or row["target_account_id"] not in accounts:
            continue
        out.append(
            {
                "id": str(row["id"]),
                "action_taken": row["action_taken_at"] is not None,
                "action_taken_at": iso(row["action_taken_at"]),
                "category": row["category"],
                "comment": row["comment"],
                "forwarded": row["forward"],
                "created_at": iso(row["created_at"]),
                "updated_at": iso(row["updated_at"]),
                "account": accounts[row["account_id"]],
                "target_account": accounts[row["target_account_id"]],
                "assigned_account": accounts.get(row["assigned_account_id"]),
                "action_taken_by_account": accounts.get(row["action_taken_by_id"]),
                "statuses": _snapshot(row["snapshot"]),
                "rules": [],
            }
        )
    return out


def _snapshot(stored: Any) -> list[dict[str, Any]]:
    """A report's snapshot of Status entities; reports written before the snapshot was stored as JSON (not
    as a JSON string holding it) are read too."""
    value = orjson.loads(stored) if isinstance(stored, str) else stored
    return list(value) if isinstance(value, list) else []


async def _report_entity(res: Resources, row: asyncpg.Record | None) -> dict[str, Any]:
    if row is None:
        raise ApiError(404, _NOT_FOUND)
    return (await report_entities(res, [row]))[0]


# reports -------------------------------------------------------------------------------------------------


async def report_page(res: Resources, query: ReportQuery, page: Page) -> tuple[list[dict[str, Any]], list[int]]:
    rows = await moderation_store.report_page(res.db, query, page)
    return await report_entities(res, rows), [row["id"] for row in rows]


async def get_report(res: Resources, report_id: int) -> dict[str, Any]:
    return await _report_entity(res, await moderation_store.get_report(res.db, report_id))


async def assign_report(res: Resources, report_id: int, moderator_id: int | None) -> dict[str, Any]:
    return await _report_entity(res, await moderation_store.assign_report(res.db, report_id, moderator_id))


async def resolve_report(res: Resources, report_id: int, moderator_id: int) -> dict[str, Any]:
    return await _report_entity(res, await moderation_store.resolve_report(res.db, report_id, moderator_id))


async def reopen_report(res: Resources, report_id: int) -> dict[str, Any]:
    return await _report_entity(res, await moderation_store.reopen_report(res.db, report_id))


# actions on accounts -------------------------------------------------------------------------------------


async def _check_target(res: Resources, moderator_id: int, moderator_role: str, target_id: int) -> None:
    """404 for an account that is not there; 403 for acting on oneself, or a moderator acting on an admin."""
    target_role = await moderation_store.role_of(res.db, target_id)
    if target_role is None:
        raise ApiError(404, _NOT_FOUND)
    if target_id == moderator_id or (target_role == "admin" and moderator_role != "admin"):
        raise ApiError(403, _NOT_ALLOWED)


async def take_action(
    res: Resources,
    moderator_id: int,
    moderator_role: str,
    target_id: int,
    *,
    action: str,
    text: str = "",
    report_id: int | None = None,
    notify: bool = True,
) -> None:
    """Perform one Admin::AccountAction on `target_id` (see the module docstring), in one transaction, then
    make it felt (`_after_change`)."""
    if action not in ACTIONS:
        raise ApiError(422, f"Validation failed: Type is not included in the list ({', '.join(ACTIONS)})")
    await _check_target(res, moderator_id, moderator_role, target_id)
    if report_id is not None:
        report = await moderation_store.get_report(res.db, report_id)
        if report is None or report["target_account_id"] != target_id:
            raise ApiError(404, _NOT_FOUND)
    notification_id = res.ids.next_id()

    async def write(conn: asyncpg.Connection) -> None:
        if action != "none":
            await moderation_store.set_state(conn, target_id, action, on=True)
        warning = await moderation_store.insert_warning(
            conn,
            res.ids.next_id(),
            moderator_id=moderator_id,
            target_id=target_id,
            action=action,
            text=text,
            report_id=report_id,
        )
        if report_id is not None:
            await moderation_store.resolve_report(conn, report_id, moderator_id)
        if action != "none":
            await moderation_store.resolve_reports_about(conn, target_id, moderator_id)
            await record_event(conn, EventKind.ACCOUNT_UPDATED, {"account_id": target_id})
        if notify:
            await moderation_store.insert_warning_notification(
                conn, notification_id, warning_id=warning["id"], target_id=target_id
            )

    await in_transaction(res.db, write)
    await _after_change(res, target_id, barred=action in BARRING)
    if notify:
        await push(res, [notification_id])


async def lift(res: Resources, moderator_id: int, moderator_role: str, target_id: int, route: str) -> dict[str, Any]:
    """Undo a state (`route` a key of LIFTS: unsuspend, unsilence, enable, unsensitive); the Admin::Account."""
    await _check_target(res, moderator_id, moderator_role, target_id)

    async def write(conn: asyncpg.Connection) -> None:
        await moderation_store.set_state(conn, target_id, LIFTS[route], on=False)
        await record_event(conn, EventKind.ACCOUNT_UPDATED, {"account_id": target_id})

    await in_transaction(res.db, write)
    await _after_change(res, target_id, barred=False)
    return await admin_account(res, target_id)


async def _after_change(res: Resources, account_id: int, *, barred: bool) -> None:
    """After the commit: drop the cached Account entity and every viewer's cached marks (they say which
    authors are suspended, storage/marks_cache.py), and, when the account may no longer sign in, its tokens
    from every token cache (storage/token_cache.py), so they stop working at once."""
    await _forget_cached_account(res, account_id)
    await forget_marks(res, None)
    if barred:
        token_ids = await token_store.live_token_ids(res.db, account_id)
        if token_ids:
            await oauth.forget_revoked(res, token_ids)


async def _forget_cached_account(res: Resources, account_ids: int | Iterable[int]) -> None:
    ids = [account_ids] if isinstance(account_ids, int) else list(account_ids)
    try:
        await post_cache.forget_accounts(res.redis, ids)
    except VALKEY_DOWN as exc:  # Valkey away: the post_cache queue's account.updated job forgets it later
        log.warning("could not drop cached accounts %s: %s", ids, exc)
