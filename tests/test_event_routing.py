"""The events contract: every kind has one payload, reaches a served queue (or is listed as unrouted), and
is recorded exactly to the queues the routing table names; docs/events.md describes every kind."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, get_args, get_type_hints

import pytest

from domain import events
from domain.event_kinds import Event, EventKind, PostCreated, decode_event
from domain.media import MEDIA_PROCESS
from domain.search_indexing import AUTHOR_POSTS
from domain.subscriptions import IN_ORDER_OF, SUBSCRIPTIONS, TIMELINE_QUEUE, UNROUTED
from storage.resources import Resources
from workers.queues import all_queues

DOCS = Path(__file__).resolve().parent.parent / "docs" / "events.md"


def _payload_by_kind_in_event_union() -> dict[EventKind, Any]:
    pairs: dict[EventKind, Any] = {}
    for pair in get_args(Event):
        (kind,), payload = get_args(get_args(pair)[0]), get_args(pair)[1]
        assert kind not in pairs, f"{kind} appears twice in Event"
        pairs[kind] = payload
    return pairs


def _payload_by_kind_in_record_event() -> dict[EventKind, Any]:
    pairs: dict[EventKind, Any] = {}
    for overload in typing.get_overloads(events.record_event):
        hints = get_type_hints(overload, vars(events))
        (kind,) = get_args(hints["kind"])
        assert kind not in pairs, f"record_event has two overloads for {kind}"
        pairs[kind] = hints["payload"]
    return pairs


def test_every_kind_is_routed_to_a_queue_or_listed_as_unrouted() -> None:
    routed = {kind for kinds in SUBSCRIPTIONS.values() for kind in kinds}
    assert not routed & UNROUTED, f"listed as unrouted yet routed: {sorted(routed & UNROUTED)}"
    assert set(EventKind) == routed | UNROUTED, f"neither routed nor listed: {sorted(set(EventKind) - routed)}"


def test_the_routing_table_names_only_served_queues_and_known_kinds_once() -> None:
    served = {queue.name for queue in all_queues()}
    assert set(SUBSCRIPTIONS) <= served, f"no worker serves {sorted(set(SUBSCRIPTIONS) - served)}"
    for queue, kinds in SUBSCRIPTIONS.items():
        assert kinds, f"{queue} receives nothing"
        assert all(type(kind) is EventKind for kind in kinds), f"{queue} names a kind that is no EventKind"
        assert len(set(kinds)) == len(kinds), f"{queue} names a kind twice"


def test_jobs_keyed_for_their_order_go_to_queues_that_claim_in_order() -> None:
    """A key only orders jobs on a queue whose worker claims them in order; a key elsewhere would be ignored."""
    in_order = {queue.name for queue in all_queues() if queue.in_order}
    for queue, kind in IN_ORDER_OF:
        assert kind in SUBSCRIPTIONS[queue], f"{queue} keys {kind}, which it does not receive"
        assert queue in in_order, f"{queue} keys its jobs but its worker does not claim them in order"


def test_an_authors_posts_are_keyed_by_author_on_the_timeline_queue() -> None:
    post: PostCreated = {
        "id": 2,
        "account_id": 7,
        "visibility": "public",
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "thread_root_id": 2,
        "reblog_of_id": None,
        "quote_of_id": None,
        "mention_ids": [],
        "tags": [],
    }
    keys = {job.queue: job.in_order_of for job in events.outbox_jobs(EventKind.POST_CREATED, post)}
    assert keys[TIMELINE_QUEUE] == 7
    assert {queue for queue, key in keys.items() if key is not None} == {TIMELINE_QUEUE}


def test_each_kind_is_recorded_to_exactly_the_queues_that_subscribe_to_it() -> None:
    for kind in EventKind:
        expected = tuple(queue for queue, kinds in SUBSCRIPTIONS.items() if kind in kinds)
        assert events.EVENT_QUEUES.get(kind, ()) == expected, kind


def test_every_kind_has_one_payload_and_record_event_checks_the_same_one() -> None:
    in_union = _payload_by_kind_in_event_union()
    assert set(in_union) == set(EventKind)
    assert _payload_by_kind_in_record_event() == in_union


def test_job_kinds_that_are_not_events_are_not_mistaken_for_one() -> None:
    for kind in (AUTHOR_POSTS, MEDIA_PROCESS):
        with pytest.raises(ValueError):
            decode_event(kind, {})


def test_a_stored_kind_decodes_to_its_member_with_the_payload_as_stored() -> None:
    payload = {"post_id": 1, "post_account_id": 2, "account_id": 3}
    kind, decoded = decode_event("like.created", payload)
    assert kind is EventKind.LIKE_CREATED and decoded is payload


def test_docs_describe_every_kind_its_payload_type_and_its_queues() -> None:
    text = DOCS.read_text()
    for kind, payload in _payload_by_kind_in_event_union().items():
        row = next((line for line in text.splitlines() if line.startswith(f"| `{kind.value}` |")), None)
        assert row is not None, f"docs/events.md has no row for {kind.value}"
        assert f"`{payload.__name__}`" in row, f"docs/events.md does not name {payload.__name__} for {kind.value}"
        documented = [queue.strip() for queue in row.strip(" |").rsplit("|", 1)[1].split(",")]
        assert documented == list(events.EVENT_QUEUES.get(kind, ())), f"docs/events.md: {kind.value}'s queues"


async def test_recording_writes_one_job_per_subscribed_queue(res: Resources) -> None:
    async with res.db.acquire() as conn, conn.transaction():
        await events.record_event(conn, EventKind.FOLLOW_CREATED, {"id": 1, "account_id": 2, "target_account_id": 3})
        await events.record_event(conn, EventKind.ACCOUNT_UPDATED, {"account_id": 4})
    rows = await res.db.fetch("SELECT queue, kind, payload FROM jobs ORDER BY id")
    expected = [
        (queue, kind.value, payload)
        for kind, payload in [
            (EventKind.FOLLOW_CREATED, {"id": 1, "account_id": 2, "target_account_id": 3}),
            (EventKind.ACCOUNT_UPDATED, {"account_id": 4}),
        ]
        for queue in SUBSCRIPTIONS
        if kind in SUBSCRIPTIONS[queue]
    ]
    assert [(row["queue"], row["kind"], row["payload"]) for row in rows] == expected
    assert {row["queue"] for row in rows} == {"search", "notifications", "timeline", "post_cache"}


async def test_a_queue_wanting_few_events_of_a_kind_gets_only_those(res: Resources) -> None:
    def created(
        post_id: int,
        visibility: str,
        reblog_of_id: int | None = None,
        *,
        mentions: list[int] | None = None,
        replied_to: int | None = None,
        quote_of_id: int | None = None,
    ) -> PostCreated:
        return {
            "id": post_id,
            "account_id": 9,
            "visibility": visibility,
            "in_reply_to_id": 100 if replied_to is not None else None,
            "in_reply_to_account_id": replied_to,
            "thread_root_id": post_id,
            "reblog_of_id": reblog_of_id,
            "quote_of_id": quote_of_id,
            "mention_ids": mentions or [],
            "tags": [],
        }

    posts = (
        created(1, "public", mentions=[8]),
        created(2, "direct", mentions=[8]),
        created(3, "private"),
        created(4, "direct", 2, mentions=[8]),  # a repost of the direct post
        created(5, "unlisted", replied_to=9),  # answers its own author: notifies nobody
        created(6, "public", replied_to=7),
        created(7, "public", quote_of_id=1),
        created(8, "public", 1, mentions=[8]),  # a repost of the public post
    )
    async with res.db.acquire() as conn, conn.transaction():
        for payload in posts:
            await events.record_event(conn, EventKind.POST_CREATED, payload)
    rows = await res.db.fetch("SELECT queue, payload FROM jobs ORDER BY id")
    by_queue: dict[str, list[int]] = {}
    for row in rows:
        by_queue.setdefault(row["queue"], []).append(row["payload"]["id"])
    assert by_queue.pop("conversations") == [2]  # the direct post; not the others, nor a repost of it
    assert by_queue.pop("notifications") == [1, 2, 6, 7]  # a mention, an answer to another, a quote
    assert "streaming" not in by_queue  # a new post's live updates go out from its fan-out (timeline)
    assert set(by_queue) == set(events.EVENT_QUEUES[EventKind.POST_CREATED]) - {"conversations", "notifications"}
    assert all(ids == [1, 2, 3, 4, 5, 6, 7, 8] for ids in by_queue.values()), by_queue
