"""Short garbage-collector pauses in a process that holds many long-lived objects (an API process's streams).

Why: CPython's full collection walks every tracked object that is not frozen. An API process holding
10,000 websockets tracks about 825,000 objects, so each full collection stalled every stream for about
0.6 s, about once a minute under load (the p99 of `bench streaming_capacity`). Most of those objects live
as long as their connection, and a full collection finds nothing to free among them.

What: right after each full collection, everything still alive is frozen (`gc.freeze()`: moved to the
permanent generation, which collections skip), so the next full collection walks only what survived
since, and its pause is in proportion to that, not to every connection held. A frozen object freed by
its reference count is freed as ever; only a reference cycle that dies after being frozen waits, so every
`UNFREEZE_SECONDS` the permanent generation is thawed and the next full collection walks (and frees)
everything once: one long pause per that interval instead of one a minute. The young generations are
collected less often (`YOUNG_THRESHOLD` allocations, not 700), so fewer short-lived objects (a frame in
flight, a request's) live long enough to be promoted, and full collections come less often.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

YOUNG_THRESHOLD = 10_000  # allocations between collections of the youngest generation (CPython: 700)
MIDDLE_THRESHOLD = 10  # young collections between middle ones (CPython's default)
OLD_THRESHOLD = 10  # middle collections between full ones (CPython's; it also waits for 25% growth)
UNFREEZE_SECONDS = 600.0


class FrozenSurvivors:
    """Freezes what each full collection leaves alive, and thaws it all every `unfreeze_seconds`."""

    def __init__(self, *, unfreeze_seconds: float = UNFREEZE_SECONDS, clock: Callable[[], float] = time.monotonic):
        self._unfreeze_seconds = unfreeze_seconds
        self._clock = clock
        self._thawed_at = clock()
        self.full_collections = 0

    def install(self) -> None:
        """Freeze what start-up allocated, tune the generations, and freeze after each full collection."""
        gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
        gc.freeze()
        gc.callbacks.append(self._after_collection)

    def uninstall(self) -> None:
        if self._after_collection in gc.callbacks:
            gc.callbacks.remove(self._after_collection)

    def _after_collection(self, phase: str, info: dict[str, Any]) -> None:
        if phase != "stop" or info.get("generation") != 2:
            return
        self.full_collections += 1
        now = self._clock()
        if now - self._thawed_at >= self._unfreeze_seconds:
            # Cycles that died while frozen are walked, and freed, by the next full collection.
            gc.unfreeze()
            self._thawed_at = now
        else:
            gc.freeze()
