"""Resident memory of the processes a benchmark runs, from /proc: one process, a process with its children
(a worker's decoding pool), and the peak while something runs (sampled in a thread)."""

from __future__ import annotations

import threading
from collections.abc import Callable


def rss_kib(pid: int) -> int:
    """A process's resident memory now (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
    except OSError:
        return 0


def tree_rss_kib(root: int) -> int:
    """RSS of a process and all its descendants."""
    return sum(rss_kib(pid) for pid in [root, *_descendants(root)])


def _descendants(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(p) for p in f.read().split()]
    except OSError:
        return []
    return kids + [grandchild for kid in kids for grandchild in _descendants(kid)]


class RssSampler:
    """Samples a process's resident memory every few milliseconds in a thread; keeps the peak."""

    def __init__(self, read_kib: Callable[[], int]) -> None:
        self._read = read_kib
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, self._read())
            self._stop.wait(0.005)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
