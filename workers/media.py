"""The `media` queue: finishing uploads after FINALIZE or complete, and the periodic expiry sweep."""

from __future__ import annotations

from domain.media import MEDIA_QUEUE
from domain.media_pipeline import expire_uploads, finish_upload
from storage.jobs import Job
from storage.resources import Resources
from workers.runner import Periodic, Queue

# Processing is CPU-bound (Pillow in a thread, ffmpeg in a subprocess): two at a time per worker process.
CONCURRENCY = 2
EXPIRY_INTERVAL = 60.0


async def process_media(res: Resources, jobs: list[Job]) -> None:
    for job in jobs:
        last = job.attempts >= res.settings.job_max_attempts
        await finish_upload(res, int(job.payload["media_id"]), last_attempt=last)


async def sweep_expired_uploads(res: Resources) -> None:
    await expire_uploads(res)


def queue() -> Queue:
    # One job per batch: a failing upload is retried alone, and one slow video holds up nothing else.
    return Queue(MEDIA_QUEUE, process_media, batch_size=1, concurrency=CONCURRENCY)


def periodic() -> Periodic:
    return Periodic("media-expiry", EXPIRY_INTERVAL, sweep_expired_uploads)
