"""Each API process's cache of access tokens, so an authenticated request normally makes no token query.

- Keyed by the token's SHA-256 (`storage.tokens.hash_secret`; the token itself is never held), each entry
  lives `CHIRP_TOKEN_CACHE_SECONDS` from its PostgreSQL read, at most `CHIRP_TOKEN_CACHE_SIZE` entries
  (the oldest go first). Unknown tokens are not cached: a token just issued by another process works at once.
- Revocation: the revoking process, after its commit, drops the token here and publishes its id on
  `storage.tokens.REVOKED_CHANNEL`; every API process's listener drops it from its own cache.
- The cache answers only while its listener is subscribed. While the pub/sub connection is down it is
  empty and every request asks PostgreSQL; once re-subscribed it starts empty, since it may have missed
  revocations. So a revoked token outlives its revocation only when the publish itself failed (then at
  most the TTL) or for the moments a message is in flight.
- A lookup that raced a revocation must not put the revoked grant back: `put` is refused when any
  eviction happened since the lookup began (`generation`).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from config import Settings
from storage.keys import Valkey
from storage.pubsub import BroadcastCache, CacheListener, parse_ids
from storage.tokens import REVOKED_CHANNEL, TokenGrant

log = logging.getLogger("chirp.auth")


class TokenCache(BroadcastCache):
    def __init__(self, ttl_seconds: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(ttl_seconds, max_entries, clock)
        # hash → (expiry, grant), oldest first: one TTL for all, so insertion order is expiry order too.
        self._entries: OrderedDict[bytes, tuple[float, TokenGrant]] = OrderedDict()
        self._by_id: dict[int, bytes] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenCache:
        return cls(settings.token_cache_seconds, settings.token_cache_size)

    def __len__(self) -> int:
        return len(self._entries)

    def holds(self, token_id: int) -> bool:
        return token_id in self._by_id

    def get(self, key: bytes) -> TokenGrant | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, grant = entry
        if expires <= self._clock():
            self._remove(key)
            return None
        return grant

    def put(self, key: bytes, grant: TokenGrant, generation: int) -> None:
        """Remember `grant`, read from PostgreSQL after `generation` was taken, unless a revocation came since."""
        if not (self._live and self.enabled) or generation != self.generation:
            return
        now = self._clock()
        self._remove(key)
        self._drop_expired(now)
        while len(self._entries) >= self.max_entries:
            self._remove(next(iter(self._entries)))
        self._entries[key] = (now + self.ttl, grant)
        self._by_id[grant.token_id] = key

    def evict_ids(self, token_ids: Iterable[int]) -> None:
        """Forget these tokens (revoked); lookups already under way will not store what they read."""
        self.generation += 1
        for token_id in token_ids:
            key = self._by_id.get(token_id)
            if key is not None:
                self._remove(key)

    def apply(self, data: bytes | str) -> None:
        """A revocation message: drop its tokens (all of them when it cannot be read)."""
        ids = parse_ids(data)
        if ids is None:
            log.warning("unreadable token revocation message; emptying the token cache")
            self.resume()
        else:
            self.evict_ids(ids)

    def _clear(self) -> None:
        super()._clear()
        self._entries.clear()
        self._by_id.clear()

    def _remove(self, key: bytes) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._by_id.pop(entry[1].token_id, None)

    def _drop_expired(self, now: float) -> None:
        while self._entries:
            key, (expires, _) = next(iter(self._entries.items()))
            if expires > now:
                return
            self._remove(key)


class RevocationListener(CacheListener):
    """The process's own pub/sub connection on REVOKED_CHANNEL (`storage.pubsub.CacheListener`)."""

    def __init__(self, cache: TokenCache, redis_url: str, valkey: Valkey) -> None:
        super().__init__(cache, REVOKED_CHANNEL, redis_url, valkey, name="token cache")
