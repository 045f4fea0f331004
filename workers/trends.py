"""The trends pass as periodic work: every worker recomputes the trends every TRENDS_INTERVAL seconds. Two
workers running it at once write the same result, so no lock is needed (domain/trends.py)."""

from __future__ import annotations

from domain.trends import compute_trends
from storage.resources import Resources
from workers.runner import Periodic

TRENDS_INTERVAL = 300.0


async def refresh_trends(res: Resources) -> None:
    await compute_trends(res)


def periodic() -> Periodic:
    return Periodic("trends", TRENDS_INTERVAL, refresh_trends)
