"""Timelines in Valkey: one sorted set per account, written by the fan-out worker, rebuilt from PostgreSQL.

Keys
- `tl:{account_id}`: the account's home timeline (the braces are a cluster hash tag: storage/keys.py).
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

Every script gets its keys in KEYS, and every call's keys share one slot (storage/keys.py `by_slot`): on a
Valkey Cluster the fan-out makes one call per slot and batch (the cluster client pipelines them per node);
on one Valkey all keys are one group, so a batch is as few calls as before.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from redis.exceptions import NoScriptError

from storage.keys import (
    AUTHOR_PREFIX,
    HOME_PREFIX,
    Bulk,
    Command,
    Valkey,
    author_key,
    by_slot,
    home_key,
    mget,
    pipeline,
    promoted_key,
)

__all__ = ["AUTHOR_PREFIX", "HOME_PREFIX", "author_key", "home_key"]
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

# KEYS: timelines of one slot, then keys of that slot to read. ARGV: cap, how many of the last KEYS are to
# read, then per post: score, member, original (8 bytes or empty), and how many of the next KEYS are its
# timelines. Returns {per post the comma-separated keys that hold the entry after, the read keys' values}.
_FAN_OUT = (
    _LUA_COMMON
    + """
local cap = tonumber(ARGV[1])
local reads = tonumber(ARGV[2])
-- Once over the cap, a timeline is trimmed back to `keep` entries: one trim per `cap - keep` inserts
-- instead of one per insert (a third of the calls per insert; a timeline never holds more than `cap`).
local keep = cap - math.max(1, math.floor(cap / 25))
local out = {}
local k = 0
for i = 3, #ARGV, 4 do
  local score, member, original = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local got = {}
  for j = k + 1, k + tonumber(ARGV[i + 3]) do
    local key = KEYS[j]
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
  k = k + tonumber(ARGV[i + 3])
  out[#out + 1] = table.concat(got, ',')
end
local values = {}
if reads > 0 then values = redis.call('MGET', unpack(KEYS, #KEYS - reads + 1, #KEYS)) end
return {out, values}
"""
)

# KEYS: timelines of one slot. ARGV: per post: member, how many of the next KEYS hold it. Returns how many
# entries went.
_REMOVE = """
local removed = 0
local k = 0
for i = 1, #ARGV, 2 do
  for j = k + 1, k + tonumber(ARGV[i + 1]) do
    removed = removed + redis.call('ZREM', KEYS[j], ARGV[i])
  end
  k = k + tonumber(ARGV[i + 1])
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

# KEYS: home timelines of one slot. ARGV[1]: a followed record (9 bytes). Adds or updates the record in
# every existing one; returns how many timelines hold it.
_FOLLOWED_ADD = (
    _LUA_COMMON
    + """
local id8 = string.sub(ARGV[1], 1, 8)
local n = 0
for _, key in ipairs(KEYS) do
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
        self.sha_packed = Bulk(self.sha)  # packed once: a cluster fan-out sends ~1,900 calls per batch

    async def run(self, redis: Valkey, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await redis.eval(self.source, len(keys), *keys, *args)


ScriptCall = tuple[Script, Sequence[str], Sequence[Any]]


async def run_pipelined(redis: Valkey, calls: Sequence[ScriptCall]) -> list[Any]:
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
        # A pipeline answers errors in place; any of them (a script error, a node away mid-failover) fails
        # the whole call, so that a caller never reads an error as a reply.
        if isinstance(result, Exception):
            raise result
    return results


async def _pipeline(redis: Valkey, calls: Sequence[ScriptCall]) -> list[Any]:
    # Each call's keys share one slot (by_slot): the call goes to the node serving it.
    commands: list[Command] = []
    for script, keys, args in calls:
        commands.append((keys[0] if keys else "", ("EVALSHA", script.sha_packed, len(keys), *keys, *args)))
    return await pipeline(redis, commands)


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
# Keys a fan-out call reads after its writes (Lua's unpack takes up to ~8,000 values).
READS_PER_CALL = 4_000


# writes ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One entry to insert into many timelines: `keys` is a comma-separated list of timeline keys."""

    entry: Entry
    keys: str


class _Calls:
    """Script calls being assembled: per slot group, posts with their keys, cut at about KEYS_PER_CALL keys."""

    def __init__(self, script: Script, head: Sequence[Any], per_post: int) -> None:
        self.script = script
        self.head = list(head)
        self.per_post = per_post  # ARGV items per post, the last one its key count
        self.calls: list[ScriptCall] = []
        self.owners: list[list[int]] = []  # per call, the delivery index of each post group
        self._open: dict[int, tuple[list[str], list[Any], list[int]]] = {}

    def add(self, group: int, index: int, post_args: Sequence[Any], keys: Sequence[str]) -> None:
        for start in range(0, len(keys), KEYS_PER_CALL):
            chunk = keys[start : start + KEYS_PER_CALL]
            call_keys, args, owners = self._open.setdefault(group, ([], list(self.head), []))
            call_keys.extend(chunk)
            args += [*post_args, len(chunk)]
            owners.append(index)
            if len(call_keys) >= KEYS_PER_CALL:
                self._close(group)

    def _close(self, group: int) -> None:
        call_keys, args, owners = self._open.pop(group)
        self.calls.append((self.script, call_keys, args))
        self.owners.append(owners)

    def read(self, group: int, keys: Sequence[str]) -> list[tuple[int, int]]:
        """Also read `keys` (one slot group): in the group's open call, then in calls of their own, up to
        READS_PER_CALL each. Returns where the values come back: (call index, how many). Only for scripts
        whose second head argument counts the keys read after the others (FAN_OUT)."""
        placed: list[tuple[int, int]] = []
        for start in range(0, len(keys), READS_PER_CALL):
            chunk = keys[start : start + READS_PER_CALL]
            call_keys, args, owners = self._open.pop(group, ([], list(self.head), []))
            call_keys.extend(chunk)
            args[1] = len(chunk)
            self.calls.append((self.script, call_keys, args))
            self.owners.append(owners)
            placed.append((len(self.calls) - 1, len(chunk)))
        return placed

    def done(self) -> list[ScriptCall]:
        for group in list(self._open):
            self._close(group)
        return self.calls


async def fan_out(
    redis: Valkey, deliveries: Sequence[Delivery], cap: int, *, reads: Sequence[str] = ()
) -> tuple[list[list[str]], list[Any]]:
    """Insert each entry into those of its timelines that exist (capped at `cap`), all in one round trip
    (one per node on a cluster).

    Returns, per delivery, the keys that hold the entry afterwards (inserted now or by an earlier attempt),
    and the values of `reads` (GET, None when missing), read after the writes in the same script call as
    the timelines of their slot: on a cluster the presence lookup of the fan-out then costs no command of
    its own (it was one per slot, as many as the writes).
    Each script call takes whole posts with their keys of one slot group, up to about KEYS_PER_CALL keys.
    Grouping by follower instead (one ZADD per timeline) was measured: it pays only when a batch's posts
    share many followers, which a real graph rarely does, and costs more for small batches.
    """
    pending = _Calls(FAN_OUT, [Bulk(cap), 0], 4)
    for index, delivery in enumerate(deliveries):
        if not delivery.keys:
            continue
        entry = delivery.entry
        # Packed once per post, not once per call: on a cluster a post goes into a call per slot (~100).
        post_args = (Bulk(entry.post_id), Bulk(entry.member()), Bulk(entry.original()))
        for group, keys in by_slot(redis, delivery.keys.split(",")).items():
            pending.add(group, index, post_args, keys)
    read_groups = by_slot(redis, reads) if reads else {}
    placed = {group: pending.read(group, keys) for group, keys in read_groups.items()}
    calls = pending.done()
    results = await run_pipelined(redis, calls)
    delivered: list[list[str]] = [[] for _ in deliveries]
    for groups_of_call, (written, _) in zip(pending.owners, results, strict=True):
        for index, keys in zip(groups_of_call, written, strict=True):
            if keys:
                delivered[index].extend(keys.decode().split(","))
    values: dict[str, Any] = {}
    for group, keys in read_groups.items():
        got = [value for call, _ in placed[group] for value in results[call][1]]
        values.update(zip(keys, got, strict=True))
    return delivered, [values[key] for key in reads]


async def remove(redis: Valkey, removals: Sequence[Delivery]) -> int:
    """Remove each entry from its timelines; how many entries went."""
    pending = _Calls(REMOVE, [], 2)
    for index, removal in enumerate(removals):
        if removal.keys:
            for group, keys in by_slot(redis, removal.keys.split(",")).items():
                pending.add(group, index, (removal.entry.member(),), keys)
    return sum(int(n) for n in await run_pipelined(redis, pending.done()))


def _entry_args(entries: Iterable[Entry]) -> list[Any]:
    args: list[Any] = []
    for entry in entries:
        args += [entry.post_id, entry.member(), entry.original()]
    return args


async def merge(redis: Valkey, key: str, entries_oldest_first: Sequence[Entry], cap: int) -> int:
    """Add entries to one cached timeline; -1 when it is not cached (nothing to do then)."""
    return int(await MERGE.run(redis, [key], [cap, *_entry_args(entries_oldest_first)]))


async def unmerge(redis: Valkey, key: str, author_id: int) -> int:
    """Remove an author's entries (and followed record) from one cached timeline; -1 when not cached."""
    return int(await UNMERGE.run(redis, [key], [_ID.pack(author_id)]))


async def add_followed(redis: Valkey, followed: Followed, keys: str) -> int:
    """Record a followed high-follower account in those of `keys` (comma-separated) that are cached."""
    calls: list[ScriptCall] = []
    for group in by_slot(redis, keys.split(",") if keys else []).values():
        for start in range(0, len(group), KEYS_PER_CALL):
            calls.append((FOLLOWED_ADD, group[start : start + KEYS_PER_CALL], [followed.record()]))
    return sum(int(n) for n in await run_pipelined(redis, calls))


async def begin_build(redis: Valkey, key: str) -> bool:
    """Mark a timeline as being built; True when it turned out to be built already."""
    return bool(await BEGIN_BUILD.run(redis, [key], [BUILDING_TTL_SECONDS]))


async def finish_build(
    redis: Valkey, key: str, entries_oldest_first: Sequence[Entry], followed: Sequence[Followed], *, cap: int, ttl: int
) -> None:
    records = b"".join(f.record() for f in followed)
    await FINISH_BUILD.run(redis, [key], [cap, ttl, records, *_entry_args(entries_oldest_first)])


async def begin_builds(redis: Valkey, keys: Sequence[str]) -> list[bool]:
    """`begin_build` for several timelines in one round trip."""
    calls: list[ScriptCall] = [(BEGIN_BUILD, [key], [BUILDING_TTL_SECONDS]) for key in keys]
    return [bool(result) for result in await run_pipelined(redis, calls)]


async def finish_builds(redis: Valkey, builds: Sequence[tuple[str, Sequence[Entry]]], *, cap: int, ttl: int) -> None:
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


def read_args(ttl: int, span: Range) -> list[Any]:
    return [ttl, span.lower, span.upper, span.count, "1" if span.newest_first else "0"]


def parse_slice(result: Any, count: int) -> Slice | None:
    if result is None:
        return None
    followed_blob, members = result
    return Slice([decode_entry(m) for m in members], decode_followed(followed_blob), len(members) >= count)


async def read(redis: Valkey, key: str, span: Range, *, ttl: int) -> Slice | None:
    """A range of a built timeline (refreshing its TTL); None when the timeline is missing."""
    return parse_slice(await READ.run(redis, [key], read_args(ttl, span)), span.count)


async def promoted(redis: Valkey, author_ids: Sequence[int]) -> set[int]:
    """Which authors' followers' timelines already know them as high-follower accounts."""
    if not author_ids:
        return set()
    values = await mget(redis, [promoted_key(a) for a in author_ids])
    return {a for a, value in zip(author_ids, values, strict=True) if value is not None}


async def mark_promoted(redis: Valkey, author_id: int, done: bool) -> None:
    if done:
        await redis.set(promoted_key(author_id), b"1")
    else:
        await redis.delete(promoted_key(author_id))


# KEYS: any keys. Returns 1 or 0 for each: one command however many (a pipeline of EXISTS costs a command
# each to pack and parse).
EXISTING = Script("local out = {} for i, key in ipairs(KEYS) do out[i] = redis.call('EXISTS', key) end return out")


async def exists(redis: Valkey, keys: Sequence[str]) -> list[bool]:
    """Which of the keys exist, in one round trip (one call per slot group)."""
    if not keys:
        return []
    groups = by_slot(redis, keys)
    calls: list[ScriptCall] = [(EXISTING, group, ()) for group in groups.values()]
    found: dict[str, bool] = {}
    for group, replies in zip(groups.values(), await run_pipelined(redis, calls), strict=True):
        found.update(zip(group, map(bool, replies), strict=True))
    return [found[key] for key in keys]


async def memory_usage(redis: Valkey, key: str) -> int:
    return int(await redis.memory_usage(key, samples=0) or 0)


async def forget(redis: Valkey, key: str) -> None:
    """Drop a cached timeline: it is rebuilt from PostgreSQL on its next read (after an unmute or unblock,
    whose posts the reads in between dropped from it)."""
    await redis.delete(key)
