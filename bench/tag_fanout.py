"""Fan-out with followed hashtags: `python -m bench tag_fanout`.

Issue 24 asks for the cost per post of a public post whose hashtag has 10 followers, against the same post
without the hashtag, in the same run.

- The graph: `--authors` authors, all followed by the same `--followers` accounts (so every post goes to
  that many home timelines), and `--tag-followers` accounts following `#bench` and none of the authors.
  Every home timeline is cached, so each insert is real.
- The posts: written through `domain.posts.create_post` (the post, its hashtags, its `post.created` job)
  before the clock starts, half with `#bench` and half without, otherwise the same text.
- The fan-out: `domain.timelines.fan_out_posts` (what the `timeline` queue's handler runs for new posts:
  the plan query, the reply, list and hashtag audiences, the Valkey writes), in this process, in batches of
  `--batch` posts, tagged and untagged batches taking turns (each first every other turn) so drift on a
  shared machine hits both alike; the first batch of each is a warm-up, not counted.
  Per post: the wall time, and the CPU of this process, of PostgreSQL and of Valkey during the calls.
- Checked after: every tag follower's home timeline holds every tagged post, and no untagged one.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from bench.harness import Report, bench_stack, log, process_tree_cpu

TAG = "bench"


@dataclass
class Cost:
    posts: int = 0
    wall: float = 0.0
    own_cpu: float = 0.0
    servers: dict[str, float] = field(default_factory=dict)

    def per_post_us(self, seconds: float) -> float:
        return seconds / max(self.posts, 1) * 1e6

    @property
    def server_cpu(self) -> float:
        return sum(self.servers.values())


def _server_cpu() -> dict[str, float]:
    """CPU seconds of this process's descendants (the servers bench_stack started), by server."""
    out: dict[str, float] = {}
    for name, seconds in process_tree_cpu().values():
        kind = "valkey" if "valkey" in name else "postgres" if "postgres" in name else None
        if kind is not None:
            out[kind] = out.get(kind, 0.0) + seconds
    return out


async def _accounts(res: Any, prefix: str, n: int) -> list[int]:
    ids = [res.ids.next_id() for _ in range(n)]
    async with res.db.acquire() as conn:
        await conn.copy_records_to_table(
            "accounts",
            records=[(i, f"{prefix}{k}", f"{prefix}{k}@example.test", "!") for k, i in enumerate(ids)],
            columns=["id", "username", "email", "password_hash"],
        )
    return ids


async def _seed(res: Any, args: argparse.Namespace) -> tuple[list[int], list[int], list[int], list[int]]:
    from domain import timelines
    from domain.posts import PostDraft, create_post

    authors = await _accounts(res, "author", args.authors)
    followers = await _accounts(res, "reader", args.followers)
    tag_followers = await _accounts(res, "tagfan", args.tag_followers)
    async with res.db.acquire() as conn:
        await conn.copy_records_to_table(
            "follows",
            records=[(res.ids.next_id(), f, a) for a in authors for f in followers],
            columns=["id", "account_id", "target_account_id"],
        )
        await conn.execute(
            """
            UPDATE accounts a SET followers_count = c.n FROM (
                SELECT target_account_id AS id, count(*) AS n FROM follows GROUP BY 1) c WHERE a.id = c.id
            """
        )
        await conn.copy_records_to_table(
            "tag_follows",
            records=[(res.ids.next_id(), f, TAG) for f in tag_followers],
            columns=["id", "account_id", "tag"],
        )
    for account in [*authors, *followers, *tag_followers]:
        await timelines.rebuild_home(res, account)  # cached (empty): every fan-out insert is real
    tagged: list[int] = []
    plain: list[int] = []
    for n in range(args.posts):
        author = authors[n % len(authors)]
        tagged.append(await create_post(res, author, PostDraft(text=f"post {n} about #{TAG}")))
        plain.append(await create_post(res, author, PostDraft(text=f"post {n} about {TAG}")))
    return followers, tag_followers, tagged, plain


async def _fan_out(res: Any, post_ids: list[int], cost: Cost) -> None:
    from domain.timelines import fan_out_posts

    servers_before = _server_cpu()
    cpu_before, started = time.process_time(), time.perf_counter()
    await fan_out_posts(res, post_ids)
    cost.wall += time.perf_counter() - started
    cost.own_cpu += time.process_time() - cpu_before
    for kind, seconds in _server_cpu().items():
        cost.servers[kind] = cost.servers.get(kind, 0.0) + seconds - servers_before.get(kind, 0.0)
    cost.posts += len(post_ids)


