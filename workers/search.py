"""The `search` queue: keeping Meilisearch in step with the durable events (domain/search_indexing.py)."""

from __future__ import annotations

from domain.search_indexing import TagRecounts, index_jobs
from domain.subscriptions import SEARCH_QUEUE
from storage.jobs import Job
from storage.resources import Resources
from storage.search_indexes import meili_unavailable
from workers.runner import JobHandler, Queue, Unavailable

# Batches sized by count and by time: up to ~1,000 events, or what arrived while the previous batch was
# indexed and for 250 ms after: Meilisearch indexes one large batch far faster than many small ones, and
# this keeps index lag under 1 s.
BATCH_SIZE = 1000
LINGER_SECONDS = 0.25


def batch_handler(recounts: TagRecounts) -> JobHandler:
    """The queue's handler, with the hashtag recounts its worker process keeps across batches."""

    async def index_batch(res: Resources, jobs: list[Job]) -> None:
        try:
            await index_jobs(res, jobs, recounts)
        except Exception as exc:
            if meili_unavailable(exc):
                # Meilisearch is away: put the batch back without spending attempts; it catches up on return.
                raise Unavailable(f"Meilisearch unavailable: {exc!r}") from exc
            raise

    return index_batch


# One batch in flight per worker process. With two, the second loop sent its batch as soon as Meilisearch
# had taken the first, so Meilisearch kept working on small tasks, each paying the fixed cost (commit,
# statistics, prefixes): about half a core whatever the posting rate (bench/results/posting.md at 50, 200
# and 400 posts/s). With one, a batch holds what arrived while the previous one was indexed plus the
# linger, so tasks grow with the rate (alternating `bench posting` runs at 200 posts/s: Meilisearch 4.9
# and 4.1 ms per post with two loops and 100 ms, 3.4 and 3.4 with one and 250 ms). A full batch still
# claims the next at once.
CONCURRENCY = 1


def queue() -> Queue:
    handler = batch_handler(TagRecounts())
    return Queue(SEARCH_QUEUE, handler, batch_size=BATCH_SIZE, concurrency=CONCURRENCY, linger=LINGER_SECONDS)
