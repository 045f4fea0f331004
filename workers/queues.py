"""Every queue the worker process serves and every periodic task it runs, in one list each.

A capability adds its queue here (fan-out, search indexing, media processing) and subscribes the queue to
the domain events it needs in `domain.events`.
"""

from __future__ import annotations

from workers.runner import Periodic, Queue


def all_queues() -> list[Queue]:
    return []


def all_periodic() -> list[Periodic]:
    return []
