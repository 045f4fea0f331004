"""The media worker: retriable after being killed mid-job, never showing half-processed media, and the
periodic sweep of uploads that were never finished."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable

import aiohttp
import media_samples as samples
import psutil
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from conftest import UserFactory

from domain.media_pipeline import expire_uploads, finish_upload
from storage import media as media_store
from storage import media_files as files
from storage.resources import Resources
from workers.queues import all_periodic, all_queues
from workers.runner import JobRunner

Client = TestClient[web.Request, web.Application]


async def _spawn_worker(stack_env: dict[str, str]) -> asyncio.subprocess.Process:
    env = {**os.environ, **stack_env, "CHIRP_JOB_LEASE_SECONDS": "3", "CHIRP_NODE_ID": "7"}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "worker",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


def _children(pid: int, wanted: Callable[[psutil.Process], bool]) -> list[psutil.Process]:
    """The process's descendants for which `wanted` holds (those gone meanwhile left out)."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            if wanted(child):
                found.append(child)
    return found


def _ffmpeg_children(pid: int) -> list[psutil.Process]:
    return _children(pid, lambda p: "ffmpeg" in p.name() or any("ffmpeg" in part for part in p.cmdline()[:1]))


def _python_children(pid: int) -> list[psutil.Process]:
    """Its multiprocessing pool processes and their resource tracker."""
    return _children(pid, lambda p: any("multiprocessing" in part for part in p.cmdline()))


@pytest.mark.processes  # starts a worker process of its own
async def test_a_worker_killed_mid_job_leaves_the_media_retriable_and_invisible(
    client: Client, res: Resources, make_user: UserFactory, stack_env: dict[str, str]
) -> None:
    alice = await make_user("alice")
    form = aiohttp.FormData()
    # Random pixels make the GIF-to-video conversion take about a second: time to catch it in the act.
    form.add_field("file", samples.noisy_gif(400, 300, 60), filename="noise.gif", content_type="image/gif")
    response = await client.post("/api/v2/media", data=form, headers=alice.headers)
    assert response.status == 202
    media_id = int((await response.json())["id"])

    first = await _spawn_worker(stack_env)
    killed_ffmpeg: list[psutil.Process] = []
    decoders: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 60
        while not (killed_ffmpeg := _ffmpeg_children(first.pid)):
            assert time.monotonic() < deadline, "the worker never started processing"
            assert first.returncode is None, "the worker exited"
            await asyncio.sleep(0.01)
        decoders = _python_children(first.pid)  # the image-decoding pool (and its resource tracker)
        assert decoders, "the worker had no decoding processes to leave behind"
        first.send_signal(signal.SIGKILL)  # mid-job: ffmpeg is converting
        await first.wait()
        # The decoding processes end with the worker, by themselves (domain/image_decoding.py).
        _, alive = await asyncio.to_thread(psutil.wait_procs, decoders, 10)
        assert not alive, f"decoding processes outlived the killed worker: {alive}"
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
        for child in [*killed_ffmpeg, *decoders]:  # ffmpeg is orphaned by the kill; stop it ourselves
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()

    row = await media_store.get_media(res.db, media_id)
    assert row is not None and row["state"] == "in_progress"
    assert row["file_key"] is None and row["preview_key"] is None and row["meta"] is None
    shown = await client.get(f"/api/v1/media/{media_id}", headers=alice.headers)
    assert shown.status == 206 and (await shown.json())["url"] is None
    assert await res.db.fetchval("SELECT attempts FROM jobs WHERE queue = 'media'") == 1

    second = await _spawn_worker(stack_env)
    try:
        deadline = time.monotonic() + 90
        while (row := await media_store.get_media(res.db, media_id)) is not None and row["state"] != "succeeded":
            assert row["state"] != "failed", row["error_message"]
            assert time.monotonic() < deadline, "the retry never finished"
            await asyncio.sleep(0.1)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(second.wait(), 20)
        except TimeoutError:
            second.kill()
            await second.wait()

    assert row is not None
    shown = await client.get(f"/api/v1/media/{media_id}", headers=alice.headers)
    assert shown.status == 200
    entity = await shown.json()
    assert entity["type"] == "gifv" and entity["meta"]["width"] == 400
    # Only the finished attempt's two files remain, and the job is done.
    outputs = await files.keys_under(res.s3, res.settings.s3_bucket, files.output_prefix(media_id))
    assert sorted(outputs) == sorted([row["file_key"], row["preview_key"]])
    assert await res.db.fetchval("SELECT count(*) FROM jobs WHERE queue = 'media'") == 0


async def test_an_attempt_that_lost_its_lease_cannot_publish(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    form = aiohttp.FormData()
    form.add_field("file", samples.mp4(), filename="clip.mp4", content_type="video/mp4")
    media_id = int((await (await client.post("/api/v2/media", data=form, headers=alice.headers)).json())["id"])
    stale = await media_store.start_attempt(res.db, media_id, "stale", ("pending",))
    assert stale is not None
    # The next attempt takes over the in-progress media (its worker died, as far as anyone can tell)...
    row = await finish_upload(res, media_id)
    assert row is not None and row["state"] == "succeeded" and row["attempt"] != "stale"
    # ...and the old attempt, should it wake up, can no longer publish or fail it.
    assert not await media_store.publish(
        res.db,
        media_id,
        "stale",
        kind="image",
        content_type="image/png",
        file_key="x",
        preview_key="y",
        file_size=1,
        meta={},
        blurhash="",
    )
    assert not await media_store.mark_failed(res.db, media_id, "stale", code=1, name="X", message="x")
    # The job that was enqueued finds the media done and leaves it as it is.
    assert await JobRunner(res, all_queues()).drain("media") == 1
    again = await media_store.get_media(res.db, media_id)
    assert again is not None and again["file_key"] == row["file_key"]


async def test_unfinished_chunked_uploads_are_swept_with_their_segments(
    client: Client, res: Resources, make_user: UserFactory
) -> None:
    alice = await make_user("alice")
    init = await client.post(
        "/api/v1/media/upload",
        data={"command": "INIT", "media_type": "video/mp4", "total_bytes": "5000"},
        headers=alice.headers,
    )
    media_id = (await init.json())["media_id_string"]
    form = aiohttp.FormData()
    form.add_fields(("command", "APPEND"), ("media_id", media_id), ("segment_index", "0"))
    form.add_field("media", b"x" * 2000, filename="blob")
    assert (await client.post("/api/v1/media/upload", data=form, headers=alice.headers)).status == 204
    prefix = files.upload_prefix(int(media_id))
    bucket = res.settings.s3_bucket
    assert len(await files.keys_under(res.s3, bucket, prefix)) == 1

    await res.db.execute("UPDATE media SET expires_at = now() - interval '1 minute' WHERE id = $1", int(media_id))
    sweep = next(p for p in all_periodic() if p.name == "media-expiry")
    await sweep.task(res)
    assert await files.keys_under(res.s3, bucket, prefix) == []
    assert await res.db.fetchval("SELECT count(*) FROM media") == 0
    assert await res.db.fetchval("SELECT count(*) FROM media_segments") == 0
    gone = await client.post(
        "/api/v1/media/upload", data={"command": "FINALIZE", "media_id": media_id}, headers=alice.headers
    )
    assert gone.status == 404
    assert await expire_uploads(res) == 0  # nothing left to do: safe to run again
