"""The post cache in Valkey: viewer-independent pieces of Status entities, and Account entities.

- `pc:{post_id}`: one post's piece (braces: a cluster hash tag, storage/keys.py), three lines (JSON never
  holds a raw newline):
  1. `ref,ref;account,account`: the posts and accounts a full rendering also shows (read by HYDRATE);
  2. a small JSON header: author, reposted and quoted ids, visibility rows, reactions, quote approval;
  3. the entity's viewer-independent fields as a JSON object, used as bytes (never decoded on a read).
  Counters are kept current by the `post_cache` worker, which rewrites cached pieces when they change.
- `ac:{account_id}`: an Account entity (JSON), rewritten when the account or its counters change.

Pieces live `PIECE_TTL_SECONDS`: media URLs in them may be signed for a limited time, and anything a
worker failed to rewrite is at most this stale. Everything here can be lost at any moment (FLUSHALL, a
restart): the reader falls back to PostgreSQL and fills the cache again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from storage import keys
from storage.keys import ACCOUNT_PREFIX, PIECE_PREFIX, Valkey, account_key, one_shard, piece_key
from storage.timeline_cache import Script, exists

__all__ = ["account_key", "piece_key"]

PIECE_TTL_SECONDS = 600
ACCOUNT_TTL_SECONDS = 600


def encode_piece(refs: Sequence[int], accounts: Sequence[int], header: bytes, body: bytes) -> bytes:
    deps = ",".join(map(str, refs)) + ";" + ",".join(map(str, accounts))
    return deps.encode() + b"\n" + header + b"\n" + body


@dataclass(frozen=True)
class StoredPiece:
    refs: list[int]
    accounts: list[int]
    header: bytes
    body: bytes


def decode_piece(value: bytes) -> StoredPiece:
    deps, header, body = value.split(b"\n", 2)
    refs, _, accounts = deps.partition(b";")
    return StoredPiece(
        [int(i) for i in refs.split(b",") if i], [int(i) for i in accounts.split(b",") if i], header, body
    )


# `hydrate(ids)`: for each post id its piece; then, once each, the pieces of the posts they show and the
# accounts they show: {pieces, {id, piece, ...}, {id, account, ...}} (missing ones as empty strings). One
# round trip whatever the page holds. Key names are built here from ids, which only one Valkey allows (every
# key on one shard); a cluster hydrates slot by slot instead (`hydrate`). Also used by the home page script
# (storage/home_page.py).
HYDRATE_LUA = f"""
-- GET of every `prefix .. id`, as one MGET per 1,000 keys (unpack has a limit), missing ones false
local function mget(prefix, ids)
  local out = {{}}
  for first = 1, #ids, 1000 do
    local keys = {{}}
    for i = first, math.min(first + 999, #ids) do keys[#keys + 1] = prefix .. '{{' .. ids[i] .. '}}' end
    local found = redis.call('MGET', unpack(keys))
    for i = 1, #keys do out[#out + 1] = found[i] end
  end
  return out
end
local function hydrate(ids)
  local refs, accounts = {{}}, {{}}
  if #ids == 0 then return {{{{}}, refs, accounts}} end
  -- One MGET per kind, not a GET per key: inside a script every redis.call costs several microseconds.
  local pieces = mget('{PIECE_PREFIX}', ids)
  local seen, wanted, accts, acct_ids = {{}}, {{}}, {{}}, {{}}
  for _, id in ipairs(ids) do seen[id] = true end
  for _, v in ipairs(pieces) do
    if v then
      local head = string.sub(v, 1, string.find(v, '\\n', 1, true) - 1)
      local semi = string.find(head, ';', 1, true)
      for r in string.gmatch(string.sub(head, 1, semi - 1), '%d+') do
        if not seen[r] then
          seen[r] = true
          wanted[#wanted + 1] = r
        end
      end
      for a in string.gmatch(string.sub(head, semi + 1), '%d+') do
        if not accts[a] then
          accts[a] = true
          acct_ids[#acct_ids + 1] = a
        end
      end
    end
  end
  if #wanted > 0 then
    local found = mget('{PIECE_PREFIX}', wanted)
    for i, id in ipairs(wanted) do
      refs[#refs + 1] = id
      refs[#refs + 1] = found[i] or ''
    end
  end
  if #acct_ids > 0 then
    local found = mget('{ACCOUNT_PREFIX}', acct_ids)
    for i, id in ipairs(acct_ids) do
      accounts[#accounts + 1] = id
      accounts[#accounts + 1] = found[i] or ''
    end
  end
  return {{pieces, refs, accounts}}
end
"""
HYDRATE = Script(HYDRATE_LUA + "return hydrate(ARGV)")


@dataclass(frozen=True)
class Hydrated:
    """Stored pieces by post id (the requested ones and those they show), account entities by id."""

    pieces: dict[int, bytes]
    accounts: dict[int, bytes]


async def hydrate(redis: Valkey, post_ids: Sequence[int]) -> Hydrated:
    """The pieces of `post_ids`, of the posts they show and of the accounts shown: in one round trip on one
    Valkey; slot by slot on a cluster (the pieces, then what they show: two round trips, one per node)."""
    if not post_ids:
        return Hydrated({}, {})
    if one_shard(redis):
        return parse_hydrated(post_ids, await HYDRATE.run(redis, (), post_ids))
    return await _hydrate_by_slot(redis, post_ids)


async def _hydrate_by_slot(redis: Valkey, post_ids: Sequence[int]) -> Hydrated:
    found = await keys.mget(redis, [piece_key(i) for i in post_ids])
    pieces = {post_id: value for post_id, value in zip(post_ids, found, strict=True) if value}
    wanted: dict[int, None] = {}
    accounts: dict[int, None] = {}
    for value in pieces.values():
        refs, _, shown = value.split(b"\n", 1)[0].partition(b";")
        wanted.update((int(r), None) for r in refs.split(b",") if r and int(r) not in pieces)
        accounts.update((int(a), None) for a in shown.split(b",") if a)
    wanted_ids, account_ids = list(wanted), list(accounts)
    more = await keys.mget(redis, [*map(piece_key, wanted_ids), *map(account_key, account_ids)])
    pieces.update((i, v) for i, v in zip(wanted_ids, more[: len(wanted_ids)], strict=True) if v)
    entities = {i: v for i, v in zip(account_ids, more[len(wanted_ids) :], strict=True) if v}
    return Hydrated(pieces, entities)


def parse_hydrated(post_ids: Sequence[int], result: Sequence[Any]) -> Hydrated:
    """What `hydrate(ids)` in Lua answered for `post_ids`."""
    found, refs, accounts = result
    pieces = {post_id: value for post_id, value in zip(post_ids, found, strict=True) if value}
    pieces.update((int(refs[i]), refs[i + 1]) for i in range(0, len(refs), 2) if refs[i + 1])
    return Hydrated(pieces, {int(accounts[i]): accounts[i + 1] for i in range(0, len(accounts), 2) if accounts[i + 1]})


async def put(redis: Valkey, pieces: Mapping[int, bytes], accounts: Mapping[int, bytes]) -> None:
    """Store pieces and account entities (in one round trip)."""
    if not pieces and not accounts:
        return
    pipe = redis.pipeline(transaction=False)
    for post_id, piece in pieces.items():
        pipe.set(piece_key(post_id), piece, ex=PIECE_TTL_SECONDS)
    for account_id, account in accounts.items():
        pipe.set(account_key(account_id), account, ex=ACCOUNT_TTL_SECONDS)
    await pipe.execute()


async def replace(redis: Valkey, pieces: Mapping[int, bytes], accounts: Mapping[int, bytes]) -> None:
    """Rewrite entries that are cached, leaving absent ones absent and TTLs as they are."""
    if not pieces and not accounts:
        return
    pipe = redis.pipeline(transaction=False)
    for post_id, piece in pieces.items():
        pipe.set(piece_key(post_id), piece, xx=True, keepttl=True)
    for account_id, account in accounts.items():
        pipe.set(account_key(account_id), account, xx=True, keepttl=True)
    await pipe.execute()


async def cached_posts(redis: Valkey, post_ids: Sequence[int]) -> list[int]:
    """Which of `post_ids` have a cached piece."""
    return await _cached(redis, post_ids, piece_key)


async def cached_accounts(redis: Valkey, account_ids: Sequence[int]) -> list[int]:
    """Which of `account_ids` have a cached entity."""
    return await _cached(redis, account_ids, account_key)


async def _cached(redis: Valkey, ids: Sequence[int], key: Callable[[int], str]) -> list[int]:
    found = await exists(redis, [key(i) for i in ids])
    return [i for i, present in zip(ids, found, strict=True) if present]


async def forget_posts(redis: Valkey, post_ids: Iterable[int]) -> None:
    await keys.delete(redis, [piece_key(i) for i in set(post_ids)])


async def forget_accounts(redis: Valkey, account_ids: Iterable[int]) -> None:
    await keys.delete(redis, [account_key(i) for i in set(account_ids)])
