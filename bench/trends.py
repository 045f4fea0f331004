"""The trends pass over a day of posts: `python -m bench trends`.

The issue's number: the trends worker's time for one pass over a day of posts at the seeded scale. `bench seed`'s
defaults are 120,000 users and 1,000,000 posts over 30 days; this loads the same users and one day's share of
the posts (33,334, with their hashtags, links, replies, reposts and likes, from `bench.seed` with `days=1`),
then times `domain.trends.compute_trends` (what the worker runs every TRENDS_INTERVAL), its progress shown
slice by slice with the project's progress display. Several passes are timed; the median is reported.

Ceiling, same run: the pass's reading alone: the same rows (each post's tags, its link entities and its likes
and reposts, over the same window) fetched by one plain query each, with no scoring, no ranking and no write.
The ratio is what Chirp's slicing, decay and storing cost on top of reading what it must read.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import Report, bench_stack, log
from core.progress import Progress

DEFAULT_USERS = 120_000
DEFAULT_POSTS_PER_DAY = 1_000_000 // 30 + 1

_CEILING_QUERIES = (
    "SELECT t.tag, p.account_id, p.id FROM posts p JOIN post_tags t ON t.post_id = p.id WHERE p.id >= $1 AND p.id < $2",
    "SELECT e->>'start', e->>'end', p.text, p.account_id, p.id FROM posts p "
    "CROSS JOIN LATERAL jsonb_array_elements(p.entities) e WHERE p.id >= $1 AND p.id < $2 AND e->>'type' = 'link'",
    "SELECT l.post_id, l.id FROM posts p JOIN likes l ON l.post_id = p.id WHERE p.id >= $1 AND p.id < $2",
    "SELECT r.reblog_of_id, r.id FROM posts p JOIN posts r ON r.reblog_of_id = p.id WHERE p.id >= $1 AND p.id < $2",
)


async def _ceiling(res: Any, low: int, high: int) -> float:
    started = time.perf_counter()
    for sql in _CEILING_QUERIES:
        await res.db.fetch(sql, low, high)
    return time.perf_counter() - started


async def _measure(env: dict[str, str], users: int, posts: int, passes: int, mean_followers: float) -> dict[str, Any]:
    from bench.seed import seed
    from config import Settings
    from core.ids import id_at
    from domain.trends import HISTORY_DAYS, compute_trends
    from storage.migrations import apply_migrations
    from storage.resources import open_resources

    await apply_migrations(env["DATABASE_URL"])
    tokens_file = Path(env.get("TMPDIR", "/tmp")) / "chirp-bench-trends-tokens.json"
    summary = await seed(
        env["DATABASE_URL"],
        users=users,
        posts=posts,
        mean_followers=mean_followers,
        tokens=1,
        tokens_file=tokens_file,
        days=1,
    )
    log(f"seeded {summary.users:,} users, {summary.posts:,} posts and {summary.likes:,} likes in {summary.seconds} s")
    settings = Settings.from_env({**env, "CHIRP_NODE_ID": "904"})
    async with open_resources(settings) as res:
        now = datetime.now(UTC)
        start = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=HISTORY_DAYS - 1)
        pass_times, ceiling_times = [], []
        result = None
        for n in range(passes):
            ceiling_times.append(await _ceiling(res, id_at(start), id_at(now)))
            with Progress() as progress:
                stage = f"pass {n + 1}"
                started = time.perf_counter()
                result = await compute_trends(res, now=now, progress=lambda _s, d, t: progress(stage, d, t))  # noqa: B023
                pass_times.append(time.perf_counter() - started)
        assert result is not None
        eligible = await res.db.fetchval(
            "SELECT count(*) FROM posts WHERE id >= $1 AND visibility = 'public' AND reblog_of_id IS NULL",
            id_at(now - timedelta(days=1)),
        )
    return {
        "pass_seconds": statistics.median(pass_times),
        "ceiling_seconds": statistics.median(ceiling_times),
        "passes": pass_times,
        "ceilings": ceiling_times,
        "eligible_posts": eligible,
        "trending": {"tags": len(result.tags), "statuses": len(result.statuses), "links": len(result.links)},
        "top_tags": [t["name"] for t in result.tags[:5]],
        "seed": summary.__dict__,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench trends", description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="2,000 users, 500 posts")
    parser.add_argument("--users", type=int, default=DEFAULT_USERS)
    parser.add_argument("--posts", type=int, default=DEFAULT_POSTS_PER_DAY, help="posts in the day")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument(
        "--mean-followers",
        type=float,
        default=100.0,
        help="the follow graph (the pass reads no follows; fewer loads faster)",
    )
    args = parser.parse_args(argv)
    if args.tiny:
        args.users, args.posts, args.passes, args.mean_followers = 2000, 500, 1, 10.0
    params = {
        "users": args.users,
        "posts_in_the_day": args.posts,
        "passes": args.passes,
        "mean_followers": args.mean_followers,
    }
    report = Report("trends", params=params)
    with bench_stack(only=("postgres", "valkey")) as env:
        result = asyncio.run(_measure(env, args.users, args.posts, args.passes, args.mean_followers))
    report.figure(
        "one trends pass over a day of posts (median)", result["pass_seconds"], "s",
        ceiling=result["ceiling_seconds"], ceiling_name="reading the same rows, plain queries",
    )  # fmt: skip
    report.figure("posts per second of pass", result["eligible_posts"] / result["pass_seconds"], "posts/s")
    report.extra.update(result)
    report.write()
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
