"""Timelines in Valkey: one sorted set per account, written by the fan-out worker, rebuilt from PostgreSQL.

Keys
- `tl:{account_id}`: the account's home timeline.
- `ta:{account_id}`: an author's own recent posts, merged into followers' home timelines at read time when
  the author has too many followers to fan out to (and kept current for any author while it exists).

Entries: score = the entry's post id (a repost is a post with its own id), member = 16 or 24 bytes: the
post id, the author id and, for a repost, the original's id, each 8 bytes big-endian. Reads need nothing
else. A double holds 53 bits, so ids a few hundred apart can share a score; Valkey orders equal scores by
member bytes, and big-endian bytes order like the numbers, so entries still sort exactly by id. Cursor
bounds are therefore applied inclusively here and exactly by the caller (`Entry.post_id`).

Every key holds exactly two meta members below the entries, so trimming to the newest `cap` entries is one
ZREMRANGEBYRANK from rank 2:
- score -1: the *followed* record, b"\\x01" + 9 bytes per followed high-follower account (8-byte id, then
  b"1" when the follow shows reposts, b"0" when not). Empty for author timelines.
- score 0: the state: b"\\x00" built, b"\\x00~" being built. A key without the built marker is missing.

Fan-out touches only keys that exist (a cached timeline, built or being built), so a timeline nobody reads
costs nothing; the reader rebuilds it. A build marks the key first and merges its PostgreSQL rows after,
so posts fanned out while the query runs are kept.

The scripts compute key names from their arguments (follower ids), which a Valkey cluster would refuse:
Chirp runs one Valkey (or a primary with replicas) for timelines. Sharding would group followers by slot.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

HOME_PREFIX = "tl:"
AUTHOR_PREFIX = "ta:"
BUILT = b"\x00"
BUILDING = b"\x00~"
FOLLOWED_TAG = b"\x01"
# A repost of a post already among this many newest entries is not inserted again (Mastodon's fall-off).
REPOST_WINDOW = 40
# A timeline whose build was abandoned (the builder died) disappears after this long.
BUILDING_TTL_SECONDS = 120

_TWO = struct.Struct(">QQ")
_THREE = struct.Struct(">QQQ")
_ID = struct.Struct(">Q")


def home_key(account_id: int) -> str:
    return f"{HOME_PREFIX}{account_id}"


def author_key(account_id: int) -> str:
    return f"{AUTHOR_PREFIX}{account_id}"


class Entry(NamedTuple):
    """One timeline entry: what a read needs without asking PostgreSQL."""

    post_id: int
    author_id: int
    reblog_of_id: int | None

    def member(self) -> bytes:
        if self.reblog_of_id is None:
            return _TWO.pack(self.post_id, self.author_id)
        return _THREE.pack(self.post_id, self.author_id, self.reblog_of_id)

    def original(self) -> bytes:
        """The bytes the repost fall-off compares, empty for an original post."""
        return b"" if self.reblog_of_id is None else _ID.pack(self.reblog_of_id)


def decode_entry(member: bytes) -> Entry:
    if len(member) == 24:
        post_id, author_id, original = _THREE.unpack(member)
        return Entry(post_id, author_id, original)
    post_id, author_id = _TWO.unpack(member)
    return Entry(post_id, author_id, None)


@dataclass(frozen=True)
class Followed:
    """A followed high-follower account whose posts are merged in at read time."""

    account_id: int
    show_reposts: bool

    def record(self) -> bytes:
        return _ID.pack(self.account_id) + (b"1" if self.show_reposts else b"0")


def decode_followed(blob: bytes) -> list[Followed]:
    return [Followed(_ID.unpack_from(blob, i)[0], blob[i + 8 : i + 9] == b"1") for i in range(1, len(blob) - 8, 9)]


# Lua ---------------------------------------------------------------------------------------------------
# Shared by the scripts below. `insert` adds one entry unless it is a repost of a post already among the
# newest REPOST_WINDOW entries (as the original or as another repost); true when the entry is there after.

_LUA_COMMON = f"""
local WINDOW = {REPOST_WINDOW}
local function recent_copy(key, member, original)
  local recent = redis.call('ZRANGE', key, '+inf', '(0', 'BYSCORE', 'REV', 'LIMIT', 0, WINDOW)
  for _, m in ipairs(recent) do
    if m == member then return 1 end
    if string.sub(m, 1, 8) == original or string.sub(m, 17, 24) == original then return 2 end
  end
  return 0
