"""Leases on open streams in Valkey, so the limits per account and per token hold across API processes.

One sorted set per account, `sl:{account}` (in the account's slot, named by `storage.keys`): a member per
open stream, `token:node:serial`, scored by the time (ms) its lease ends. A token with no account (an app's
own token) has `slt:{token}`. Admission is one script call: drop the expired members, count the account's
and the token's, add the new one if both are under their limits. Each process renews its members (every third
of the TTL, with its presence) and removes a member when its stream closes; a process that dies stops
renewing, so its streams stop counting within one TTL. A renewal adds back what a restarted Valkey lost.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from storage.keys import Valkey, stream_leases_key, token_stream_leases_key
from storage.timeline_cache import Script

# KEYS[1]: the leases. ARGV: now (ms), expires (ms), member, the account limit, the token's member prefix,
# the token limit, ttl (ms). Returns 0 (leased), 1 (too many for the account) or 2 (too many for the token).
_ADMIT = Script(
    """
local now, limit, prefix, token_limit = tonumber(ARGV[1]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
if #members >= limit then return 1 end
local mine = 0
for _, member in ipairs(members) do
  if string.sub(member, 1, #prefix) == prefix then mine = mine + 1 end
end
if mine >= token_limit then return 2 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return 0
"""
)

NO_LIMIT = 1 << 30


@dataclass(frozen=True, slots=True)
class Lease:
    """One open stream's place in its account's (or token's) leases."""

    key: str
    member: str


def lease_for(account_id: int | None, token_id: int, node_id: int, serial: int) -> Lease:
    key = stream_leases_key(account_id) if account_id is not None else token_stream_leases_key(token_id)
    return Lease(key, f"{token_id}:{node_id}:{serial}")


async def admit(redis: Valkey, lease: Lease, *, max_per_account: int, max_per_token: int, ttl: float) -> int:
    """Take `lease` if its account and token are under their limits: 0, else 1 (account) or 2 (token)."""
    now = int(time.time() * 1000)
    ttl_ms = int(ttl * 1000)
    token_prefix = lease.member.split(":", 1)[0] + ":"
    result = await _ADMIT.run(
        redis,
        [lease.key],
        [now, now + ttl_ms, lease.member, max_per_account, token_prefix, max_per_token, ttl_ms],
    )
    return int(result)


async def release_all(redis: Valkey, leases: Iterable[Lease]) -> None:
    """Remove these leases (their streams closed): one round trip (one per node on a cluster)."""
    by_key = _by_key(leases)
    if not by_key:
        return
    pipe = redis.pipeline(transaction=False)
    for key, members in by_key.items():
        pipe.zrem(key, *members)
    await pipe.execute()


def _by_key(leases: Iterable[Lease]) -> dict[str, list[str]]:
    by_key: dict[str, list[str]] = {}
    for lease in leases:
        by_key.setdefault(lease.key, []).append(lease.member)
    return by_key


async def renew(redis: Valkey, leases: Iterable[Lease], ttl: float) -> None:
    """Push the end of these leases one TTL ahead (adding them back if Valkey lost them): one round trip."""
    by_key = _by_key(leases)
    if not by_key:
        return
    ttl_ms = int(ttl * 1000)
    expires = int(time.time() * 1000) + ttl_ms
    pipe = redis.pipeline(transaction=False)
    for key, members in by_key.items():
        pipe.zadd(key, dict.fromkeys(members, expires))
        pipe.pexpire(key, ttl_ms)
    await pipe.execute()
