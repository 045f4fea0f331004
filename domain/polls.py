"""Polls: a post's options with `expires_in`, `multiple` and `hide_totals` (the limits are the instance's
`configuration.polls`), one vote per account, and the Poll entity as each viewer sees it.

A vote is one transaction: the vote row (its primary key makes a second vote a no-op, answered 422) and the
counts on the poll row, so concurrent votes are counted exactly. An edit may replace the poll (edit_poll,
with Mastodon's rules). The vote's `poll.voted` event brings the new counts to live streams, at most once
per COUNTS_WINDOW_SECONDS per post plus a trailing update, so a poll voted on a thousand times a second
does not send a thousand `status.update`s. When the poll ends, a delayed job of
the `polls` queue (recorded with the post) notifies the voters and the author (domain.poll_expiry).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from core.errors import ApiError, validation_error
from core.times import iso
from domain.event_kinds import EventKind
from domain.events import record_event
from domain.post_text import clean_text
from domain.visibility import visible_post
from storage import jobs as job_store
from storage import polls as store
from storage.db import in_transaction
from storage.polls import NewPoll, PollRow
from storage.resources import Resources

MIN_OPTIONS = 2
MAX_OPTIONS = 4
MAX_OPTION_CHARS = 50
MIN_EXPIRATION = 300
MAX_EXPIRATION = 2_629_746
COUNTS_WINDOW_SECONDS = 1.0

# The `polls` queue: jobs that are not domain events (docs/events.md), each its own kind.
POLLS_QUEUE = "polls"
POLL_EXPIRE = "poll.expire"  # {"poll_id"}: run at the poll's end
POLL_COUNTS = "poll.counts"  # {"post_id"}: the trailing live update of a window of votes


def configuration() -> dict[str, Any]:
    """`configuration.polls` of the instance: what check_poll accepts."""
    return {
        "max_options": MAX_OPTIONS,
        "max_characters_per_option": MAX_OPTION_CHARS,
        "min_expiration": MIN_EXPIRATION,
        "max_expiration": MAX_EXPIRATION,
    }


@dataclass(frozen=True)
class PollDraft:
    options: Sequence[str]
    expires_in: int | None
    multiple: bool = False
    hide_totals: bool = False


def check_poll(draft: PollDraft) -> PollDraft:
    """The poll within the instance's limits, its options cleaned; a 422 naming the field otherwise."""
    options = [clean_text(option) for option in draft.options]
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        raise validation_error("poll[options]", f"must have from {MIN_OPTIONS} to {MAX_OPTIONS} options")
    if any(not option for option in options):
        raise validation_error("poll[options]", "can't hold a blank option")
    if any(len(option) > MAX_OPTION_CHARS for option in options):
        raise validation_error("poll[options]", f"options are at most {MAX_OPTION_CHARS} characters each")
    if len(set(options)) != len(options):
        raise validation_error("poll[options]", "can't hold the same option twice")
    expires_in = draft.expires_in
    if expires_in is None:
        raise validation_error("poll[expires_in]", "can't be blank")
    if not MIN_EXPIRATION <= expires_in <= MAX_EXPIRATION:
        raise validation_error("poll[expires_in]", f"must be from {MIN_EXPIRATION} to {MAX_EXPIRATION} seconds")
    return PollDraft(options, expires_in, draft.multiple, draft.hide_totals)


async def add_poll(res: Resources, conn: asyncpg.Connection, post_id: int, author_id: int, poll: PollDraft) -> None:
    """The post's poll, inside the post's transaction, and the job that ends it (a checked draft)."""
    assert poll.expires_in is not None
    poll_id = res.ids.next_id()
    await store.insert_poll(
        conn, NewPoll(poll_id, post_id, author_id, poll.options, poll.multiple, poll.hide_totals, poll.expires_in)
    )
    await job_store.enqueue(conn, POLLS_QUEUE, POLL_EXPIRE, {"poll_id": poll_id}, delay=poll.expires_in)


async def edit_poll(
    res: Resources,
    conn: asyncpg.Connection,
    post_id: int,
    author_id: int,
    current: PollRow | None,
    poll: PollDraft | None,
) -> None:
    """Make the post's poll what an edit asks, inside the edit's transaction (`current` locked by the caller,
    `poll` checked), as Mastodon does: no poll removes it with its votes; a first poll is added; a poll
    replaced keeps its id and votes unless its options or `multiple` changed (then the votes are void and go);
    `expires_in` counts from the edit. The poll's end is enqueued again (an earlier end job puts itself back
    for the time left, and a notification is written once per recipient, so the old job changes nothing)."""
    if poll is None:
        if current is not None:
            await store.delete_poll(conn, current.id)
        return
    if current is None:
        await add_poll(res, conn, post_id, author_id, poll)
        return
    assert poll.expires_in is not None
    reset = list(poll.options) != current.options or poll.multiple != current.multiple
    replaced = NewPoll(current.id, post_id, author_id, poll.options, poll.multiple, poll.hide_totals, poll.expires_in)
    await store.replace_poll(conn, replaced, reset=reset, counted_id=res.ids.next_id())
    await job_store.enqueue(conn, POLLS_QUEUE, POLL_EXPIRE, {"poll_id": current.id}, delay=poll.expires_in)


