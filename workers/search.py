"""The `search` queue: keeping Meilisearch in step with the durable events (domain/search_indexing.py)."""

from __future__ import annotations

from domain.search_indexing import index_jobs
from domain.subscriptions import SEARCH_QUEUE
from storage.jobs import Job
from storage.resources import Resources
from storage.search_indexes import meili_unavailable
from workers.runner import Queue, Unavailable

# Up to ~1,000 events per batch, or what arrived within 100 ms of the previous batch: Meilisearch
# indexes one large batch far faster than many small ones, and 100 ms keeps index lag well under 1 s.
BATCH_SIZE = 1000
LINGER_SECONDS = 0.1


async def index_batch(res: Resources, jobs: list[Job]) -> None:
    try:
        await index_jobs(res, jobs)
    except Exception as exc:
        if meili_unavailable(exc):
            # Meilisearch is away: put the batch back without spending attempts; it catches up on return.
            raise Unavailable(f"Meilisearch unavailable: {exc!r}") from exc
        raise


# Two batches in flight per worker process: the indexing lock serialises reading and sending, but one
# batch's wait for Meilisearch overlaps the next one's sending, so Meilisearch is never idle waiting for us.
CONCURRENCY = 2


def queue() -> Queue:
    return Queue(SEARCH_QUEUE, index_batch, batch_size=BATCH_SIZE, concurrency=CONCURRENCY, linger=LINGER_SECONDS)
