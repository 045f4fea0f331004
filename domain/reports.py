"""Reports: an account reports another, optionally about some of its posts, which are kept as they were
(a snapshot of their Status entities as the reporter saw them), so an edit or a delete changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.errors import ApiError, validation_error
from core.times import iso
from domain.accounts import account_entity
from domain.post_entities import post_entities
from storage import accounts as account_store
from storage import reports as report_store
from storage.resources import Resources

CATEGORIES = ("spam", "legal", "violation", "other")
MAX_COMMENT = 1_000


def report_entity(row: Any, target: Any, res: Resources) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "action_taken": row["action_taken_at"] is not None,
        "action_taken_at": iso(row["action_taken_at"]),
        "category": row["category"],
        "comment": row["comment"],
        "forwarded": row["forward"],
        "created_at": iso(row["created_at"]),
        "status_ids": [str(i) for i in row["status_ids"]] or None,
        "rule_ids": [str(i) for i in row["rule_ids"]] or None,
        "target_account": account_entity(target, res.settings),
    }


async def create_report(
    res: Resources,
    account_id: int,
    target_id: int,
    *,
    status_ids: Sequence[int],
    comment: str,
    category: str | None,
    rule_ids: Sequence[int],
    forward: bool,
) -> dict[str, Any]:
    """Report `target_id`; 404 for an account that is not there, 422 for posts that are not its (or that
    the reporter cannot see) and for reporting oneself."""
    if target_id == account_id:
        raise validation_error("account_id", "cannot be yourself")
    target = await account_store.get_account(res.db, target_id)
    if target is None:
        raise ApiError(404, "Record not found")
    wanted = list(dict.fromkeys(status_ids))
    snapshot = await post_entities(res, wanted, account_id)
    if len(snapshot) != len(wanted) or any(int(s["account"]["id"]) != target_id for s in snapshot):
        raise validation_error("status_ids", "must be posts of the reported account that you can see")
    row = await report_store.insert_report(
        res.db,
        res.ids.next_id(),
        account_id,
        target_id,
        status_ids=wanted,
        snapshot=snapshot,
        comment=comment,
        category=category or ("violation" if rule_ids else "other"),
        rule_ids=rule_ids,
        forward=forward,
    )
    return report_entity(row, target, res)
