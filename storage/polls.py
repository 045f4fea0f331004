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


async def count_vote(conn: Executor, poll_id: int, choices: Sequence[int]) -> PollRow | None:
    """Add one voter's choices (indexes from 0) to an open poll's counts; None when the poll has ended."""
    row = await conn.fetchrow(
        f"""
        UPDATE polls SET
            votes = ARRAY(
                SELECT v + CASE WHEN (i - 1) = ANY($2::integer[]) THEN 1 ELSE 0 END
                FROM unnest(votes) WITH ORDINALITY AS t(v, i) ORDER BY i),
            votes_count = votes_count + cardinality($2::integer[]),
            voters_count = voters_count + 1
        WHERE id = $1 AND expires_at > now()
        RETURNING {POLL_COLUMNS}
        """,
        poll_id,
        list(choices),
    )
    return row_of(PollRow, row)


async def voter_ids(db: Executor, poll_id: int) -> list[int]:
    rows = await db.fetch("SELECT account_id FROM poll_votes WHERE poll_id = $1", poll_id)
    return [row["account_id"] for row in rows]


async def claim_counts_slot(valkey: Valkey, post_id: int, window_ms: int) -> bool:
    """True for the first caller in each `window_ms` per post: whose turn it is to publish the counts live."""
    return bool(await valkey.set(f"chirp:poll-counts:{{{post_id}}}", b"1", nx=True, px=window_ms))