end
-- Returns false when skipped (a repost already shown), else ZADD's reply: 1 if new, 0 if already there.
local function insert(key, score, member, original)
  if original ~= '' and recent_copy(key, member, original) == 2 then return false end
  return redis.call('ZADD', key, score, member)
end
local function followed_member(key)
  return redis.call('ZRANGE', key, '-1', '-1', 'BYSCORE')[1]
end
-- `blob` with the record of `id8` replaced by `record` (or removed when record is nil)
local function followed_put(blob, id8, record)
  local out = {{'\\1'}}
  for i = 2, #blob - 8, 9 do
    local rec = string.sub(blob, i, i + 8)
    if string.sub(rec, 1, 8) ~= id8 then out[#out + 1] = rec end
  end
  if record then out[#out + 1] = record end
  return table.concat(out)
end
local function followed_write(key, old, new)
  if old == new then return end
  if old then redis.call('ZREM', key, old) end
  redis.call('ZADD', key, -1, new)
end
"""

# ARGV: cap, then per post: score, member, original (8 bytes or empty), comma-separated keys.
# Returns per post the comma-separated keys that hold the entry afterwards.
_FAN_OUT = (
    _LUA_COMMON
    + """
local cap = tonumber(ARGV[1])
-- Once over the cap, a timeline is trimmed back to `keep` entries: one trim per `cap - keep` inserts
-- instead of one per insert (a third of the calls per insert; a timeline never holds more than `cap`).
local keep = cap - math.max(1, math.floor(cap / 25))
local out = {}
for i = 2, #ARGV, 4 do
  local score, member, original = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local got = {}
  for key in string.gmatch(ARGV[i + 3], '[^,]+') do
    local size = redis.call('ZCARD', key)  -- 0: not cached, skipped
    if size > 0 then
      local added = insert(key, score, member, original)
      if added then
        got[#got + 1] = key
        local entries = size + added - 2  -- below the entries sit two meta members (ranks 0 and 1)
        if entries > cap then redis.call('ZREMRANGEBYRANK', key, 2, entries - keep + 1) end
      end
    end
  end
  out[#out + 1] = table.concat(got, ',')
end
return out
"""
)

# ARGV: per post: member, comma-separated keys. Returns how many entries went.
_REMOVE = """
local removed = 0
for i = 1, #ARGV, 2 do
  for key in string.gmatch(ARGV[i + 1], '[^,]+') do
    removed = removed + redis.call('ZREM', key, ARGV[i])
  end
end
return removed
"""

# KEYS[1]: a timeline. ARGV: cap, then triples (score, member, original), oldest first.
# Adds entries only to an existing timeline; returns how many were added, or -1 when it is not cached.
_MERGE = (
    _LUA_COMMON
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local added = 0
for i = 2, #ARGV, 3 do
  if insert(KEYS[1], ARGV[i], ARGV[i + 1], ARGV[i + 2]) then added = added + 1 end
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 2, -(tonumber(ARGV[1]) + 1))
return added
"""
)

# KEYS[1]: a home timeline. ARGV[1]: the author's 8-byte id. Removes the author's entries and followed record.
_UNMERGE = (
    _LUA_COMMON
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local removed = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], '(0', '+inf', 'BYSCORE')) do
  if string.sub(m, 9, 16) == ARGV[1] then
    redis.call('ZREM', KEYS[1], m)
    removed = removed + 1
  end
end
local old = followed_member(KEYS[1])
if old then followed_write(KEYS[1], old, followed_put(old, ARGV[1], nil)) end
return removed
"""
)

# ARGV[1]: a followed record (9 bytes); ARGV[2]: comma-separated home timeline keys. Adds or updates the
# record in every existing one; returns how many timelines hold it.
_FOLLOWED_ADD = (
    _LUA_COMMON
    + """
local id8 = string.sub(ARGV[1], 1, 8)
local n = 0
for key in string.gmatch(ARGV[2], '[^,]+') do
  if redis.call('EXISTS', key) == 1 then
    local old = followed_member(key)
    followed_write(key, old, followed_put(old or '\\1', id8, ARGV[1]))
    n = n + 1
  end
end
return n
"""
)

# KEYS[1]: a timeline. ARGV[1]: TTL for a new key. Marks the key as being built; 1 when it is built already.
_BEGIN_BUILD = (
    _LUA_COMMON
    + """
if redis.call('ZSCORE', KEYS[1], '\\0') then return 1 end
local existed = redis.call('EXISTS', KEYS[1])
redis.call('ZADD', KEYS[1], 0, '\\0~')
if not followed_member(KEYS[1]) then redis.call('ZADD', KEYS[1], -1, '\\1') end
if existed == 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return 0
"""
)

# KEYS[1]: a timeline marked by BEGIN_BUILD. ARGV: cap, ttl, followed records (9 bytes each, concatenated),
# then triples (score, member, original), oldest first. Merges them and marks the timeline built.
_FINISH_BUILD = (
    _LUA_COMMON
    + """
local key = KEYS[1]
local old = followed_member(key)
local new = old or '\\1'
for i = 1, #ARGV[3], 9 do
  local rec = string.sub(ARGV[3], i, i + 8)
  new = followed_put(new, string.sub(rec, 1, 8), rec)
end
followed_write(key, old, new)
for i = 4, #ARGV, 3 do insert(key, ARGV[i], ARGV[i + 1], ARGV[i + 2]) end
redis.call('ZREM', key, '\\0~')
redis.call('ZADD', key, 0, '\\0')
redis.call('ZREMRANGEBYRANK', key, 2, -(tonumber(ARGV[1]) + 1))
redis.call('EXPIRE', key, ARGV[2])
return 1
"""
)

# KEYS[1]: a timeline. ARGV: ttl, lower bound, upper bound, count, "1" for newest first.
# nil when the timeline is not built; else {followed record, entries}. Refreshes the TTL: reading keeps it.
_READ = """
if not redis.call('ZSCORE', KEYS[1], '\\0') then return false end
redis.call('EXPIRE', KEYS[1], ARGV[1])
local followed = redis.call('ZRANGE', KEYS[1], '-1', '-1', 'BYSCORE')[1] or '\\1'
local entries
if ARGV[5] == '1' then
  entries = redis.call('ZRANGE', KEYS[1], ARGV[3], ARGV[2], 'BYSCORE', 'REV', 'LIMIT', 0, ARGV[4])
else
  entries = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3], 'BYSCORE', 'LIMIT', 0, ARGV[4])
