"""The collector tuning of API processes (core/collector.py), in a child interpreter of its own: freezing
in the test process would keep every later test's leftovers."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import REPO_ROOT

_CHILD = textwrap.dedent(
    """
    import gc, weakref
    from core.collector import YOUNG_THRESHOLD, FrozenSurvivors

    now = [0.0]
    tuning = FrozenSurvivors(unfreeze_seconds=600, clock=lambda: now[0])
    tuning.install()
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    at_start = gc.get_freeze_count()

    class Node:
        pass

    # Long-lived objects made after start-up (a stream's) are frozen by the next full collection.
    kept = [Node() for _ in range(5000)]
    gc.collect()
    assert tuning.full_collections == 1
    assert gc.get_freeze_count() >= at_start + 5000, (at_start, gc.get_freeze_count())

    # A cycle that dies while frozen waits for the thaw...
    cycle = Node(); cycle.me = cycle
    gc.collect()  # frozen now
    watch = weakref.ref(cycle)
    del cycle
    gc.collect()
    assert watch() is not None
    # ...which comes with the first full collection after UNFREEZE_SECONDS, and the next one frees it.
    now[0] = 601.0
    gc.collect()
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert watch() is None
    assert gc.get_freeze_count() > 0  # and what lives on is frozen again
    tuning.uninstall()
    print("ok", len(kept))
    """
)


def test_full_collections_freeze_survivors_and_a_thaw_frees_frozen_cycles() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")
