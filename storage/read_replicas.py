"""Reads that tolerate a little lag go to a PostgreSQL streaming replica; a user's own writes stay visible
to that user (read-your-writes).

- After a write by an account (api/read_your_writes.py), the primary's current WAL position is kept in
  Valkey under the account's hash tag for `WROTE_SECONDS` (`wrote:{123}` = bytes into the WAL).
- A read for an account goes to a replica only once that replica has replayed up to the position the
  account last wrote at; until then (or when the replica does not answer) it goes to the primary. A read
  with no account, or an account with no recent write, goes to a replica at once.
- Each replica's replay position is cached for `REPLAY_CACHE_SECONDS`, and asked again only when a
  reader's write is newer than the cached position: most reads cost one Valkey GET, no PostgreSQL query.

Writes, and everything that reads in order to write, always use the primary (`Resources.db`). The reads
routed here are listed in docs/scaling.md ("PostgreSQL replicas").
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Sequence

import asyncpg
from redis.exceptions import RedisClusterException, RedisError

from storage.keys import Valkey, wrote_key

log = logging.getLogger("chirp.replicas")

WROTE_SECONDS = 60  # how long an account's last write position is kept (far above any healthy lag)
REPLAY_CACHE_SECONDS = 0.1
DOWN_SECONDS = 5.0  # a replica that failed is left alone this long
QUERY_TIMEOUT = 1.0
# How long a rebuild waits for a replica to replay what the primary has now (healthy lag is milliseconds).
CATCH_UP_SECONDS = 0.05

# The insert position: with synchronous_commit off, a commit's record can still be past the write position.
_WRITTEN = "SELECT (pg_current_wal_insert_lsn() - '0/0')::bigint"
# NULL on a primary (a replica promoted): it has everything, so it counts as caught up.
_REPLAYED = "SELECT COALESCE((pg_last_wal_replay_lsn() - '0/0')::bigint, (pg_current_wal_lsn() - '0/0')::bigint)"


class Replica:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.replayed = -1
        self.asked_at = float("-inf")
        self.down_until = float("-inf")
        self._asking = asyncio.Lock()  # one question at a time; the others wait for its answer

    async def caught_up(self, position: int) -> bool:
        """Whether this replica answers and has replayed the WAL up to `position` (-1: any position).

        Replay only moves forward, so a cached position at or past the reader's write is enough; otherwise
        (or every REPLAY_CACHE_SECONDS, which also notices a replica that went away) the replica is asked."""
        if time.monotonic() < self.down_until:
            return False
        if self.replayed >= position and (position >= 0 or self._fresh()):
            return True
        async with self._asking:
            if not self._fresh() or self.replayed < position:
                await self._ask()
        return time.monotonic() >= self.down_until and self.replayed >= position

    def _fresh(self) -> bool:
        return time.monotonic() - self.asked_at < REPLAY_CACHE_SECONDS

    async def _ask(self) -> None:
        try:
            self.replayed = int(await self.pool.fetchval(_REPLAYED, timeout=QUERY_TIMEOUT))
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("PostgreSQL replica not answering (%s); reading from the primary for %.0f s", exc, DOWN_SECONDS)
            self.down_until = time.monotonic() + DOWN_SECONDS
        self.asked_at = time.monotonic()


class ReadRoutes:
    """Where one read goes: a replica when it is fresh enough for the reader, else the primary."""

    def __init__(self, primary: asyncpg.Pool, replicas: Sequence[asyncpg.Pool], redis: Valkey) -> None:
        self.primary = primary
        self.replicas = [Replica(pool) for pool in replicas]
        self.redis = redis
        self._turn = itertools.cycle(range(len(self.replicas))) if self.replicas else None

    @property
    def enabled(self) -> bool:
        return bool(self.replicas)

    async def pool_for(self, account_id: int | None) -> asyncpg.Pool:
        if self._turn is None:
            return self.primary
        position = await self._written(account_id) if account_id is not None else -1
        for _ in self.replicas:
            replica = self.replicas[next(self._turn)]
            if await replica.caught_up(position):
                return replica.pool
        return self.primary

    async def pool_at_now(self) -> asyncpg.Pool:
        """A replica that has replayed up to the primary's WAL position now (waiting up to CATCH_UP_SECONDS
        for one that is just behind), else the primary."""
        if self._turn is None:
            return self.primary
        position = int(await self.primary.fetchval(_WRITTEN))
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while True:
            for _ in self.replicas:
                replica = self.replicas[next(self._turn)]
                if await replica.caught_up(position):
                    return replica.pool
            if time.monotonic() >= deadline or all(time.monotonic() < r.down_until for r in self.replicas):
                return self.primary
            await asyncio.sleep(CATCH_UP_SECONDS / 5)

    async def _written(self, account_id: int) -> int:
        try:
            raw = await self.redis.get(wrote_key(account_id))
        except (RedisError, RedisClusterException, OSError):
            return 1 << 62  # unknown: only the primary is sure to have it
        return int(raw) if raw is not None else -1

    async def note_write(self, account_id: int) -> None:
        """Record that `account_id` has just written (call after the write committed)."""
        if self._turn is None:
            return
        position = int(await self.primary.fetchval(_WRITTEN))
        # Valkey away: the write is done; its author may read a replica that lacks it for a moment.
        with contextlib.suppress(RedisError, RedisClusterException, OSError):
            await self.redis.set(wrote_key(account_id), position, ex=WROTE_SECONDS)