end
return {followed, entries}
"""


class Script:
    """A Lua script run by its SHA1, loaded again when Valkey has forgotten it (restart, SCRIPT FLUSH)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def run(self, redis: Redis, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await redis.eval(self.source, len(keys), *keys, *args)


ScriptCall = tuple[Script, Sequence[str], Sequence[Any]]


async def run_pipelined(redis: Redis, calls: Sequence[ScriptCall]) -> list[Any]:
    """Run many script calls in one round trip; scripts Valkey does not know are loaded and run again."""
    if not calls:
        return []
    results = await _pipeline(redis, calls)
    missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
    if missing:
        for script in {calls[i][0].sha: calls[i][0] for i in missing}.values():
            await redis.script_load(script.source)
        for i, result in zip(missing, await _pipeline(redis, [calls[i] for i in missing]), strict=True):
            results[i] = result
    for result in results:
        if isinstance(result, ResponseError):
            raise result
    return results


async def _pipeline(redis: Redis, calls: Sequence[ScriptCall]) -> list[Any]:
    pipe = redis.pipeline(transaction=False)
    for script, keys, args in calls:
        pipe.evalsha(script.sha, len(keys), *keys, *args)
    return list(await pipe.execute(raise_on_error=False))


FAN_OUT = Script(_FAN_OUT)
REMOVE = Script(_REMOVE)
MERGE = Script(_MERGE)
UNMERGE = Script(_UNMERGE)
FOLLOWED_ADD = Script(_FOLLOWED_ADD)
BEGIN_BUILD = Script(_BEGIN_BUILD)
FINISH_BUILD = Script(_FINISH_BUILD)
READ = Script(_READ)

# Keys per script call: large enough to amortise the call, small enough that one call blocks Valkey for
# about a millisecond.
KEYS_PER_CALL = 512


# writes ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One entry to insert into many timelines: `keys` is a comma-separated list of timeline keys."""

    entry: Entry
    keys: str


async def fan_out(
    redis: Redis, deliveries: Sequence[Delivery], cap: int, *, then: Sequence[ScriptCall] = ()
) -> tuple[list[list[str]], list[Any]]:
    """Insert each entry into those of its timelines that exist (capped at `cap`), all in one round trip.

    Returns, per delivery, the keys that hold the entry afterwards (inserted now or by an earlier attempt),
    and the replies of `then`: script calls run in the same round trip, after the writes.
    Each script call takes whole posts with their key lists, up to about KEYS_PER_CALL keys. Grouping by
    follower instead (one ZADD per timeline) was measured: it pays only when a batch's posts share many
    followers, which a real graph rarely does, and costs more for small batches.
    """
    calls: list[ScriptCall] = []
    owners: list[list[int]] = []  # per call, the delivery index of each post group
    args: list[Any] = [cap]
    groups: list[int] = []
    size = 0
    for index, delivery in enumerate(deliveries):
        for chunk in _chunks(delivery.keys, KEYS_PER_CALL):
            entry = delivery.entry
            args += [entry.post_id, entry.member(), entry.original(), chunk]
            groups.append(index)
            size += chunk.count(",") + 1
            if size >= KEYS_PER_CALL:
                calls.append((FAN_OUT, (), args))
                owners.append(groups)
                args, groups, size = [cap], [], 0
    if groups:
        calls.append((FAN_OUT, (), args))
        owners.append(groups)
    results = await run_pipelined(redis, [*calls, *then])
    delivered: list[list[str]] = [[] for _ in deliveries]
    for groups_of_call, result in zip(owners, results[: len(calls)], strict=True):
        for index, keys in zip(groups_of_call, result, strict=True):
            if keys:
                delivered[index].extend(keys.decode().split(","))
    return delivered, results[len(calls) :]


def _chunks(keys: str, size: int) -> list[str]:
    """A comma-separated key list cut into lists of at most `size` keys."""
    if not keys:
        return []
    if keys.count(",") < size:
        return [keys]
    parts = keys.split(",")
    return [",".join(parts[i : i + size]) for i in range(0, len(parts), size)]


async def remove(redis: Redis, removals: Sequence[Delivery]) -> int:
    """Remove each entry from its timelines; how many entries went."""
    calls: list[ScriptCall] = []
    for removal in removals:
        member = removal.entry.member()
        calls += [(REMOVE, (), [member, chunk]) for chunk in _chunks(removal.keys, KEYS_PER_CALL)]
    return sum(int(n) for n in await run_pipelined(redis, calls))


def _entry_args(entries: Iterable[Entry]) -> list[Any]:
    args: list[Any] = []
    for entry in entries:
        args += [entry.post_id, entry.member(), entry.original()]
    return args


async def merge(redis: Redis, key: str, entries_oldest_first: Sequence[Entry], cap: int) -> int:
    """Add entries to one cached timeline; -1 when it is not cached (nothing to do then)."""
    return int(await MERGE.run(redis, [key], [cap, *_entry_args(entries_oldest_first)]))


async def unmerge(redis: Redis, key: str, author_id: int) -> int:
    """Remove an author's entries (and followed record) from one cached timeline; -1 when not cached."""
    return int(await UNMERGE.run(redis, [key], [_ID.pack(author_id)]))


async def add_followed(redis: Redis, followed: Followed, keys: str) -> int:
    """Record a followed high-follower account in those of `keys` (comma-separated) that are cached."""
    total = 0
    calls: list[ScriptCall] = [(FOLLOWED_ADD, (), [followed.record(), chunk]) for chunk in _chunks(keys, KEYS_PER_CALL)]
    for n in await run_pipelined(redis, calls):
        total += int(n)
    return total


async def begin_build(redis: Redis, key: str) -> bool:
    """Mark a timeline as being built; True when it turned out to be built already."""
    return bool(await BEGIN_BUILD.run(redis, [key], [BUILDING_TTL_SECONDS]))


async def finish_build(
    redis: Redis, key: str, entries_oldest_first: Sequence[Entry], followed: Sequence[Followed], *, cap: int, ttl: int
) -> None:
    records = b"".join(f.record() for f in followed)
    await FINISH_BUILD.run(redis, [key], [cap, ttl, records, *_entry_args(entries_oldest_first)])


async def begin_builds(redis: Redis, keys: Sequence[str]) -> list[bool]:
    """`begin_build` for several timelines in one round trip."""
    calls: list[ScriptCall] = [(BEGIN_BUILD, [key], [BUILDING_TTL_SECONDS]) for key in keys]
    return [bool(result) for result in await run_pipelined(redis, calls)]


async def finish_builds(redis: Redis, builds: Sequence[tuple[str, Sequence[Entry]]], *, cap: int, ttl: int) -> None:
    """`finish_build` (no followed records) for several timelines in one round trip."""
    calls: list[ScriptCall] = [(FINISH_BUILD, [key], [cap, ttl, b"", *_entry_args(entries)]) for key, entries in builds]
    await run_pipelined(redis, calls)


# reads -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    """Inclusive score bounds of a read (`Entry.post_id` gives the exact bounds), and its direction."""

    lower: str  # "(0" for everything; else an id, included
    upper: str  # "+inf" or an id, included
    count: int
    newest_first: bool


@dataclass(frozen=True)
class Slice:
    entries: list[Entry]
    followed: list[Followed]
    full: bool  # as many entries came back as were asked for: there may be more


def _read_args(ttl: int, span: Range) -> list[Any]:
    return [ttl, span.lower, span.upper, span.count, "1" if span.newest_first else "0"]


def _slice(result: Any, count: int) -> Slice | None:
    if result is None:
        return None
    followed_blob, members = result
    return Slice([decode_entry(m) for m in members], decode_followed(followed_blob), len(members) >= count)


async def read(redis: Redis, key: str, span: Range, *, ttl: int) -> Slice | None:
    """A range of a built timeline (refreshing its TTL); None when the timeline is missing."""
    return _slice(await READ.run(redis, [key], _read_args(ttl, span)), span.count)


async def promoted(redis: Redis, author_ids: Sequence[int]) -> set[int]:
    """Which authors' followers' timelines already know them as high-follower accounts."""
    if not author_ids:
        return set()
    values = await redis.mget([f"tlp:{a}" for a in author_ids])
    return {a for a, value in zip(author_ids, values, strict=True) if value is not None}


async def mark_promoted(redis: Redis, author_id: int, done: bool) -> None:
    if done:
        await redis.set(f"tlp:{author_id}", b"1")
    else:
        await redis.delete(f"tlp:{author_id}")


# KEYS: any keys. Returns 1 or 0 for each: one command however many (a pipeline of EXISTS costs a command
# each to pack and parse).
EXISTING = Script("local out = {} for i, key in ipairs(KEYS) do out[i] = redis.call('EXISTS', key) end return out")


async def exists(redis: Redis, keys: Sequence[str]) -> list[bool]:
    """Which of the keys exist, in one round trip."""
    if not keys:
        return []
    return [bool(n) for n in await EXISTING.run(redis, keys, ())]


async def memory_usage(redis: Redis, key: str) -> int:
    return int(await redis.memory_usage(key, samples=0) or 0)
