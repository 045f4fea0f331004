"""Search: `python -m bench search` (or `python -m bench.search`).

The issue's targets: 1,000,000 posts with realistic word frequencies indexed; query p99 < 50 ms under
concurrent load; index lag (created -> searchable) p99 < 1 s at 100 posts/s; indexing throughput and the
index's size on disk.

- Data: `bench.seed` (Zipf-distributed vocabulary, hashtags, mentions, links, replies, reposts, quotes),
  loaded with COPY, then indexed by `chirp search reindex`'s code (`domain.search_indexing.reindex`).
  Indexing throughput = posts / reindex time; ceiling: Meilisearch's own processing time for the same
  batches (from its /batches durations), i.e. the indexing with Chirp's reading and sending taken out.
- Queries: a mixed set (common, rare and two-word queries, phrases, -word, from:, #tag, has:media,
  sort=recent), signed out, against one API process: first a steady open-loop load (`--query-rate`
  searches/s, latency counted from the scheduled send), then a saturating closed loop (`--connections`
  clients) for throughput. Ceiling for both: the very same Meilisearch queries (the filters Chirp builds)
  sent straight to Meilisearch, bypassing Chirp.
- Index lag: posts written through the API at `--lag-rate` posts/s for `--lag-seconds` (after 5 s of
  warm-up at the same rate, not counted), with a worker process serving the `search` queue (the same
  runner and handler as `chirp worker`, without the other queues, whose jobs wait); a watcher polls
  Meilisearch every 20 ms for the new documents. Lag = first seen - the POST's sending (the commit lies
  between sending and the answer, and the worker may index a post before its answer arrives). Ceiling:
  Meilisearch's time to make one document searchable in the full posts index (add + wait), nothing else
  running.
- Disk: Meilisearch's database size after indexing (the posts, accounts and hashtags indexes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from bench.harness import (
    REPO_ROOT,
    ChirpProcess,
    LoadResult,
    Report,
    bench_stack,
    log,
    percentiles,
    run_load,
    spawn_api,
)
from core.progress import Progress

MIB = 1024 * 1024


def _settings(env: dict[str, str]) -> Any:
    from config import Settings

    return Settings.from_env(env)


def iso_seconds(duration: str) -> float:
    """Seconds in an ISO 8601 duration as Meilisearch writes them (`PT1M2.5S`)."""
    match = re.fullmatch(r"P(?:(\d+)D)?T?(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?", duration)
    if not match:
        return 0.0
    days, hours, minutes, seconds = (float(x) if x else 0.0 for x in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


# indexing --------------------------------------------------------------------------------------------


async def settle(dsn: str) -> None:
    """Write back the bulk load's dirty pages now, so PostgreSQL's checkpoint does not land in a measurement."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def build_index(env: dict[str, str]) -> dict[str, Any]:
    """Reindex everything from PostgreSQL; time it, and ask Meilisearch how long its own work took."""
    from domain.search_indexing import reindex
    from storage.resources import open_resources
    from storage.search_indexes import POSTS, index_name

    settings = _settings(env)
    async with open_resources(settings) as res:
        started = time.monotonic()
        with Progress() as progress:
            result = await reindex(res, progress)
        seconds = time.monotonic() - started
        http = res.meili.http_client
        rebuild_uid = index_name(settings, POSTS, rebuild=True)
        batches = (await http.get(f"batches?indexUids={rebuild_uid}&limit=100000")).json()["results"]
        meili_seconds = sum(
            iso_seconds(b["duration"]) for b in batches if "documentAdditionOrUpdate" in b["stats"].get("types", {})
        )
        stats = (await http.get("stats")).json()
        posts_stats = stats["indexes"].get(index_name(settings, POSTS), {})
    return {
        "posts": result.posts,
        "accounts": result.accounts,
        "hashtags": result.hashtags,
        "seconds": round(seconds, 2),
        "meili_seconds": round(meili_seconds, 2),
        "database_bytes": int(stats["databaseSize"]),
        "used_database_bytes": int(stats.get("usedDatabaseSize") or 0),
        "posts_documents_bytes": int(posts_stats.get("rawDocumentDbSize") or 0),
        "posts_documents": int(posts_stats.get("numberOfDocuments") or 0),
    }


# queries ---------------------------------------------------------------------------------------------


