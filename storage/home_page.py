"""One page of a home timeline in one Valkey call: the home timeline's range, merged with the ranges of the
followed high-follower accounts' author timelines, cut to the page exactly, and (optionally) the cached
pieces and accounts the page shows (storage/post_cache.py `hydrate`).

Reading a page used to take three round trips (the home range, the author ranges, the pieces) and merged
and decoded every candidate entry in Python; on one Valkey a read is now one script call, and Python
decodes only the entries of the page. On a Valkey Cluster the keys of one page live in many slots, so the
page is read slot by slot: the home range (with its followed record), then the author ranges, pipelined
per node, merged here, then the pieces (storage/post_cache.py `hydrate`). Layout of the keys:
storage/timeline_cache.py.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from storage import post_cache, timeline_cache
from storage.keys import Valkey, author_key, one_shard
from storage.post_cache import HYDRATE_LUA, Hydrated, parse_hydrated
from storage.timeline_cache import AUTHOR_PREFIX, Entry, Range, Script, Slice, decode_entry, home_key

_ID = struct.Struct(">Q")

# KEYS[1]: the home timeline. ARGV: ttl, lower score, upper score, count per source, "1" newest first,
# exclusive lower and upper bounds as 8-byte ids ("" for none), limit, "1" to hydrate, "1" to skip missing
# author timelines. The author timelines' and the pieces' keys are derived from what the script reads, so it
# runs only where every key is on one shard (one Valkey); a cluster reads the same page slot by slot.
# Returns {0} when the home timeline is not built; {1, {author id8...}} when followed author timelines are
# missing (built by the caller, then asked again); else {2, short, entries, hydrated?}. `short` is 1 when a
# source filled its count but kept fewer than `limit` entries in bounds (ids sharing a score with a
# cursor): the caller asks again with a larger count. Post ids are compared as 8 bytes, never as strings
# (string comparison in Lua follows the server's locale) nor as Lua numbers (doubles hold 53 bits).
_HOME_PAGE = (
    HYDRATE_LUA
    + f"""
local home = KEYS[1]
if not redis.call('ZSCORE', home, '\\0') then return {{0}} end
local ttl, lo, hi, count, desc = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5] == '1'
local limit = tonumber(ARGV[8])

-- an 8-byte id as two exact 32-bit halves
local function halves(s)
  local b1, b2, b3, b4, b5, b6, b7, b8 = string.byte(s, 1, 8)
  return ((b1 * 256 + b2) * 256 + b3) * 256 + b4, ((b5 * 256 + b6) * 256 + b7) * 256 + b8
end
local function decimal(high, low)
  -- high * 2^32 + low, with 2^32 = 42949 * 10^5 + 67296: every partial result stays below 2^53
  local upper = high * 42949
  local rest = high * 67296 + low
  upper = upper + math.floor(rest / 100000)
  rest = rest % 100000
  if upper == 0 then return string.format('%d', rest) end
  return string.format('%.0f%05d', upper, rest)
end
local lo_h, lo_l, hi_h, hi_l
if ARGV[6] ~= '' then lo_h, lo_l = halves(ARGV[6]) end
if ARGV[7] ~= '' then hi_h, hi_l = halves(ARGV[7]) end
local function in_bounds(h, l)
  if lo_h and (h < lo_h or (h == lo_h and l <= lo_l)) then return false end
  if hi_h and (h > hi_h or (h == hi_h and l >= hi_l)) then return false end
  return true
end

