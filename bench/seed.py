"""Seed data at the design notes' shape, loaded with COPY: `python -m bench seed --users N --posts M`.

- Accounts whose follower counts follow a power law (mean ~100; with enough users a few have 100,000+).
- Posts spread over the last 30 days, by authors whose activity is also skewed, with text drawn from a
  Zipf-distributed vocabulary (so search sees realistic word frequencies), hashtags, mentions, links,
  replies (threads several levels deep), reposts and quotes; likes on top.
- Counters (followers, following, posts, replies, reposts, quotes, likes) computed to match the rows.
- Access tokens for the first `--tokens` accounts, written to a JSON file for the load generators.

Everything else Chirp keeps (timelines, the post cache, the search index) is derived: timelines rebuild
on first read, and `chirp search reindex` fills the index.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from core.ids import CHIRP_EPOCH_MS, SEQUENCE_BITS, TIME_SHIFT
from core.progress import Progress
from domain.post_text import parse, resolve_mentions, tags
from storage.posts import path_component

# A vocabulary of common English words; drawn with Zipf weights, so a few are everywhere and most rare.
_VOCABULARY = """
the be to of and a in that have i it for not on with he as you do at this but his by from they we say her she
or an will my one all would there their what so up out if about who get which go me when make can like time no
just him know take people into year your good some could them see other than then now look only come its over
think also back after use two how our work first well way even new want because any these give day most us is
was are been has had were said did got made went coffee morning rain city music game team play news today
tonight week love great happy sad best world life home friend family food weekend travel book movie show song
photo school code data cloud server deploy release bug fix test build launch ship product design user feature
update version chirp post timeline follow reply share search fast slow latency scale market price stock money
job office meeting project plan idea question answer thanks please sorry wow cool nice amazing awesome
terrible weather sun summer winter spring autumn snow beach mountain river park street train bus car bike walk
run gym health doctor sleep dream night light dark green blue red yellow black white
"""
WORDS = _VOCABULARY.split()
_HASHTAGS = """
news tech python music sports football cricket travel food photography art science space climate politics
gaming movies books coding startup ai design health fitness weather cats dogs coffee
"""
TAGS = _HASHTAGS.split()


@dataclass(frozen=True)
class SeedSummary:
    users: int
    follows: int
    posts: int
    likes: int
    max_followers: int
    tokens_file: str
    seconds: float


def snowflakes(ms: np.ndarray, node: int) -> np.ndarray:
    """Unique Snowflake ids (app/ids.py layout) for sorted epoch milliseconds, minted as node `node`."""
    ms = ms.astype(np.int64)
    n = len(ms)
    run_starts = np.concatenate(([True], ms[1:] != ms[:-1])) if n else np.zeros(0, dtype=bool)
    first_of_run = np.maximum.accumulate(np.where(run_starts, np.arange(n), 0)) if n else np.zeros(0, dtype=np.int64)
    sequence = np.arange(n) - first_of_run  # the how-many-th id within its millisecond
    return ((ms - CHIRP_EPOCH_MS) << TIME_SHIFT) | (node << SEQUENCE_BITS) | sequence


def follow_graph(rng: np.random.Generator, users: int, mean_followers: float) -> tuple[np.ndarray, np.ndarray]:
    """(follower, target) index pairs: everyone follows ~lognormal many accounts, chosen by a power law."""
    following = rng.lognormal(mean=np.log(mean_followers) - 0.5, sigma=1.0, size=users)
    following_counts = np.clip(following, 1, users - 1).astype(np.int64)
    rank_weight = 1.0 / np.arange(1, users + 1) ** 0.95  # account 0 is the most followed
    rank_weight /= rank_weight.sum()
    followers = np.repeat(np.arange(users, dtype=np.int64), following_counts)
    targets = rng.choice(users, size=len(followers), p=rank_weight)
    keep = followers != targets
    pairs = np.unique(followers[keep] * users + targets[keep])
    return pairs // users, pairs % users


def post_text(rng: np.random.Generator, word_weights: np.ndarray, usernames: Sequence[str], users: int) -> str:
    words = [WORDS[i] for i in rng.choice(len(WORDS), size=int(rng.integers(4, 30)), p=word_weights)]
    if rng.random() < 0.3:
        words += ["#" + TAGS[int(i)] for i in rng.choice(len(TAGS), size=int(rng.integers(1, 4)), replace=False)]
    if rng.random() < 0.2:
        words.insert(0, "@" + usernames[int(rng.integers(0, users))])
    if rng.random() < 0.05:
        words.append(f"https://example.com/{WORDS[int(rng.integers(0, len(WORDS)))]}")
    return " ".join(words)


async def copy(
    conn: asyncpg.Connection, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]], total: int
) -> None:
    progress = Progress()
    progress.start(table, total)
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == 50_000:
            await conn.copy_records_to_table(table, records=batch, columns=list(columns))
            progress.advance(len(batch))
            batch = []
    if batch:
        await conn.copy_records_to_table(table, records=batch, columns=list(columns))
    progress.advance(len(batch))
    progress.close()


# The tables whose index-only scans the hot paths rely on (the fan-out's followers, the viewer's marks).
_INDEX_ONLY_TABLES = ["follows", "posts", "likes"]


async def _age_like_autovacuum(conn: asyncpg.Connection) -> None:
    """Leave the database as autovacuum leaves one of old rows: statistics, and the visibility map that
    index-only scans rely on (a table just copied in has none, and every index-only read visits the heap).
    Measured here (PostgreSQL 18): a VACUUM straight after the copies marked no page of `follows` or `likes`
    all-visible and the next one marked them all, so VACUUM runs until the map covers them (at most 3)."""
    share = 0.0
    for _ in range(3):
        await conn.execute("VACUUM (ANALYZE)")
        share = await conn.fetchval(
            "SELECT sum(relallvisible)::float / greatest(sum(relpages), 1) FROM pg_class WHERE relname = ANY($1)",
            _INDEX_ONLY_TABLES,
        )
        if share >= 0.9:
            break
    print(f"visibility map: {share:.0%} of the pages of {', '.join(_INDEX_ONLY_TABLES)} all-visible", flush=True)


def write_tokens(path: Path, tokens: Sequence[tuple[int, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{"account_id": str(aid), "token": token} for aid, token in tokens]))


async def seed(
    dsn: str,
    *,
    users: int,
    posts: int,
    mean_followers: float = 100.0,
    likes_per_post: float = 2.0,
    tokens: int = 1000,
    tokens_file: Path,
    rng_seed: int = 1,
    days: float = 30.0,
) -> SeedSummary:
    """Load the data; `days` is the span the posts fall in (the trends benchmark loads one day's share)."""
    started = time.monotonic()
    rng = np.random.default_rng(rng_seed)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    span_ms = int(timedelta(days=days).total_seconds() * 1000)

    account_ms = np.sort(rng.integers(now_ms - 2 * span_ms, now_ms - span_ms, size=users))
    account_ids = snowflakes(account_ms, node=1)
    usernames = [f"user{i}" for i in range(users)]
    followers_idx, targets_idx = follow_graph(rng, users, mean_followers)
    followers_count = np.bincount(targets_idx, minlength=users)
    following_count = np.bincount(followers_idx, minlength=users)

    # Posts: skewed author activity, times over the last 30 days.
    activity = rng.lognormal(0, 1.2, size=users)
    authors = rng.choice(users, size=posts, p=activity / activity.sum())
    post_ms = np.sort(rng.integers(now_ms - span_ms, now_ms, size=posts))
    post_ids = snowflakes(post_ms, node=2)
    kinds = rng.choice(4, size=posts, p=[0.70, 0.17, 0.09, 0.04])  # original, reply, repost, quote
    word_weights = 1.0 / np.arange(1, len(WORDS) + 1) ** 1.07
    word_weights /= word_weights.sum()
    known = {name: (int(account_ids[i]), name) for i, name in enumerate(usernames)}

    paths: list[bytes] = []
    roots = np.zeros(posts, dtype=np.int64)
    depths = np.zeros(posts, dtype=np.int32)
    replies = np.zeros(posts, dtype=np.int32)
    reposts = np.zeros(posts, dtype=np.int32)
    quotes = np.zeros(posts, dtype=np.int32)
    posts_count = np.zeros(users, dtype=np.int64)
    reposted: set[tuple[int, int]] = set()
    post_rows: list[tuple[Any, ...]] = []
    tag_rows: list[tuple[str, int]] = []
    mention_rows: list[tuple[int, int]] = []
    progress = Progress()
    progress.start("generating", posts)
    for i in range(posts):
        pid, author = int(post_ids[i]), int(authors[i])
        kind = int(kinds[i]) if i > 10 else 0
        target = int(rng.integers(max(0, i - 50_000), i)) if kind else -1
        if kind == 2 and (author, target) in reposted:
            kind = 0
        if kind in (2, 3) and post_rows[target][10] is not None:  # repost/quote an original, not a repost
            kind = 0
        created = datetime.fromtimestamp(post_ms[i] / 1000, tz=UTC)
        if kind == 2:
            reposted.add((author, target))
            reposts[target] += 1
            paths.append(path_component(pid))
            roots[i] = pid
            row = (pid, int(account_ids[author]), "public", "", "[]", None, None, pid, paths[i], 0)
            post_rows.append((*row, int(post_ids[target]), None, created))
        else:
            text = post_text(rng, word_weights, usernames, users)
            entities = resolve_mentions(parse(text), known)
            author_id = int(account_ids[author])
            reply_to: int | None = None
            reply_account: int | None = None
            if kind == 1:
                replies[target] += 1
                paths.append(paths[target] + path_component(pid))
                roots[i], depths[i] = roots[target], depths[target] + 1
                reply_to, reply_account = int(post_ids[target]), post_rows[target][1]
            else:
                paths.append(path_component(pid))
                roots[i] = pid
            quote_of = int(post_ids[target]) if kind == 3 else None
            if kind == 3:
                quotes[target] += 1
            post_rows.append(
                (
                    pid,
                    author_id,
                    "public",
                    text,
                    json.dumps(entities),
                    reply_to,
                    reply_account,
                    int(roots[i]),
                    paths[i],
                    int(depths[i]),
                    None,
                    quote_of,
                    created,
                )
            )
            tag_rows += [(tag, pid) for tag in tags(entities)]
            mention_rows += [(pid, int(e["account_id"])) for e in entities if e["type"] == "mention"]
        posts_count[author] += 1
        if i % 10_000 == 9_999 or i == posts - 1:
            progress.advance(10_000 if i % 10_000 == 9_999 else (i + 1) % 10_000)
    progress.close()

    like_total = int(posts * likes_per_post)
    like_post = rng.integers(0, posts, size=like_total)
    like_user = rng.choice(users, size=like_total, p=activity / activity.sum())
    like_keys = np.unique(like_user.astype(np.int64) * posts + like_post)
    like_user, like_post = like_keys // posts, like_keys % posts
    likes = np.bincount(like_post, minlength=posts)

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET synchronous_commit = off")
        await copy(
            conn,
            "accounts",
            (
                "id",
                "username",
                "email",
                "password_hash",
                "display_name",
                "followers_count",
                "following_count",
                "posts_count",
                "created_at",
            ),
            (
                (
                    int(account_ids[i]),
                    usernames[i],
                    f"{usernames[i]}@bench.invalid",
                    "!",
                    f"User {i}",
                    int(followers_count[i]),
                    int(following_count[i]),
                    int(posts_count[i]),
                    datetime.fromtimestamp(account_ms[i] / 1000, tz=UTC),
                )
                for i in range(users)
            ),
            users,
        )
        follow_ids = snowflakes(
            np.sort(rng.integers(now_ms - 2 * span_ms, now_ms - span_ms, size=len(followers_idx))), 3
        )
        await copy(
            conn,
            "follows",
            ("id", "account_id", "target_account_id"),
            (
                (int(follow_ids[k]), int(account_ids[a]), int(account_ids[b]))
                for k, (a, b) in enumerate(zip(followers_idx, targets_idx, strict=True))
            ),
            len(followers_idx),
        )
        await copy(
            conn,
            "posts",
            (
                "id",
                "account_id",
                "visibility",
                "text",
                "entities",
                "in_reply_to_id",
                "in_reply_to_account_id",
                "thread_root_id",
                "thread_path",
                "thread_depth",
                "reblog_of_id",
                "quote_of_id",
                "created_at",
                "replies_count",
                "reposts_count",
                "quotes_count",
                "likes_count",
            ),
            (
                (*row, int(replies[k]), int(reposts[k]), int(quotes[k]), int(likes[k]))
                for k, row in enumerate(post_rows)
            ),
            posts,
        )
        await copy(conn, "post_tags", ("tag", "post_id"), tag_rows, len(tag_rows))
        await copy(conn, "post_mentions", ("post_id", "account_id"), set(mention_rows), len(set(mention_rows)))
        like_ids = snowflakes(np.sort(rng.integers(now_ms - span_ms, now_ms, size=len(like_keys))), 4)
        await copy(
            conn,
            "likes",
            ("id", "account_id", "post_id"),
            (
                (int(like_ids[k]), int(account_ids[u]), int(post_ids[p]))
                for k, (u, p) in enumerate(zip(like_user, like_post, strict=True))
            ),
            len(like_keys),
        )
        issued = []
        # at most 1,000 tokens per millisecond: the sequence field holds 4,096 ids per millisecond and node
        token_ids = snowflakes(now_ms + np.arange(min(tokens, users)) // 1000, 5)
        for i in range(min(tokens, users)):
            token = f"bench-{rng_seed}-{i}-{hashlib.sha256(f'{rng_seed}:{i}'.encode()).hexdigest()[:32]}"
            issued.append((int(token_ids[i]), hashlib.sha256(token.encode()).digest(), int(account_ids[i]), token))
        await copy(
            conn,
            "access_tokens",
            ("id", "token_hash", "account_id", "scopes"),
            ((tid, digest, aid, ["read", "write", "follow"]) for tid, digest, aid, _ in issued),
            len(issued),
        )
        await _age_like_autovacuum(conn)
    finally:
        await conn.close()
    write_tokens(tokens_file, [(aid, token) for _, _, aid, token in issued])
    return SeedSummary(
        users=users,
        follows=len(followers_idx),
        posts=posts,
        likes=len(like_keys),
        max_followers=int(followers_count.max()),
        tokens_file=str(tokens_file),
        seconds=round(time.monotonic() - started, 1),
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench seed", description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="default: DATABASE_URL, else a throwaway stack just for the run")
    parser.add_argument("--users", type=int, default=120_000)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--mean-followers", type=float, default=100.0)
    parser.add_argument("--likes-per-post", type=float, default=2.0)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--tokens-file", type=Path, default=Path("bench/results/tmp/tokens.json"))
    parser.add_argument("--tiny", action="store_true", help="200 users, 2,000 posts")
    args = parser.parse_args(argv)
    if args.tiny:
        args.users, args.posts, args.mean_followers = 200, 2000, 20.0
    kwargs = {
        "users": args.users,
        "posts": args.posts,
        "mean_followers": args.mean_followers,
        "likes_per_post": args.likes_per_post,
        "tokens": args.tokens,
        "tokens_file": args.tokens_file,
    }
    import os

    from bench.harness import Report, bench_stack

    dsn = args.database_url or os.environ.get("DATABASE_URL")
    if dsn:
        summary = asyncio.run(seed(dsn, **kwargs))
    else:
        with bench_stack(only=("postgres", "valkey", "meilisearch", "s3")) as env:
            summary = asyncio.run(seed(env["DATABASE_URL"], **kwargs))
    report = Report("seed", params={k: v for k, v in kwargs.items() if k != "tokens_file"})
    report.figure("load time", summary.seconds, "s")
    report.figure("posts loaded per second", summary.posts / max(summary.seconds, 0.001), "posts/s")
    report.extra["summary"] = summary.__dict__
    report.write()
    print(json.dumps(summary.__dict__, indent=2))
    return 0
