"""Polls (tables `polls`, `poll_votes`): a post's poll, its counts, and the votes that make them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.db import Executor
from storage.keys import Valkey
from storage.rows import Row, columns, row_of, rows_of


@dataclass(slots=True, frozen=True)
class PollRow(Row):
    id: int
    post_id: int
    account_id: int
    options: list[str]
    votes: list[int]
    multiple: bool
    hide_totals: bool
    votes_count: int
    voters_count: int
    expires_at: datetime
    expired: bool  # expires_at has passed


POLL_COLUMNS = columns(PollRow, "", {"expired": "expires_at <= now() AS expired"})


@dataclass(frozen=True)
class NewPoll:
    id: int
    post_id: int
    account_id: int
    options: Sequence[str]
    multiple: bool
    hide_totals: bool
    expires_in: int  # seconds


async def insert_poll(conn: Executor, poll: NewPoll) -> None:
    await conn.execute(
        """
        INSERT INTO polls (id, post_id, account_id, options, votes, multiple, hide_totals, expires_at)
        VALUES ($1, $2, $3, $4::text[], array_fill(0, ARRAY[cardinality($4::text[])]), $5, $6,
                now() + make_interval(secs => $7))
        """,
        poll.id,
        poll.post_id,
        poll.account_id,
        list(poll.options),
        poll.multiple,
        poll.hide_totals,
        poll.expires_in,
    )


async def get_poll(db: Executor, poll_id: int) -> PollRow | None:
    return row_of(PollRow, await db.fetchrow(f"SELECT {POLL_COLUMNS} FROM polls WHERE id = $1", poll_id))


async def polls_of_posts(db: Executor, post_ids: Iterable[int]) -> dict[int, PollRow]:
    """The polls of those posts that have one, by post id."""
    ids = list(set(post_ids))
    if not ids:
        return {}
    rows = await db.fetch(f"SELECT {POLL_COLUMNS} FROM polls WHERE post_id = ANY($1::bigint[])", ids)
    return {row.post_id: row for row in rows_of(PollRow, rows)}


async def own_votes(db: Executor, account_id: int, poll_ids: Iterable[int]) -> dict[int, list[int]]:
    """The account's choices in those polls it voted in, by poll id."""
    ids = list(set(poll_ids))
    if not ids:
        return {}
    rows = await db.fetch(
        "SELECT poll_id, choices FROM poll_votes WHERE account_id = $1 AND poll_id = ANY($2::bigint[])", account_id, ids
    )
    return {row["poll_id"]: list(row["choices"]) for row in rows}


async def insert_vote(conn: Executor, poll_id: int, account_id: int, choices: Sequence[int]) -> bool:
    """The account's vote, unless it voted already (False then)."""
    inserted = await conn.fetchval(
        """
        INSERT INTO poll_votes (poll_id, account_id, choices) VALUES ($1, $2, $3::integer[])
        ON CONFLICT DO NOTHING RETURNING true
        """,
        poll_id,
        account_id,
        list(choices),
    )
    return bool(inserted)


async def count_vote(conn: Executor, poll_id: int, choices: Sequence[int], counted_id: int) -> PollRow | None:
    """Add one voter's choices (indexes from 0) to an open poll's counts; None when the poll has ended.
    `counted_id` (a fresh Snowflake) marks when the counts changed, for the stream resume."""
    row = await conn.fetchrow(
        f"""
        UPDATE polls SET
            votes = ARRAY(
                SELECT v + CASE WHEN (i - 1) = ANY($2::integer[]) THEN 1 ELSE 0 END
                FROM unnest(votes) WITH ORDINALITY AS t(v, i) ORDER BY i),
            votes_count = votes_count + cardinality($2::integer[]),
            voters_count = voters_count + 1,
            counted_id = $3
        WHERE id = $1 AND expires_at > now()
        RETURNING {POLL_COLUMNS}
        """,
        poll_id,
        list(choices),
        counted_id,
    )
    return row_of(PollRow, row)


async def voter_ids(db: Executor, poll_id: int) -> list[int]:
    rows = await db.fetch("SELECT account_id FROM poll_votes WHERE poll_id = $1", poll_id)
    return [row["account_id"] for row in rows]


async def claim_counts_slot(valkey: Valkey, post_id: int, window_ms: int) -> bool:
    """True for the first caller in each `window_ms` per post: whose turn it is to publish the counts live."""
    return bool(await valkey.set(f"chirp:poll-counts:{{{post_id}}}", b"1", nx=True, px=window_ms))


async def lock_poll_of_post(conn: Executor, post_id: int) -> PollRow | None:
    """The post's poll, locked against votes until this transaction (an edit's) ends."""
    row = await conn.fetchrow(f"SELECT {POLL_COLUMNS} FROM polls WHERE post_id = $1 FOR UPDATE", post_id)
    return row_of(PollRow, row)


async def delete_poll(conn: Executor, poll_id: int) -> None:
    """The poll and its votes (they cascade)."""
    await conn.execute("DELETE FROM polls WHERE id = $1", poll_id)


async def replace_poll(conn: Executor, poll: NewPoll, *, reset: bool, counted_id: int) -> None:
    """Put an edit's poll on the existing row (same id); `reset` drops its votes and zeroes its counts
    (the options changed, so the votes no longer mean what their voters chose)."""
    if reset:
        await conn.execute("DELETE FROM poll_votes WHERE poll_id = $1", poll.id)
    await conn.execute(
        """
        UPDATE polls SET options = $2::text[], multiple = $3, hide_totals = $4,
            expires_at = now() + make_interval(secs => $5),
            votes = CASE WHEN $6 THEN array_fill(0, ARRAY[cardinality($2::text[])]) ELSE votes END,
            votes_count = CASE WHEN $6 THEN 0 ELSE votes_count END,
            voters_count = CASE WHEN $6 THEN 0 ELSE voters_count END,
            counted_id = CASE WHEN $6 THEN $7 ELSE counted_id END
        WHERE id = $1
        """,
        poll.id,
        list(poll.options),
        poll.multiple,
        poll.hide_totals,
        poll.expires_in,
        reset,
        counted_id,
    )


async def counted_since(db: Executor, account_id: int, after_id: int, limit: int) -> list[int]:
    """Posts in the account's home (its own, and those of accounts it follows), created at or before
    `after_id`, whose poll counts changed after it: a stream resuming from `after_id` saw older counts.
    Most recently counted last."""
    rows = await db.fetch(
        """
        SELECT p.post_id FROM polls p
        WHERE p.counted_id > $2 AND p.post_id <= $2
          AND (p.account_id = $1
               OR p.account_id IN (SELECT target_account_id FROM follows WHERE account_id = $1))
        ORDER BY p.counted_id
        LIMIT $3
        """,
        account_id,
        after_id,
        limit,
    )
    return [row["post_id"] for row in rows]
