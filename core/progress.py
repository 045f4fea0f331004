"""The one progress display for long commands (`chirp search reindex`, the bench's seeding): tqdm bars.

On a terminal each stage is a bar redrawn in place; elsewhere (a log, a pipe) each stage is one line when
it ends, so a log holds no carriage returns. A total that grows (rows written while we count) raises the
bar's total rather than passing 100%, and an empty stage shows `0/0 done` once.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from tqdm import tqdm

BAR_FORMAT = "{desc:<14} {percentage:3.0f}%|{bar:30}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"


class Progress:
    """Stages counted one after the other: `progress(stage, done, total)` (the domain's callback, absolute
    counts), or `progress.start(stage, total)` then `progress.advance(n)`. `close()` (or `with`) ends the last."""

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None) -> None:
        self._stream = sys.stderr if stream is None else stream
        self._live = self._stream.isatty() if live is None else live
        self._stage: str | None = None
        self._done = 0
        self._total = 0
        self._started = 0.0
        self._bar: tqdm[None] | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self._stage:
            self.start(stage, total)
        self._update(done, max(total, done))

    def start(self, stage: str, total: int) -> None:
        """End the stage under way, if any, and begin `stage` of `total` items."""
        self._finish()
        self._stage, self._done, self._total, self._started = stage, 0, total, time.monotonic()
        if self._live and total > 0:
            self._bar = tqdm(
                total=total, desc=stage, file=self._stream, bar_format=BAR_FORMAT, ascii=" #", mininterval=0.2
            )

    def advance(self, count: int) -> None:
        self._update(self._done + count, max(self._total, self._done + count))

    def close(self) -> None:
        self._finish()

    def _update(self, done: int, total: int) -> None:
        self._done, self._total = done, total
        if self._bar is not None:
            if total != self._bar.total:
                self._bar.total = total
            self._bar.update(done - self._bar.n)

    def _finish(self) -> None:
        if self._stage is None:
            return
        if self._bar is not None:
            self._bar.set_postfix_str("done", refresh=False)
            self._bar.close()
            self._bar = None
        else:
            seconds = time.monotonic() - self._started
            line = f"{self._stage:<14} {self._done:,}/{self._total:,} done in {seconds:.1f}s"
            print(line, file=self._stream, flush=True)
        self._stage = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
