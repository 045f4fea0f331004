"""Grouped notifications (Mastodon 4.3's /api/v2/notifications): a page of notification groups with the
accounts and statuses they show listed once each, as Mastodon's GroupedNotificationsResults.

Favourites and reblogs of one post, and follows, share a group (its `group_key`, set when the notification
is written, see storage.notifications); every other notification is a group of its own, `ungrouped-<id>`.
A page lists up to `limit` groups by their newest notification in the page; each group says how many of
its notifications fall in the page (`notifications_count`, from `page_min_id` to `page_max_id`) and the
latest accounts behind it (`sample_account_ids`). Unread means newer than the notifications marker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from core.errors import ApiError
from core.pagination import Page
from core.times import iso
from domain.accounts import account_entity
from domain.markers import notifications_read_up_to
from domain.notifications import notification_entities
from domain.post_entities import post_entities
from domain.visibility import load_shield
from storage import accounts as account_store
from storage import notifications as notification_store
from storage.notifications import GROUPABLE_TYPES
from storage.resources import Resources

SAMPLE_ACCOUNTS_SIZE = 8  # Mastodon's NotificationGroup::SAMPLE_ACCOUNTS_SIZE
EXPAND_ACCOUNTS = ("full", "partial_avatars")
GROUP_ACCOUNTS_LIMIT = 80
Bounds = tuple[int | None, int | None]


@dataclass(frozen=True)
class Filters:
    """Which notifications a listing or count looks at."""

    grouped_types: Sequence[str] = GROUPABLE_TYPES
    types: Sequence[str] | None = None
    exclude_types: Sequence[str] = ()
    from_account_id: int | None = None


def _group(row: Mapping[str, Any], data: Mapping[str, Any] | None, *, paginated: bool) -> dict[str, Any]:
    """One NotificationGroup: from its group's data when it is grouped, else of the one notification."""
    if data is not None:
        most_recent, samples, count = data["most_recent_id"], list(data["sample_account_ids"]), data["count"]
        page_min, latest_at = data["min_id"], data["latest_at"]
    else:
        most_recent, samples, count, page_min, latest_at = row["id"], [row["from_account_id"]], 1, row["id"], None
    group: dict[str, Any] = {
        "group_key": row["group"],
        "notifications_count": max(int(count), 1),
        "type": row["type"],
        "most_recent_notification_id": str(most_recent),
    }
    if paginated:
        group["page_min_id"] = str(page_min if page_min is not None else row["id"])
        group["page_max_id"] = str(most_recent)
        group["latest_page_notification_at"] = iso(latest_at or row["created_at"])
    group["sample_account_ids"] = [str(account_id) for account_id in dict.fromkeys(samples)]
    if row["post_id"] is not None:
        group["status_id"] = str(row["post_id"])
    if row["type"] == "reaction":
        group["reaction"] = {"name": row["reaction"]}
    return group


def _partial_account(account: Mapping[str, Any]) -> dict[str, Any]:
    """Mastodon's PartialAccountWithAvatar: enough to draw an avatar."""
    return {key: account[key] for key in ("id", "acct", "url", "avatar", "avatar_static", "locked", "bot")}


async def _results(
    res: Resources,
    viewer_id: int,
    rows: Sequence[Mapping[str, Any]],
    *,
    within: Bounds | None,
    expand_accounts: str,
) -> dict[str, Any]:
    """GroupedNotificationsResults for the groups' representative rows (each with its listed `group`)."""
    keyed = [row["group"] for row in rows if row["group"] == row["group_key"]]
    statuses, data = await asyncio.gather(
        post_entities(
            res, [row["post_id"] for row in rows if row["post_id"] is not None], viewer_id, context="notifications"
        ),
        notification_store.groups_data(res.db, viewer_id, keyed, sample_size=SAMPLE_ACCOUNTS_SIZE, within=within),
    )
    status_by_id = {int(status["id"]): status for status in statuses}
    # A notification whose post the viewer can no longer see is left out, as in the v1 list.
    shown = [row for row in rows if row["post_id"] is None or row["post_id"] in status_by_id]
    groups = [_group(row, data.get(row["group"]), paginated=within is not None) for row in shown]
    sample_ids = [int(i) for group in groups for i in group["sample_account_ids"]]
    accounts, shield = await asyncio.gather(
        account_store.get_accounts(res.db, sample_ids), load_shield(res, viewer_id, sample_ids, "notifications")
    )
    for group in groups:  # an account deleted meanwhile is no sample, nor one the viewer blocked or muted
        group["sample_account_ids"] = [
            i for i in group["sample_account_ids"] if int(i) in accounts and not shield.hides(int(i))
        ]
    groups = [group for group in groups if group["sample_account_ids"]]
    if expand_accounts == "partial_avatars":
        full_ids = list(dict.fromkeys(int(group["sample_account_ids"][0]) for group in groups))
    else:
        full_ids = list(dict.fromkeys(int(i) for group in groups for i in group["sample_account_ids"]))
    full = [account_entity(accounts[i], res.settings) for i in full_ids]
    out: dict[str, Any] = {"accounts": full}
    if expand_accounts == "partial_avatars":
        rest = dict.fromkeys(int(i) for group in groups for i in group["sample_account_ids"][1:])
        out["partial_accounts"] = [
            _partial_account(account_entity(accounts[i], res.settings)) for i in rest if i not in set(full_ids)
        ]
    listed = dict.fromkeys(int(group["status_id"]) for group in groups if "status_id" in group)
    out["statuses"] = [status_by_id[i] for i in listed]
    out["notification_groups"] = groups
    return out