async def _measure(env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    from config import Settings
    from domain.timelines import cached_entries
    from storage.migrations import apply_migrations
    from storage.resources import open_resources

    await apply_migrations(env["DATABASE_URL"])
    settings = Settings.from_env({**env, "CHIRP_NODE_ID": "905"})
    async with open_resources(settings) as res:
        followers, tag_followers, tagged, plain = await _seed(res, args)
        log(
            f"{args.authors} authors x {args.followers} followers, {args.tag_followers} followers of #{TAG}, "
            f"{len(tagged)} + {len(plain)} posts; fan-out in batches of {args.batch}"
        )
        with_tag, without_tag = Cost(), Cost()
        # Warm-up, not counted: the first calls pay for prepared statements and loading Valkey's scripts.
        await _fan_out(res, plain[: args.batch], Cost())
        await _fan_out(res, tagged[: args.batch], Cost())
        for turn, start in enumerate(range(args.batch, len(tagged), args.batch)):
            pair = [(plain, without_tag), (tagged, with_tag)]
            for posts, cost in pair if turn % 2 else pair[::-1]:  # each goes first every other turn
                await _fan_out(res, posts[start : start + args.batch], cost)
        # A full timeline is trimmed back to `kept` entries (storage/timeline_cache.py): it holds the newest
        # `kept` to `timeline_size` of what reached it.
        size = settings.timeline_size
        kept = size - max(1, size // 25)
        newest_tagged = sorted(tagged)
        reached = 0
        for account in tag_followers:
            held = sorted(e.post_id for e in await cached_entries(res, account) or [])
            reached += len(held) >= min(len(tagged), kept) and held == newest_tagged[len(newest_tagged) - len(held) :]
        sample = {e.post_id for e in await cached_entries(res, followers[0]) or []}
    keep = min(len(tagged) + len(plain), kept)
    return {
        "with": with_tag,
        "without": without_tag,
        "tag_followers_reached": reached,
        "follower_holds": len(sample),
        "follower_expected": keep,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench tag_fanout")
    parser.add_argument("--tiny", action="store_true", help="seconds at a tiny size (proves it runs)")
    parser.add_argument("--authors", type=int, default=20)
    parser.add_argument("--followers", type=int, default=100, help="followers of every author")
    parser.add_argument("--tag-followers", type=int, default=10, help="followers of the hashtag")
    parser.add_argument("--posts", type=int, default=2000, help="posts with the hashtag (as many without)")
    parser.add_argument("--batch", type=int, default=20, help="posts per fan_out_posts call")
    args = parser.parse_args(argv)
    if args.tiny:
        args.authors, args.followers, args.posts, args.batch = 4, 20, 25, 5
    report = Report("tag_fanout", params={k: v for k, v in vars(args).items() if k != "tiny"})
    with bench_stack(only=("postgres", "valkey")) as env:
        result = asyncio.run(_measure(env, args))
    with_tag: Cost = result["with"]
    without: Cost = result["without"]
    baseline = "the same posts without the hashtag"
    report.figure(
        f"fan-out time per post, #{TAG} with {args.tag_followers} followers",
        with_tag.per_post_us(with_tag.wall),
        "us",
        ceiling=without.per_post_us(without.wall),
        ceiling_name=baseline,
    )
    report.figure(
        "fan-out process CPU per post, with the hashtag",
        with_tag.per_post_us(with_tag.own_cpu),
        "us",
        ceiling=without.per_post_us(without.own_cpu),
        ceiling_name=baseline,
    )
    report.figure(
        "PostgreSQL + Valkey CPU per post, with the hashtag",
        with_tag.per_post_us(with_tag.server_cpu),
        "us",
        ceiling=without.per_post_us(without.server_cpu),
        ceiling_name=baseline,
    )
    for kind in ("postgres", "valkey"):
        report.figure(
            f"{kind} CPU per post, with the hashtag",
            with_tag.per_post_us(with_tag.servers.get(kind, 0.0)),
            "us",
            ceiling=without.per_post_us(without.servers.get(kind, 0.0)),
            ceiling_name=baseline,
        )
    report.figure(
        "timeline inserts per post, with the hashtag",
        args.followers + 1 + args.tag_followers,
        "inserts",
        ceiling=args.followers + 1,
        ceiling_name="without (the author's followers and the author)",
    )
    ok = (
        result["tag_followers_reached"] == args.tag_followers
        and result["follower_holds"] >= result["follower_expected"]
    )
    report.figure(
        "tag followers holding the newest tagged posts and no other",
        result["tag_followers_reached"],
        "accounts",
        ceiling=args.tag_followers,
        ceiling_name="tag followers",
    )
    report.extra.update(
        with_tag={"posts": with_tag.posts, "wall_s": with_tag.wall, "own_cpu_s": with_tag.own_cpu, **with_tag.servers},
        without_tag={"posts": without.posts, "wall_s": without.wall, "own_cpu_s": without.own_cpu, **without.servers},
        follower_holds=result["follower_holds"],
    )
    report.write()
    return 0 if ok else 1


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
