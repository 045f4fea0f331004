"""Image decoding, kept out of the process that calls it: a small pool of processes, and a size check first.

A 142 KB PNG can declare 7000x7000 pixels and decode to hundreds of MiB; decoded inside the API, three at
once took it from 172 MiB to 1.5 GiB, and CPython kept the memory afterwards. So:
- `declared_pixels` reads only the image's header (Pillow's `Image.open` is lazy) and the caller refuses
  anything above `CHIRP_MEDIA_MAX_PIXELS` before a single pixel is decoded;
- `decode` runs Pillow work in a process pool of `CHIRP_MEDIA_DECODE_PROCESSES` processes, so at most that
  many images decode at once per process that asks, and the memory they take goes back to the system
  when a child is recycled (`max_tasks_per_child`), not to this process's heap;
- a decoding process ends when the process that started it does, however that one ends (SIGKILL
  included): otherwise each killed worker left its decoding processes behind, waiting for work forever.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

from PIL import Image, UnidentifiedImageError

T = TypeVar("T")

TASKS_PER_CHILD = 20
_pools: dict[int, ProcessPoolExecutor] = {}
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _end_with(parent_pid: int) -> None:
    """Pool initializer: ask Linux to SIGKILL this process when its parent ends (elsewhere, nothing), and
    end now if the parent is already gone (it ended before the request was made)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:
        os._exit(0)


def declared_pixels(path: Path) -> tuple[int, int] | None:
    """Width and height from the file's header, without decoding; None when it is no readable image."""
    try:
        with Image.open(path) as image:
            return image.size
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError):
        return None


def _pool(processes: int) -> ProcessPoolExecutor:
    pool = _pools.get(processes)
    if pool is None:
        # spawn, not fork: the caller is an asyncio process with threads and open sockets.
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            processes,
            mp_context=context,
            max_tasks_per_child=TASKS_PER_CHILD,
            initializer=_end_with,
            initargs=(os.getpid(),),
        )
        _pools[processes] = pool
    return pool


async def decode(processes: int, work: Callable[..., T], *args: object) -> T:
    """`work(*args)` in a decoding process; at most `processes` run at once, the rest wait their turn."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool(processes), work, *args)


def shutdown() -> None:
    """Stop the decoding processes (at process exit; concurrent.futures also does it on its own)."""
    while _pools:
        _, pool = _pools.popitem()
        pool.shutdown(wait=False, cancel_futures=True)