-- Each source's range comes sorted exactly by id (equal scores are ordered by member bytes).
local sources, short = {{}}, 0
local function add_source(key, reposts)
  redis.call('EXPIRE', key, ttl)
  local members
  if desc then
    members = redis.call('ZRANGE', key, hi, lo, 'BYSCORE', 'REV', 'LIMIT', 0, count)
  else
    members = redis.call('ZRANGE', key, lo, hi, 'BYSCORE', 'LIMIT', 0, count)
  end
  if #members >= tonumber(count) and (lo_h or hi_h) then
    local kept = 0
    for _, m in ipairs(members) do
      if in_bounds(halves(m)) then kept = kept + 1 end
    end
    if kept < limit then short = 1 end
  end
  sources[#sources + 1] = {{m = members, i = 1, reposts = reposts}}
end
-- move a source to its next entry in bounds (and shown), keeping that entry's id halves
local function advance(s)
  while s.i <= #s.m do
    local m = s.m[s.i]
    if s.reposts or #m == 16 then
      local h, l = halves(m)
      if in_bounds(h, l) then
        s.h, s.l = h, l
        return
      end
    end
    s.i = s.i + 1
  end
  s.h = nil
end

add_source(home, true)  -- first: on equal ids the home timeline's copy wins
local followed = redis.call('ZRANGE', home, '-1', '-1', 'BYSCORE')[1] or '\\1'
local missing = {{}}
for i = 2, #followed - 8, 9 do
  local id8 = string.sub(followed, i, i + 7)
  local key = '{AUTHOR_PREFIX}{{' .. decimal(halves(id8)) .. '}}'
  if redis.call('ZSCORE', key, '\\0') then
    add_source(key, string.sub(followed, i + 8, i + 8) == '1')
  elseif ARGV[10] ~= '1' then
    missing[#missing + 1] = id8
  end
end
if #missing > 0 then return {{1, missing}} end

-- merge: the page's entries, newest first (or oldest first), each id once
for _, s in ipairs(sources) do advance(s) end
local entries, ids, last_h, last_l = {{}}, {{}}, nil, nil
while #entries < limit do
  local best
  for _, s in ipairs(sources) do
    if s.h and (not best or (desc and (s.h > best.h or (s.h == best.h and s.l > best.l)))
        or (not desc and (s.h < best.h or (s.h == best.h and s.l < best.l)))) then
      best = s
    end
  end
  if not best then break end
  if best.h ~= last_h or best.l ~= last_l then  -- a post in two sources comes out twice in a row
    entries[#entries + 1] = best.m[best.i]
    ids[#ids + 1] = decimal(best.h, best.l)
    last_h, last_l = best.h, best.l
  end
  best.i = best.i + 1
  advance(best)
end
if ARGV[9] ~= '1' then return {{2, short, entries}} end
return {{2, short, entries, hydrate(ids)}}
"""
)
HOME_PAGE = Script(_HOME_PAGE)


@dataclass(frozen=True)
class Bounds:
    """A page's exclusive id bounds, its size and direction, and how many entries to read per source."""

    lower: int | None
    upper: int | None
    limit: int
    count: int
    newest_first: bool


@dataclass(frozen=True)
class HomePage:
    entries: list[Entry]  # in the order read: newest first unless the bounds say otherwise
    short: bool  # a source may hold more entries in bounds: read again with a larger count
    hydrated: Hydrated | None


@dataclass(frozen=True)
class MissingAuthors:
    """Followed high-follower accounts whose author timeline is not cached."""

    author_ids: list[int]


async def read_home_page(
    redis: Valkey,
    account_id: int,
    bounds: Bounds,
    *,
    ttl: int,
    hydrate: bool,
    skip_missing: bool = False,
    key: str | None = None,
) -> HomePage | MissingAuthors | None:
    """One page of a built home timeline (refreshing the TTLs it reads); None when it is not built.
    `key`: another timeline of the same layout to read instead (a list timeline, storage/lists.py)."""
    key = key or home_key(account_id)
    if not one_shard(redis):
        return await _read_by_slot(redis, key, bounds, ttl=ttl, hydrate=hydrate, skip_missing=skip_missing)
    args: Sequence[str | int | bytes] = [
        ttl,
        "(0" if bounds.lower is None else f"{bounds.lower}",
        "+inf" if bounds.upper is None else f"{bounds.upper}",
        bounds.count,
        "1" if bounds.newest_first else "0",
        b"" if bounds.lower is None else _ID.pack(bounds.lower),
        b"" if bounds.upper is None else _ID.pack(bounds.upper),
        bounds.limit,
        "1" if hydrate else "0",
        "1" if skip_missing else "0",
    ]
    result = await HOME_PAGE.run(redis, [key], args)
    if result[0] == 0:
        return None
    if result[0] == 1:
        return MissingAuthors([_ID.unpack(id8)[0] for id8 in result[1]])
    entries = [decode_entry(member) for member in result[2]]
    hydrated = parse_hydrated([e.post_id for e in entries], result[3]) if hydrate else None
    return HomePage(entries, bool(result[1]), hydrated)


async def _read_by_slot(
    redis: Valkey, key: str, bounds: Bounds, *, ttl: int, hydrate: bool, skip_missing: bool
) -> HomePage | MissingAuthors | None:
    """The same page as HOME_PAGE answers, read one slot per call: the home timeline first, then the
    followed authors' timelines (one pipeline), merged here; then the pieces, slot by slot."""
    span = Range(
        "(0" if bounds.lower is None else f"{bounds.lower}",
        "+inf" if bounds.upper is None else f"{bounds.upper}",
        bounds.count,
        bounds.newest_first,
    )
    home = await timeline_cache.read(redis, key, span, ttl=ttl)
    if home is None:
        return None
    sources: list[tuple[Slice, bool]] = [(home, True)]  # first: on equal ids the home timeline's copy wins
    if home.followed:
        args = timeline_cache.read_args(ttl, span)
        calls: list[timeline_cache.ScriptCall] = [
            (timeline_cache.READ, [author_key(f.account_id)], args) for f in home.followed
        ]
        replies = await timeline_cache.run_pipelined(redis, calls)
        missing = []
        for followed, reply in zip(home.followed, replies, strict=True):
            found = timeline_cache.parse_slice(reply, span.count)
            if found is None:
                missing.append(followed.account_id)
            else:
                sources.append((found, followed.show_reposts))
        if missing and not skip_missing:
            return MissingAuthors(missing)

    def in_bounds(post_id: int) -> bool:
        return (bounds.lower is None or post_id > bounds.lower) and (bounds.upper is None or post_id < bounds.upper)

    short = False
    page: dict[int, Entry] = {}
    for found, reposts in sources:
        if found.full and (bounds.lower is not None or bounds.upper is not None):
            short = short or sum(1 for e in found.entries if in_bounds(e.post_id)) < bounds.limit
        for entry in found.entries:
            if (reposts or entry.reblog_of_id is None) and in_bounds(entry.post_id):
                page.setdefault(entry.post_id, entry)
    entries = sorted(page.values(), key=lambda e: e.post_id, reverse=bounds.newest_first)[: bounds.limit]
    hydrated = await post_cache.hydrate(redis, [e.post_id for e in entries]) if hydrate else None
    return HomePage(entries, short, hydrated)
