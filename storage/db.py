"""What every storage module shares: the type of "something that runs SQL"."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeAlias, TypeVar

import asyncpg

# A pool for a single statement, or a connection holding the caller's transaction.
Executor: TypeAlias = asyncpg.Connection | asyncpg.Pool

T = TypeVar("T")


async def in_transaction(
    pool: asyncpg.Pool,
    work: Callable[[asyncpg.Connection], Awaitable[T]],
    *,
    attempts: int = 3,
    single_statement: bool = False,
) -> T:
    """Run `work` in one transaction, from scratch again if PostgreSQL aborts it to break a deadlock.
    `single_statement`: `work` runs one statement, a transaction by itself, so no BEGIN and COMMIT are sent
    (a plain post: domain/posts.py)."""
    for attempt in range(1, attempts + 1):
        try:
            async with pool.acquire() as conn:
                if single_statement:
                    return await work(conn)
                async with conn.transaction():
                    return await work(conn)
        except asyncpg.DeadlockDetectedError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")
