"""The one id generator: Snowflake-style 64-bit ids that sort by creation time.

Layout (most significant first): 41 bits of milliseconds since CHIRP_EPOCH, 10 bits of node id (one per
running process that creates ids), 12 bits of sequence within the millisecond. Ids are signed-64-bit safe
(PostgreSQL bigint) and travel as strings in JSON, because JavaScript numbers lose precision above 2**53.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

CHIRP_EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
NODE_BITS = 10
SEQUENCE_BITS = 12
MAX_NODE = (1 << NODE_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
TIME_SHIFT = NODE_BITS + SEQUENCE_BITS


class IdGenerator:
    """Hands out unique, time-ordered ids for one process (`node_id` must differ between processes)."""

    def __init__(self, node_id: int) -> None:
        if not 0 <= node_id <= MAX_NODE:
            raise ValueError(f"node id must be 0..{MAX_NODE}, got {node_id}")
        self._node_id = node_id
        self._last_ms = -1
        self._sequence = 0

    def next_id(self) -> int:
        now_ms = int(time.time() * 1000)
        # A clock that steps back must not produce ids that collide or sort before issued ones.
        now_ms = max(now_ms, self._last_ms)
        if now_ms == self._last_ms:
            self._sequence = (self._sequence + 1) & MAX_SEQUENCE
            if self._sequence == 0:  # 4,096 ids in one millisecond: borrow the next one.
                now_ms = self._last_ms + 1
        else:
            self._sequence = 0
        self._last_ms = now_ms
        return ((now_ms - CHIRP_EPOCH_MS) << TIME_SHIFT) | (self._node_id << SEQUENCE_BITS) | self._sequence


def id_at(moment: datetime) -> int:
    """The smallest id created at `moment`: a cursor for "posts since this time"."""
    ms = int(moment.timestamp() * 1000)
    return max(ms - CHIRP_EPOCH_MS, 0) << TIME_SHIFT


def created_at(snowflake: int) -> datetime:
    """When an id was made, to the millisecond."""
    return datetime.fromtimestamp(((snowflake >> TIME_SHIFT) + CHIRP_EPOCH_MS) / 1000, tz=UTC)


def parse_id(raw: str | int | None) -> int | None:
    """A client-supplied id, or None when it cannot be one of ours (which callers turn into 404 or 422)."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        return None
    text = str(raw).strip()
    # ASCII digits only: str.isdigit() also says yes to "³" and "٣", which int() then refuses or reads as 3.
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if 0 < value < (1 << 63) else None
