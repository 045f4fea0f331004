"""The one id generator: Snowflake-style 64-bit ids that sort by creation time.

Layout (most significant first): 41 bits of milliseconds since CHIRP_EPOCH, then 22 bits naming the node
(one per running process that creates ids, 0-4095) and the sequence within the millisecond (0-1023):

    | time ms (41) | node low 10 bits (10) | node high 2 bits (2) | sequence (10) |

Why this order: ids used to carry a 10-bit node and a 12-bit sequence. Keeping the node's low 10 bits where
they were makes every id of nodes 0-1023 exactly what the old layout gave for a sequence below 1,024, so
processes of both layouts can run side by side during a rolling upgrade without colliding, while 12 node
bits cover the 3,000 API processes (plus workers) `docs/capacity.md` plans. 1,024 ids per millisecond is a
million a second per process, far beyond what one process writes; past it the generator borrows the next
millisecond. Ids are signed-64-bit safe (PostgreSQL bigint) and travel as strings in JSON, because
JavaScript numbers lose precision above 2**53.

Each process leases its node id (storage/node_leases.py); the generator refuses to mint once that lease
may have lapsed (`valid_until`), because another process may then hold the same node.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from core.errors import ApiError

CHIRP_EPOCH_MS = 1_577_836_800_000  # 2020-01-01T00:00:00Z
NODE_BITS = 12
SEQUENCE_BITS = 10
MAX_NODE = (1 << NODE_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
TIME_SHIFT = NODE_BITS + SEQUENCE_BITS
_LOW_NODE_BITS = 10  # where the node sat in the first layout


def node_bits(node_id: int) -> int:
    """The 22 low bits of an id for `node_id` at sequence 0."""
    low, high = node_id & ((1 << _LOW_NODE_BITS) - 1), node_id >> _LOW_NODE_BITS
    return (low << (TIME_SHIFT - _LOW_NODE_BITS)) | (high << SEQUENCE_BITS)


def node_of(snowflake: int) -> int:
    """The node that made an id."""
    low = (snowflake >> (TIME_SHIFT - _LOW_NODE_BITS)) & ((1 << _LOW_NODE_BITS) - 1)
    high = (snowflake >> SEQUENCE_BITS) & ((1 << (NODE_BITS - _LOW_NODE_BITS)) - 1)
    return (high << _LOW_NODE_BITS) | low


class NodeLeaseLapsed(ApiError):
    """This process could not renew its node id lease in time, so it mints no ids until it has."""

    def __init__(self, node_id: int) -> None:
        super().__init__(503, f"node {node_id}'s lease lapsed (PostgreSQL unreachable?); try again shortly")


class IdGenerator:
    """Hands out unique, time-ordered ids for one process (`node_id` must differ between live processes).

    `after_ms`: the last millisecond an earlier holder of this node used (its lease records it), so a
    process whose clock runs behind that holder's never repeats its ids. `valid_until` (time.monotonic())
    is moved forward by the lease's heartbeat; past it, `next_id` raises `NodeLeaseLapsed`.
    """

    def __init__(self, node_id: int, *, after_ms: int = -1) -> None:
        if not 0 <= node_id <= MAX_NODE:
            raise ValueError(f"node id must be 0..{MAX_NODE}, got {node_id}")
        self.node_id = node_id
        self._node_bits = node_bits(node_id)
        self._last_ms = after_ms + 1 if after_ms >= 0 else -1
        self._sequence = 0
        self.valid_until = math.inf

    @property
    def last_ms(self) -> int:
        """The last millisecond (since CHIRP_EPOCH's origin, UNIX ms) an id was minted at, -1 before any."""
        return self._last_ms

    def next_id(self) -> int:
        if time.monotonic() >= self.valid_until:
            raise NodeLeaseLapsed(self.node_id)
        now_ms = int(time.time() * 1000)
        # A clock that steps back must not produce ids that collide or sort before issued ones.
        now_ms = max(now_ms, self._last_ms)
        if now_ms == self._last_ms:
            self._sequence = (self._sequence + 1) & MAX_SEQUENCE
            if self._sequence == 0:  # 1,024 ids in one millisecond: borrow the next one.
                now_ms = self._last_ms + 1
        else:
            self._sequence = 0
        self._last_ms = now_ms
        return ((now_ms - CHIRP_EPOCH_MS) << TIME_SHIFT) | self._node_bits | self._sequence


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