def query_mix(rng: random.Random, count: int, usernames: int) -> list[tuple[str, str]]:
    """(q, sort) pairs: what people type, skewed to common words as the seed's vocabulary is."""
    from bench.seed import TAGS, WORDS

    def word(common: bool) -> str:
        # The seed draws words with Zipf weights over WORDS' order: low ranks are common, high ranks rare.
        rank = int(rng.paretovariate(1.2)) - 1 if common else rng.randrange(len(WORDS) // 2, len(WORDS))
        return WORDS[min(rank, len(WORDS) - 1)]

    shapes = [
        lambda: word(rng.random() < 0.7),
        lambda: f"{word(True)} {word(False)}",
        lambda: f'"{word(True)} {word(True)}"',
        lambda: f"{word(False)} -{word(True)}",
        lambda: f"from:user{rng.randrange(min(usernames, 1000))} {word(True)}",
        lambda: f"#{rng.choice(TAGS)}",
        lambda: f"#{rng.choice(TAGS)} {word(False)}",
        lambda: f"{word(False)} has:media",
    ]
    return [(rng.choice(shapes)(), "recent" if rng.random() < 0.3 else "relevant") for _ in range(count)]


async def meili_urls(env: dict[str, str], queries: list[tuple[str, str]]) -> list[str]:
    """The exact Meilisearch query Chirp sends for each search, as a GET against Meilisearch itself."""
    from domain.search import SearchRequest, _statuses_params, parse
    from storage.resources import open_resources

    settings = _settings(env)
    urls = []
    async with open_resources(settings) as res:
        for q, sort in queries:
            request = SearchRequest(q=q, types=("statuses",), sort=sort)
            params = await _statuses_params(res, None, parse(q), request)
            if params is None:
                continue
            filters = params.filter if isinstance(params.filter, list) else [params.filter or ""]
            query = {
                "q": params.query or "",
                "filter": " AND ".join(f"({f})" for f in filters if f),
                "limit": params.limit,
                "attributesToRetrieve": "id",
                "matchingStrategy": params.matching_strategy,
            }
            if params.sort:
                query["sort"] = ",".join(params.sort)
            urls.append(f"{settings.meili_url}/indexes/{params.index_uid}/search?{urlencode(query, quote_via=quote)}")
    return urls


def chirp_urls(port: int, queries: list[tuple[str, str]]) -> list[str]:
    base = f"http://127.0.0.1:{port}/api/v2/search"
    return [f"{base}?{urlencode({'q': q, 'type': 'statuses', 'sort': sort}, quote_via=quote)}" for q, sort in queries]


# index lag -------------------------------------------------------------------------------------------


async def measure_lag(
    env: dict[str, str], port: int, tokens: list[str], rate: float, seconds: float, warmup: float
) -> LoadResult:
    """Post at `rate` through the API while watching Meilisearch for each new document; the first `warmup`
    seconds (the worker process starting, Meilisearch settling after the reindex) are not counted."""
    import aiohttp

    from domain.search_documents import id_ms
    from storage.resources import open_meili
    from storage.search_indexes import posts_index

    settings = _settings(env)
    committed: dict[int, float] = {}
    seen: dict[int, float] = {}
    statuses: list[int] = []
    skipped = int(rate * warmup)
    total = skipped + max(int(rate * seconds), 1)
    started = time.perf_counter()

    async with aiohttp.ClientSession() as http, open_meili(settings) as meili:
        index = meili.index(posts_index(settings))

        async def post_one(n: int) -> None:
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            token = tokens[n % len(tokens)]
            # Counted from the send: the commit happens before the answer arrives (the worker can index
            # the post before the client hears back), so this is an upper bound including the API's time.
            sent = time.perf_counter()
            async with http.post(
                f"http://127.0.0.1:{port}/api/v1/statuses",
                json={"status": f"lag probe number {n} of the search bench"},
                headers={"Authorization": f"Bearer {token}"},
            ) as response:
                body = await response.json()
                statuses.append(response.status)
                if response.status == 200 and n >= skipped:
                    committed[int(body["id"])] = sent

        async def watch(writers: asyncio.Future[Any]) -> None:
            deadline: float | None = None
            while True:
                pending = [i for i in committed if i not in seen]
                if pending:
                    docs = await index.get_documents(
                        filter=f"id_ms >= {min(id_ms(i) for i in pending)}", fields=["id"], limit=100_000
                    )
                    now = time.perf_counter()
                    for doc in docs.results:
                        seen.setdefault(int(doc["id"]), now)
                if writers.done():
                    deadline = deadline or time.perf_counter() + 30
                    if all(i in seen for i in committed) or time.perf_counter() > deadline:
                        return
                await asyncio.sleep(0.02)

        writers = asyncio.ensure_future(asyncio.gather(*(post_one(n) for n in range(total))))
        await watch(writers)
        await writers
    measured_from = started + warmup
    lags = [(committed[i] - measured_from, seen[i] - committed[i], 200) for i in committed if i in seen]
    missing = len(committed) - len(lags)
    duration = time.perf_counter() - started
    return LoadResult(
        mode="open",
        duration=round(duration, 3),
        requests=total - skipped,
        errors=sum(1 for s in statuses if s != 200) + missing,
        throughput=round(len(committed) / seconds, 1),
        latencies_ms=percentiles([lag * 1000 for _, lag, _ in lags]),
        offered_rate=rate,
        samples=[(float(a), float(b), int(c)) for a, b, c in lags],
    )


async def meili_single_document(env: dict[str, str], samples: int) -> dict[str, float]:
    """Meilisearch's own floor for "created -> searchable": add one document to the full posts index and
    wait until it is processed, one at a time, with nothing else running (the probes are removed after)."""
    from storage import search_indexes as indexes
    from storage.resources import open_meili

    settings = _settings(env)
    uid = indexes.posts_index(settings)
    times = []
    async with open_meili(settings) as meili:
        try:
            for n in range(samples):
                document = {"id": f"floor-{n}", "text": f"floor probe {n}", "visibility": "public"}
                began = time.perf_counter()
                await indexes.wait_for_tasks(meili, await indexes.put_documents(meili, uid, [document]))
                times.append((time.perf_counter() - began) * 1000)
        finally:
            ids = [f"floor-{n}" for n in range(samples)]
            await indexes.wait_for_tasks(meili, await indexes.delete_documents(meili, uid, ids))
    return percentiles(times)


# the search worker -----------------------------------------------------------------------------------


async def run_search_worker() -> None:
    """The job runner serving only the `search` queue (`workers/search.py`), until SIGTERM."""
    from storage.resources import open_resources
    from workers import search
    from workers.runner import JobRunner

    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with open_resources(_settings(dict(os.environ))) as res:
        await JobRunner(res, [search.queue()]).run(stop)


def spawn_search_worker(env: dict[str, str]) -> ChirpProcess:
    popen = subprocess.Popen(
        [sys.executable, "-m", "bench.search", "--worker"],
        env={**os.environ, **env, "CHIRP_NODE_ID": "101"},
        cwd=REPO_ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
    )
    return ChirpProcess("search worker", popen)


# the run ---------------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench search", description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=400, help="distinct queries in the mix")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of query load, each side")
    parser.add_argument("--connections", type=int, default=16, help="concurrent clients, closed loop (saturation)")
    parser.add_argument("--query-rate", type=float, default=50.0, help="searches/s, open loop (steady load)")
    parser.add_argument("--lag-rate", type=float, default=100.0, help="posts/s while measuring index lag")
    parser.add_argument("--lag-seconds", type=float, default=30.0)
    parser.add_argument("--tiny", action="store_true", help="a few seconds at a tiny size (proves it runs)")
    args = parser.parse_args(argv)
    if args.tiny:
        args.posts, args.users, args.queries = 2000, 200, 40
        args.duration, args.connections, args.lag_rate, args.lag_seconds = 2.0, 4, 20.0, 2.0
        args.query_rate = 20.0
    params = {k: v for k, v in vars(args).items() if k != "tiny"}
    report = Report("search", params=params)
    rng = random.Random(7)

    from bench.seed import seed

    with bench_stack() as env, tempfile.TemporaryDirectory(prefix="chirp-search-bench-") as tmp:
        tokens_file = Path(tmp) / "tokens.json"
        log(f"seeding {args.users:,} accounts and {args.posts:,} posts")
        asyncio.run(seed(env["DATABASE_URL"], users=args.users, posts=args.posts, tokens=200, tokens_file=tokens_file))
        tokens = [entry["token"] for entry in json.loads(tokens_file.read_text())]
        asyncio.run(settle(env["DATABASE_URL"]))
        log("indexing (chirp search reindex)")
        indexing = asyncio.run(build_index(env))
        log(f"indexed {indexing['posts']:,} posts in {indexing['seconds']} s")

        queries = query_mix(rng, args.queries, args.users)
        ceiling_urls = asyncio.run(meili_urls(env, queries))
        api = spawn_api(env)
        worker = None
        try:
            urls = chirp_urls(api.port or 0, queries)
            for url in urls[:3]:  # warm the API's pools
                run_load([url], duration=0.5, connections=1, prefer_wrk=False)
            auth = {"Authorization": f"Bearer {env['MEILI_MASTER_KEY']}"} if env.get("MEILI_MASTER_KEY") else {}
            log(f"steady query load: {len(urls)} queries at {args.query_rate:g}/s, {args.duration:g} s")
            steady = run_load(urls, duration=args.duration, rate=args.query_rate, prefer_wrk=False)
            steady_direct = run_load(
                ceiling_urls, duration=args.duration, rate=args.query_rate, headers=auth, prefer_wrk=False
            )
            log(f"saturating query load: {args.connections} clients, {args.duration:g} s")
            chirp = run_load(urls, duration=args.duration, connections=args.connections, prefer_wrk=False)
            direct = run_load(
                ceiling_urls, duration=args.duration, connections=args.connections, headers=auth, prefer_wrk=False
            )
            worker = spawn_search_worker(env)
            time.sleep(1.0)  # let the worker start listening
            log(f"index lag: {args.lag_rate:g} posts/s for {args.lag_seconds:g} s")
            warmup = 1.0 if args.tiny else 5.0
            lag = asyncio.run(measure_lag(env, api.port or 0, tokens, args.lag_rate, args.lag_seconds, warmup))
            floor = asyncio.run(meili_single_document(env, 10 if args.tiny else 50))
        finally:
            if worker is not None:
                worker.stop()
            api.stop()

    report.add_load("chirp search, steady", steady)
    report.add_load("meilisearch direct, steady", steady_direct)
    report.add_load("chirp search, saturated", chirp)
    report.add_load("meilisearch direct, saturated", direct)
    report.add_load("index lag", lag)
    report.figure("posts indexed", indexing["posts_documents"], "documents", goal=f"{args.posts:,}")
    report.figure(
        "indexing throughput (reindex)",
        indexing["posts"] / max(indexing["seconds"], 0.001),
        "documents/s",
        ceiling=indexing["posts"] / max(indexing["meili_seconds"], 0.001),
        ceiling_name="Meilisearch processing alone",
    )
    report.figure("index size on disk", indexing["database_bytes"] / MIB, "MiB")
    steady_name = f"{args.query_rate:g}/s"
    report.figure(
        f"query p50 at {steady_name}",
        steady.latencies_ms["p50"],
        "ms",
        ceiling=steady_direct.latencies_ms["p50"],
        ceiling_name="Meilisearch direct",
    )
    report.figure(
        f"query p99 at {steady_name}",
        steady.latencies_ms["p99"],
        "ms",
        ceiling=steady_direct.latencies_ms["p99"],
        ceiling_name="Meilisearch direct",
        goal="< 50 ms",
    )
    saturated = f"{args.connections} clients"
    report.figure(
        f"query p50 with {saturated}",
        chirp.latencies_ms["p50"],
        "ms",
        ceiling=direct.latencies_ms["p50"],
        ceiling_name="Meilisearch direct",
    )
    report.figure(
        f"query p99 with {saturated}",
        chirp.latencies_ms["p99"],
        "ms",
        ceiling=direct.latencies_ms["p99"],
        ceiling_name="Meilisearch direct",
    )
    report.figure(
        f"query throughput with {saturated}",
        chirp.throughput,
        "req/s",
        ceiling=direct.throughput,
        ceiling_name="Meilisearch direct",
    )
    report.figure("query errors", chirp.errors + steady.errors, "requests", goal="0")
    report.figure(
        "index lag p50",
        lag.latencies_ms["p50"],
        "ms",
        ceiling=floor["p50"],
        ceiling_name="one document into the full index, Meilisearch alone",
    )
    report.figure(
        "index lag p99",
        lag.latencies_ms["p99"],
        "ms",
        ceiling=floor["p99"],
        ceiling_name="one document into the full index, Meilisearch alone",
        goal="< 1000 ms",
    )
    report.figure("posts written during the lag run", lag.throughput, "posts/s", goal=f"{args.lag_rate:g} posts/s")
    report.figure("posts never seen in the index", lag.errors, "posts", goal="0")
    report.extra.update({"indexing": indexing, "meili_single_document_ms": floor, "queries": queries[:50]})
    report.plot_latency_over_time("queries", {"chirp": steady, "meilisearch direct": steady_direct})
    report.plot_latency_over_time("saturated", {"chirp": chirp, "meilisearch direct": direct})
    report.plot_latency_over_time("lag", {"index lag": lag})
    report.write()
    return 0


def _entry(argv: list[str]) -> int:
    """The search-worker child role (`--worker`), else the scenario itself."""
    if argv[:1] == ["--worker"]:
        import uvloop

        uvloop.run(run_search_worker())
        return 0
    return main(argv)


if __name__ == "__main__":
    sys.exit(_entry(sys.argv[1:]))
