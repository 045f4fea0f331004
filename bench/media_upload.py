"""Chunked media upload (INIT / APPEND 5 MB / FINALIZE) against a direct multipart PUT of the same file to
the same S3, in the same run; then the API process's memory during 10 parallel chunked uploads.

    python -m bench media_upload [--tiny] [--size-mb 100] [--runs 5] [--parallel 10]

Goals (issue): chunked throughput >= 80% of the direct PUT; API RSS growth < 50 MB during the parallel
uploads. The file is a real H.264 MP4 made by ffmpeg. Loopback only; every loop is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench.harness import ChirpProcess, Report, bench_stack, log, spawn_api, spawn_worker
from bench.memory import RssSampler

SEGMENT = 5_000_000  # what Twitter's own sample uploader sends
S3_PART = 5 * 1024 * 1024  # the smallest part S3 takes: the closest direct counterpart of a 5 MB APPEND
GOAL_RATIO = 0.8
GOAL_RSS_MB = 50


def make_video(path: Path, size: int) -> None:
    """A real MP4 of about `size` bytes: noisy test pattern, nearly lossless, so it barely compresses."""
    import subprocess

    from domain.media_processing import ffmpeg_exe

    subprocess.run(
        [
            ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30",
            "-vf", "noise=alls=25:allf=t", "-t", "120", "-fs", str(size), "-c:v", "libx264", "-preset", "ultrafast",
            "-crf", "10", "-pix_fmt", "yuv420p", str(path),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip


async def make_token(env: dict[str, str]) -> str:
    from config import Settings
    from storage.accounts import insert_account
    from storage.resources import open_resources
    from storage.tokens import issue_token

    async with open_resources(Settings.from_env(env), db_pool_size=2) as res:
        account_id = res.ids.next_id()
        await insert_account(res.db, account_id, username="bench", email="bench@example.test", password_hash="!")
        issued = await issue_token(res.db, res.ids.next_id(), app_id=None, account_id=account_id, scopes=("write",))
        return issued.access_token


async def direct_multipart_put(env: dict[str, str], path: Path) -> float:
    """Seconds to PUT the file to S3 as a multipart upload of 5 MiB parts, one after another."""
    from config import Settings
    from storage.resources import open_s3

    settings = Settings.from_env(env)
    key = f"bench/direct-{time.monotonic_ns()}"
    async with open_s3(settings) as s3:
        started = time.perf_counter()
        upload = await s3.create_multipart_upload(Bucket=settings.s3_bucket, Key=key, ContentType="video/mp4")
        parts = []
        with path.open("rb") as f:
            number = 1
            while chunk := f.read(S3_PART):
                done = await s3.upload_part(
                    Bucket=settings.s3_bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number, Body=chunk
                )
                parts.append({"PartNumber": number, "ETag": done["ETag"]})
                number += 1
        await s3.complete_multipart_upload(
            Bucket=settings.s3_bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
        )
        elapsed = time.perf_counter() - started
        await s3.delete_object(Bucket=settings.s3_bucket, Key=key)
    return elapsed


async def direct_presigned_put(env: dict[str, str], path: Path, session: aiohttp.ClientSession) -> float:
    """Seconds for the same multipart PUT through pre-signed part URLs (unsigned payload, as browsers and
    the direct-upload flow send it), one part after another."""
    from config import Settings
    from storage import media_files
    from storage.resources import open_s3

    settings = Settings.from_env(env)
    bucket, key = settings.s3_bucket, f"bench/presigned-{time.monotonic_ns()}"
    async with open_s3(settings) as s3:
        started = time.perf_counter()
        upload_id = await media_files.create_multipart(s3, bucket, key, content_type="video/mp4")
        etags = []
        with path.open("rb") as f:
            number = 1
            while chunk := f.read(S3_PART):
                url = await media_files.presign_part(
                    s3, bucket, key, upload_id=upload_id, part_number=number, length=len(chunk), expires=600
                )
                async with session.put(url, data=chunk) as response:
                    assert response.status == 200, await response.text()
                    etags.append(response.headers["ETag"])
                number += 1
        await media_files.complete_multipart(s3, bucket, key, upload_id, etags)
        elapsed = time.perf_counter() - started
        await s3.delete_object(Bucket=bucket, Key=key)
    return elapsed


async def chunked_upload(
    session: aiohttp.ClientSession, base: str, token: str, path: Path, size: int
) -> tuple[str, float]:
    """INIT, APPEND every 5 MB segment, FINALIZE: the media id and the seconds it took."""
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{base}/api/v1/media/upload"
    started = time.perf_counter()
    init = {"command": "INIT", "media_type": "video/mp4", "total_bytes": str(size), "media_category": "tweet_video"}
    async with session.post(url, data=init, headers=headers) as response:
        assert response.status == 202, await response.text()
        media_id = (await response.json())["media_id_string"]
    with path.open("rb") as f:
        index = 0
        while chunk := f.read(SEGMENT):
            form = aiohttp.FormData()
            form.add_fields(("command", "APPEND"), ("media_id", media_id), ("segment_index", str(index)))
            form.add_field("media", chunk, filename="blob", content_type="application/octet-stream")
            async with session.post(url, data=form, headers=headers) as response:
                assert response.status == 204, await response.text()
            index += 1
    async with session.post(url, data={"command": "FINALIZE", "media_id": media_id}, headers=headers) as response:
        assert response.status == 201, await response.text()
    return media_id, time.perf_counter() - started


async def wait_processed(session: aiohttp.ClientSession, base: str, token: str, media_id: str, limit: float) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + limit
    state = "pending"
    while time.monotonic() < deadline:
        params = {"command": "STATUS", "media_id": media_id}
        async with session.get(f"{base}/api/v1/media/upload", params=params, headers=headers) as response:
            state = str((await response.json())["processing_info"]["state"])
        if state in ("succeeded", "failed"):
            return state
        await asyncio.sleep(0.2)
    return state


async def measure(
    env: dict[str, str], api: ChirpProcess, path: Path, size: int, args: argparse.Namespace
) -> dict[str, Any]:
    base = f"http://127.0.0.1:{api.port}"
    token = await make_token(env)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        # Warm-up (connections, code paths, S3 volumes), which also times the worker finishing one upload.
        worker = spawn_worker(env)
        try:
            media_id, _ = await chunked_upload(session, base, token, path, size)
            started = time.perf_counter()
            state = await wait_processed(session, base, token, media_id, limit=300)
            processed_seconds = time.perf_counter() - started
        finally:
            worker.stop()  # the runs below measure uploads alone
        await direct_multipart_put(env, path)

        async def boto3_put() -> float:
            return await direct_multipart_put(env, path)

        async def presigned_put() -> float:
            return await direct_presigned_put(env, path, session)

        async def chunked() -> float:
            return (await chunked_upload(session, base, token, path, size))[1]

        direct_times: list[float] = []
        presigned_times: list[float] = []
        chunked_times: list[float] = []
        steps: list[tuple[Callable[[], Awaitable[float]], list[float]]] = [
            (boto3_put, direct_times),
            (presigned_put, presigned_times),
            (chunked, chunked_times),
        ]
        for run in range(args.runs):  # rotate which goes first, so drift in the machine hits all alike
            for step in range(len(steps)):
                measure_one, into = steps[(run + step) % len(steps)]
                into.append(await measure_one())
            log(
                f"run {run + 1}: direct (boto3) {size / direct_times[-1] / 1e6:.1f} MB/s, "
                f"direct (pre-signed parts) {size / presigned_times[-1] / 1e6:.1f} MB/s, "
                f"chunked {size / chunked_times[-1] / 1e6:.1f} MB/s"
            )

        baseline_kib = api.rss_kib()
        with RssSampler(api.rss_kib) as sampler:
            parallel_started = time.perf_counter()
            results = await asyncio.gather(
                *(chunked_upload(session, base, token, path, size) for _ in range(args.parallel))
            )
            parallel_seconds = time.perf_counter() - parallel_started
    return {
        "size": size,
        "direct": statistics.median(direct_times),
        "presigned": statistics.median(presigned_times),
        "chunked": statistics.median(chunked_times),
        # Each run's chunked upload against the faster direct PUT of the same run: robust to a machine whose
        # load drifts between runs, which the medians above are not.
        "paired_ratios": [min(d, p) / c for d, p, c in zip(direct_times, presigned_times, chunked_times, strict=True)],
        "times": {"direct_boto3": direct_times, "direct_presigned": presigned_times, "chunked": chunked_times},
        "state": state,
        "processed_seconds": processed_seconds,
        "rss_baseline_kib": baseline_kib,
        "rss_peak_kib": sampler.peak_kib,
        "parallel_uploads": len(results),
        "parallel_seconds": parallel_seconds,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench media_upload")
    parser.add_argument("--tiny", action="store_true", help="a seconds-long run on a 12 MB file (proves it runs)")
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=10)
    args = parser.parse_args(argv)
    if args.tiny:
        args.size_mb, args.runs, args.parallel = 12, 1, 2
    report = Report("media_upload", params={"size_mb": args.size_mb, "runs": args.runs, "parallel": args.parallel})
    with tempfile.TemporaryDirectory(prefix="chirp-bench-media-") as tmp:
        path = Path(tmp) / "video.mp4"
        log(f"making a {args.size_mb} MB MP4")
        make_video(path, args.size_mb * 1_000_000)
        with bench_stack() as env:
            api = spawn_api(env)
            try:
                result = asyncio.run(measure(env, api, path, path.stat().st_size, args))
            finally:
                api.stop()
    size = result["size"]
    # The goal is judged against the faster of the two direct uploads measured in this run.
    fastest = min(
        ("boto3, signed payload", result["direct"]), ("pre-signed parts", result["presigned"]), key=lambda x: x[1]
    )
    report.figure("direct multipart PUT, boto3 (5 MiB parts, signed payload)", size / result["direct"] / 1e6, "MB/s")
    report.figure("direct multipart PUT, pre-signed 5 MiB parts", size / result["presigned"] / 1e6, "MB/s")
    report.figure(
        "chunked upload throughput (INIT/APPEND 5 MB/FINALIZE), median",
        size / result["chunked"] / 1e6,
        "MB/s",
        ceiling=size / fastest[1] / 1e6,
        ceiling_name=f"the faster direct multipart PUT ({fastest[0]})",
    )
    paired = statistics.median(result["paired_ratios"])
    report.figure(
        "chunked / faster direct PUT, median of the runs' ratios",
        paired * 100,
        "%",
        goal=f">= {GOAL_RATIO:.0%}",
    )
    growth_mb = (result["rss_peak_kib"] - result["rss_baseline_kib"]) / 1024
    report.figure(
        f"API RSS growth during {result['parallel_uploads']} parallel uploads",
        growth_mb,
        "MB",
        goal=f"< {GOAL_RSS_MB} MB",
    )
    report.figure("time from FINALIZE to processed (worker)", result["processed_seconds"], "s")
    report.extra.update(result)
    report.write()
    ok = result["state"] == "succeeded"
    if not args.tiny:
        ok = ok and paired >= GOAL_RATIO and growth_mb < GOAL_RSS_MB
    log(f"{'goals met' if ok else 'GOALS NOT MET'} (processing ended {result['state']})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
