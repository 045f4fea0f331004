"""The viewer rules of issue 22's benchmarks, written straight into PostgreSQL: each viewer gets `mutes`
mutes and `blocks` blocks of other accounts (never one whose posts the benchmark reads or streams, so the
same posts are shown with and without the rules: the figures compare the rules' cost, not shorter pages)
and `filters` keyword filters in every context, with keywords the benchmark's posts do not contain."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

FILTER_WORDS = ("xylophone", "quokka", "zeppelin", "marzipan", "fjord")
CONTEXTS = ["home", "notifications", "public", "thread", "account"]


async def add_rules(
    database_url: str,
    viewers: Sequence[int],
    candidates: Sequence[int],
    *,
    mutes: int = 100,
    blocks: int = 100,
    filters: int = 5,
    seed: int = 22,
    followed: Mapping[int, set[int]] | None = None,
) -> int:
    """Give every viewer its rules (targets drawn from `candidates`, never the viewer nor, when `followed`
    says, an account the viewer follows); rows written."""
    import asyncpg

    from core.ids import IdGenerator

    ids = IdGenerator(951)
    rng = random.Random(seed)
    pool = list(candidates)
    mute_rows: list[tuple[int, int, int, bool]] = []
    block_rows: list[tuple[int, int, int]] = []
    filter_rows: list[tuple[int, int, str, list[str], str]] = []
    keyword_rows: list[tuple[int, int, str, bool]] = []
    for viewer in viewers:
        skip = {viewer, *(followed or {}).get(viewer, set())}
        others = [a for a in rng.sample(pool, min(len(pool), mutes + blocks + len(skip))) if a not in skip]
        mute_rows += [(ids.next_id(), viewer, target, True) for target in others[:mutes]]
        block_rows += [(ids.next_id(), viewer, target) for target in others[mutes : mutes + blocks]]
        for n in range(filters):
            filter_id = ids.next_id()
            word = FILTER_WORDS[n % len(FILTER_WORDS)]
            filter_rows.append((filter_id, viewer, f"no {word}", CONTEXTS, "warn" if n % 2 else "hide"))
            keyword_rows.append((ids.next_id(), filter_id, word, bool(n % 2)))
    conn = await asyncpg.connect(database_url)
    try:
        await conn.copy_records_to_table(
            "mutes", columns=("id", "account_id", "target_account_id", "notifications"), records=mute_rows
        )
        await conn.copy_records_to_table(
            "blocks", columns=("id", "account_id", "target_account_id"), records=block_rows
        )
        await conn.copy_records_to_table(
            "filters", columns=("id", "account_id", "title", "context", "action"), records=filter_rows
        )
        await conn.copy_records_to_table(
            "filter_keywords", columns=("id", "filter_id", "keyword", "whole_word"), records=keyword_rows
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return len(mute_rows) + len(block_rows) + len(filter_rows) + len(keyword_rows)


async def remove_rules(database_url: str, viewers: Sequence[int]) -> int:
    """Take the viewers' rules away again (their version stamps stay, as after any unmute); rows deleted."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        deleted = 0
        for table in ("mutes", "blocks", "filters"):
            result: str = await conn.execute(f"DELETE FROM {table} WHERE account_id = ANY($1::bigint[])", list(viewers))
            deleted += int(result.split()[-1])
        return deleted
    finally:
        await conn.close()
