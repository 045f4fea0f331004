"""Conversations (table `conversations`): each participant's view of a thread of direct messages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.pagination import Page
from storage.db import Executor
from storage.rows import Row, columns, row_of, rows_of


@dataclass(slots=True, frozen=True)
class ConversationRow(Row):
    id: int
    account_id: int
    thread_root_id: int
    participant_ids: list[int]
    last_post_id: int
    unread: bool


CONVERSATION_COLUMNS = columns(ConversationRow)


@dataclass(frozen=True)
class DirectPost:
    """A direct post, as it lands in the conversation of each of its participants."""

    id: int
    account_id: int  # the author
    thread_root_id: int
    mention_ids: Sequence[int]


async def record_direct_post(db: Executor, post: DirectPost, new_ids: Sequence[int]) -> list[ConversationRow]:
    """The post becomes the latest message of each participant's conversation (created when missing), unread
    for all but its author. Nothing changes for a post already recorded, or one deleted since. `new_ids`:
    one fresh id per participant, used where a conversation is created."""
    participants = list(dict.fromkeys([post.account_id, *post.mention_ids]))
    rows = await db.fetch(
        f"""
        INSERT INTO conversations AS c (id, account_id, thread_root_id, participant_ids, last_post_id, unread)
        SELECT t.id, t.account_id, $2, array_remove($3::bigint[], t.account_id), $1, t.account_id <> $4
        FROM unnest($5::bigint[], $3::bigint[]) AS t(id, account_id)
        WHERE EXISTS (SELECT 1 FROM posts p WHERE p.id = $1)
          AND EXISTS (SELECT 1 FROM accounts a WHERE a.id = t.account_id)
        ON CONFLICT (account_id, thread_root_id) DO UPDATE SET
            last_post_id = EXCLUDED.last_post_id,
            unread = EXCLUDED.unread,
            participant_ids = ARRAY(
                SELECT DISTINCT x FROM unnest(c.participant_ids || EXCLUDED.participant_ids) AS x ORDER BY x)
        WHERE c.last_post_id < EXCLUDED.last_post_id
        RETURNING {CONVERSATION_COLUMNS}
        """,
        post.id,
        post.thread_root_id,
        participants,
        post.account_id,
        list(new_ids[: len(participants)]),
    )
    return rows_of(ConversationRow, rows)


async def conversations_page(db: Executor, account_id: int, page: Page) -> list[ConversationRow]:
    """One page of the account's conversations, the latest message first (paged by that message's id)."""
    where, bounds = page.where("last_post_id", 2)
    rows = await db.fetch(
        f"""
        SELECT {CONVERSATION_COLUMNS} FROM conversations
        WHERE account_id = $1 AND {where}
        ORDER BY last_post_id {page.order}
        LIMIT $4
        """,
        account_id,
        *bounds,
        page.limit,
    )
    return list(page.arrange(rows_of(ConversationRow, rows)))


async def mark_read(db: Executor, account_id: int, conversation_id: int) -> ConversationRow | None:
    row = await db.fetchrow(
        f"UPDATE conversations SET unread = false WHERE id = $1 AND account_id = $2 RETURNING {CONVERSATION_COLUMNS}",
        conversation_id,
        account_id,
    )
    return row_of(ConversationRow, row)


async def remove(db: Executor, account_id: int, conversation_id: int) -> bool:
    result: str = await db.execute(
        "DELETE FROM conversations WHERE id = $1 AND account_id = $2", conversation_id, account_id
    )
    return result.endswith(" 1")