def poll_entity(row: PollRow, viewer_id: int | None, own: Sequence[int] | None) -> dict[str, Any]:
    """Mastodon's Poll. Hidden totals are null until the poll ends, except to its author."""
    shown = not row.hide_totals or row.expired or viewer_id == row.account_id
    entity: dict[str, Any] = {
        "id": str(row.id),
        "expires_at": iso(row.expires_at),
        "expired": row.expired,
        "multiple": row.multiple,
        "votes_count": row.votes_count,
        "voters_count": row.voters_count,
        "options": [
            {"title": title, "votes_count": count if shown else None}
            for title, count in zip(row.options, row.votes, strict=True)
        ],
        "emojis": [],
    }
    if viewer_id is not None:
        entity["voted"] = own is not None or viewer_id == row.account_id
        entity["own_votes"] = list(own or [])
    return entity


async def poll_entities(res: Resources, post_ids: Iterable[int], viewer_id: int | None) -> dict[int, dict[str, Any]]:
    """The Poll of each of the posts that have one, as the viewer sees it, by post id (two queries at most)."""
    polls = await store.polls_of_posts(res.db, post_ids)
    if not polls:
        return {}
    votes = await store.own_votes(res.db, viewer_id, [p.id for p in polls.values()]) if viewer_id else {}
    return {post_id: poll_entity(row, viewer_id, votes.get(row.id)) for post_id, row in polls.items()}


async def _visible_poll(res: Resources, poll_id: int, viewer_id: int | None) -> PollRow:
    row = await store.get_poll(res.db, poll_id)
    if row is None:
        raise ApiError(404, "Record not found")
    await visible_post(res, row.post_id, viewer_id)  # 404 for a poll on a post the viewer may not see
    return row


async def get_poll(res: Resources, poll_id: int, viewer_id: int | None) -> dict[str, Any]:
    row = await _visible_poll(res, poll_id, viewer_id)
    own = (await store.own_votes(res.db, viewer_id, [row.id])).get(row.id) if viewer_id else None
    return poll_entity(row, viewer_id, own)


def _check_choices(row: PollRow, choices: Sequence[int]) -> None:
    if not choices:
        raise validation_error("choices", "can't be blank")
    if any(not 0 <= choice < len(row.options) for choice in choices):
        raise validation_error("choices", "names an option the poll does not have")
    if len(set(choices)) != len(choices):
        raise validation_error("choices", "names the same option twice")
    if len(choices) > 1 and not row.multiple:
        raise validation_error("choices", "may name one option: the poll is not multiple-choice")


async def vote(res: Resources, account_id: int, poll_id: int, choices: Sequence[int]) -> dict[str, Any]:
    """Count the account's vote (once) and return the poll as the voter now sees it."""
    row = await _visible_poll(res, poll_id, account_id)
    if row.expired:
        raise ApiError(422, "Validation failed: The poll has already ended")
    _check_choices(row, choices)

    async def write(conn: asyncpg.Connection) -> PollRow:
        if not await store.insert_vote(conn, poll_id, account_id, choices):
            raise ApiError(422, "Validation failed: You have already voted on this poll")
        counted = await store.count_vote(conn, poll_id, choices, res.ids.next_id())
        if counted is None:
            raise ApiError(422, "Validation failed: The poll has already ended")
        await record_event(
            conn,
            EventKind.POLL_VOTED,
            {"poll_id": poll_id, "post_id": row.post_id, "post_account_id": row.account_id, "account_id": account_id},
        )
        return counted

    counted = await in_transaction(res.db, write)
    return poll_entity(counted, account_id, list(choices))


async def counts_turn(res: Resources, post_id: int) -> bool:
    """Whether a vote's live update goes out now: the first of each window per post does, and enqueues the
    window's trailing update (which carries the votes the window held back)."""
    window_ms = int(COUNTS_WINDOW_SECONDS * 1000)
    if not await store.claim_counts_slot(res.redis, post_id, window_ms):
        return False
    await job_store.enqueue(res.db, POLLS_QUEUE, POLL_COUNTS, {"post_id": post_id}, delay=COUNTS_WINDOW_SECONDS + 0.2)
    return True
