"""Each API process's cache of its readers' marks on the pages they read, so that reading a page again
(the home timeline a client polls, a thread it reopens) makes no PostgreSQL query.

Why: assembling a page from the post cache costs one Valkey call and one PostgreSQL query, the viewer's
marks (`storage.timelines.viewer_marks`: likes, reposts, reactions, bookmarks, pins, muted conversations,
the rules' stamp and the suspended authors). That query is most of a warm home read's cost, and the same
reader asks it again and again with the same posts.

- An entry is one answer of that query for one viewer: the posts and authors it was asked about, and what
  it said. A later page asking about a subset of them is answered from it exactly, as the query would.
  Pages with restricted posts (private or direct posts of others: who follows whom, who is mentioned) are
  not cached; they always ask PostgreSQL.
- Each entry lives `CHIRP_MARKS_CACHE_SECONDS` from its PostgreSQL read, at most `CHIRP_MARKS_CACHE_SIZE`
  viewers (the oldest go first).
- What changes an entry is nearly always its own viewer's write (a like, a bookmark, a mute, a filter):
  after every write request, the API drops the writer's entry here and publishes the writer's id on
  `MARKS_CHANNEL` (`api/viewer_marks.py`). The few changes made by someone else publish too: a block
  (it moves the blocked account's rules' stamp, `domain/blocks.py`), and moderation (a suspension changes
  what every viewer sees: everything is dropped, `domain/moderation.py`).
- As with the token cache (`storage/token_cache.py`): the cache answers only while its listener is
  subscribed and starts empty when it re-subscribes; a lookup that raced a drop of its viewer does not
  store what it read (`stamp`). So an entry outlives a change only while the message is in flight, or when
  the publish itself failed (then at most the TTL).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

import orjson

from config import Settings
from storage.keys import Valkey
from storage.pubsub import BroadcastCache, CacheListener, parse_ids
from storage.timelines import ViewerMarks

log = logging.getLogger("chirp.marks")

# Account ids whose marks changed, as a JSON list; anything else (`EVERYONE`) drops every entry.
MARKS_CHANNEL = "chirp:marks:changed"
EVERYONE = b'"everyone"'

Stamp = tuple[int, int]


@dataclass(frozen=True, slots=True)
class _Entry:
    expires: float
    post_ids: frozenset[int]
    authors: frozenset[int]
    marks: ViewerMarks


class MarksCache(BroadcastCache):
    def __init__(self, ttl_seconds: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(ttl_seconds, max_entries, clock)
        # viewer → entry, oldest first: one TTL for all, so insertion order is expiry order too.
        self._entries: OrderedDict[int, _Entry] = OrderedDict()
        # How often each viewer was dropped (`stamp`); forgotten, with a new generation, when it grows large.
        self._drops: dict[int, int] = {}
        self.hits = 0
        self.misses = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> MarksCache:
        return cls(settings.marks_cache_seconds, settings.marks_cache_size)

    def __len__(self) -> int:
        return len(self._entries)

    def holds(self, viewer_id: int) -> bool:
        return viewer_id in self._entries

    def stamp(self, viewer_id: int) -> Stamp:
        """Taken before reading PostgreSQL, handed to `put`: tells whether the viewer was dropped meanwhile."""
        return self.generation, self._drops.get(viewer_id, 0)

    def get(self, viewer_id: int, post_ids: Collection[int], authors: Collection[int]) -> ViewerMarks | None:
        """The marks of an entry that was asked about all of `post_ids` and `authors`, else None. Its sets
        may hold more posts and authors than asked about; the assembly only looks up those it shows."""
        entry = self._entries.get(viewer_id)
        if entry is None:
            self.misses += 1
            return None
        if entry.expires <= self._clock():
            self._entries.pop(viewer_id, None)
            self.misses += 1
            return None
        if not (entry.post_ids.issuperset(post_ids) and entry.authors.issuperset(authors)):
            self.misses += 1
            return None
        self.hits += 1
        return entry.marks

    def put(
        self, viewer_id: int, post_ids: Iterable[int], authors: Iterable[int], marks: ViewerMarks, stamp: Stamp
    ) -> None:
        """Remember the query's answer for `viewer_id`, read after `stamp` was taken, unless the viewer (or
        everything) was dropped since."""
        if not (self._live and self.enabled) or stamp != self.stamp(viewer_id):
            return
        now = self._clock()
        self._entries.pop(viewer_id, None)
        self._drop_expired(now)
        while len(self._entries) >= self.max_entries:
            self._entries.popitem(last=False)
        self._entries[viewer_id] = _Entry(now + self.ttl, frozenset(post_ids), frozenset(authors), marks)

    def drop(self, account_ids: Iterable[int]) -> None:
        """Forget these viewers' entries; lookups of theirs already under way will not store what they read."""
        if len(self._drops) >= 4 * max(self.max_entries, 1):
            self._drops.clear()
            self.generation += 1  # every stamp taken before is refused, as the counts it held are gone
        for account_id in account_ids:
            self._drops[account_id] = self._drops.get(account_id, 0) + 1
            self._entries.pop(account_id, None)

    def forget_everyone(self) -> None:
        """Drop every entry (what anyone sees changed); lookups under way will not store what they read."""
        self._clear()

    def apply(self, data: bytes | str) -> None:
        """A message from MARKS_CHANNEL: drop its viewers, or everyone."""
        ids = parse_ids(data)
        if ids is None:
            if data not in (EVERYONE, EVERYONE.decode()):
                log.warning("unreadable marks message; emptying the marks cache")
            self.forget_everyone()
        else:
            self.drop(ids)

    def _clear(self) -> None:
        super()._clear()
        self._entries.clear()
        self._drops.clear()

    def _drop_expired(self, now: float) -> None:
        while self._entries:
            viewer_id, entry = next(iter(self._entries.items()))
            if entry.expires > now:
                return
            del self._entries[viewer_id]


async def publish_changed(redis: Valkey, account_ids: Collection[int] | None) -> None:
    """Tell every API process that these accounts' marks changed (None: everyone's)."""
    await redis.publish(MARKS_CHANNEL, EVERYONE if account_ids is None else orjson.dumps(list(account_ids)))


class MarksListener(CacheListener):
    """The process's own pub/sub connection on MARKS_CHANNEL (`storage.pubsub.CacheListener`)."""

    def __init__(self, cache: MarksCache, redis_url: str, valkey: Valkey) -> None:
        super().__init__(cache, MARKS_CHANNEL, redis_url, valkey, name="marks cache")