async def grouped_page(
    res: Resources, account_id: int, page: Page, filters: Filters, *, expand_accounts: str = "full"
) -> tuple[dict[str, Any], list[int]]:
    """One page of the account's notification groups, newest first, and its cursors for the Link header
    (the groups' newest notification ids, the last one lowered to the oldest notification counted)."""
    rows = await notification_store.grouped_page(
        res.db,
        account_id,
        page,
        grouped_types=filters.grouped_types,
        types=filters.types,
        exclude_types=filters.exclude_types,
        from_account_id=filters.from_account_id,
    )
    ids = [row["id"] for row in rows]
    results = await _results(res, account_id, rows, within=_page_range(page, ids), expand_accounts=expand_accounts)
    # The next page starts below the oldest notification this page counted (`page_min_id`, as Mastodon's
    # Link does), so a group's older members are not shown again as a group of their own.
    counted = [int(group["page_min_id"]) for group in results["notification_groups"]]
    return results, [*ids[:-1], min(counted)] if counted else ids


def _page_range(page: Page, ids: Sequence[int]) -> Bounds | None:
    """The ids a page's groups count their notifications within: from its oldest to its newest group, and
    on a last page (fewer groups than asked for) on to the end of the list in the direction of travel,
    as Mastodon's controller does."""
    if not ids:
        return None
    low, high = min(ids), max(ids)
    if len(ids) < page.limit:
        if page.ascending:
            return low, (page.max_id - 1 if page.max_id is not None else None)
        return (page.since_id + 1 if page.since_id is not None else None), high
    return low, high


async def _newest_of_group(res: Resources, account_id: int, group_key: str) -> asyncpg.Record:
    members = await notification_store.group_members(res.db, account_id, group_key, 1)
    if not members:
        raise ApiError(404, "Record not found")
    return members[0]


async def get_group(res: Resources, account_id: int, group_key: str) -> dict[str, Any]:
    """One group, whole (no page bounds), as GroupedNotificationsResults."""
    row = dict(await _newest_of_group(res, account_id, group_key))
    row["group"] = row["group_key"] or f"ungrouped-{row['id']}"
    results = await _results(res, account_id, [row], within=None, expand_accounts="full")
    if not results["notification_groups"]:
        raise ApiError(404, "Record not found")
    return results


async def group_accounts(res: Resources, account_id: int, group_key: str) -> list[dict[str, Any]]:
    """The accounts behind a group, newest first, each once."""
    members = await notification_store.group_members(res.db, account_id, group_key, GROUP_ACCOUNTS_LIMIT)
    if not members:
        raise ApiError(404, "Record not found")
    ids = list(dict.fromkeys(row["from_account_id"] for row in members))
    accounts = await account_store.get_accounts(res.db, ids)
    return [account_entity(accounts[i], res.settings) for i in ids if i in accounts]


async def dismiss_group(res: Resources, account_id: int, group_key: str) -> None:
    if not await notification_store.dismiss_group(res.db, account_id, group_key):
        raise ApiError(404, "Record not found")


async def unread_count(res: Resources, account_id: int, limit: int, filters: Filters, *, grouped: bool) -> int:
    """Notifications (v1) or groups (v2) newer than the notifications marker, at most `limit`, counting only
    what the list would show: rows pass through `notification_entities`, the list's own rule (blocked or
    muted actors, posts no longer visible or hidden by a filter are not counted)."""
    read_up_to = await notifications_read_up_to(res, account_id)
    counted: set[str] = set()
    batch = min(max(limit, UNREAD_BATCH), UNREAD_BATCH_MAX)
    max_id: int | None = None
    while len(counted) < limit:
        rows = await notification_store.notifications_page(
            res.db,
            account_id,
            Page(limit=batch, max_id=max_id, since_id=read_up_to),
            types=filters.types,
            exclude_types=filters.exclude_types,
            from_account_id=filters.from_account_id,
        )
        shown = {int(entity["id"]) for entity in await notification_entities(res, rows, account_id)}
        counted |= {_counted_as(row, filters, grouped=grouped) for row in rows if row["id"] in shown}
        if len(rows) < batch:
            break
        max_id = rows[-1]["id"]
    return min(len(counted), limit)


UNREAD_BATCH = 40
UNREAD_BATCH_MAX = 200


def _counted_as(row: Mapping[str, Any], filters: Filters, *, grouped: bool) -> str:
    """What one unread notification counts as: itself (v1), or its group (v2, as storage's _GROUP_OF)."""
    if grouped and row["type"] in filters.grouped_types and row["group_key"] is not None:
        return str(row["group_key"])
    return f"ungrouped-{row['id']}"


# Filtering policy and requests: Chirp does not filter notifications, so everything is accepted and no
# request is ever pending. These answer as Mastodon does for an account that never changed its policy.

POLICY_CHOICES = ("accept", "filter", "drop")
POLICY_FIELDS = ("for_not_following", "for_not_followers", "for_new_accounts", "for_private_mentions",
                 "for_limited_accounts")  # fmt: skip


def notification_policy() -> dict[str, Any]:
    return {
        **{field: "accept" for field in POLICY_FIELDS},
        "summary": {"pending_requests_count": 0, "pending_notifications_count": 0},
    }
