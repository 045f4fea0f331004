"""Votes on one poll: `python -m bench poll_votes`.

Every vote goes to the same poll row (the hot spot the issue asks about: "1,000 votes/s on one poll with
counts correct at the end"). `--voters` accounts each vote once through `domain.polls.vote` (the vote row,
the counts on the poll row and the `poll.voted` event, one transaction; no HTTP), `--concurrency` at a time
from one process. At the end the poll's counts are checked against its vote rows.

Ceiling, same run, same pool and concurrency: a plain INSERT of each vote row (no counts, no event): what
PostgreSQL does for the vote alone, so the ratio is what counting exactly on one row costs.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.harness import Report, bench_stack, log


async def _seed(res: Any, voters: int) -> tuple[int, list[int]]:
    """One author's poll post, and `voters` accounts (COPY)."""
    from domain.polls import PollDraft
    from domain.posts import PostDraft, create_post
    from storage.accounts import insert_account

    author = res.ids.next_id()
    await insert_account(res.db, author, username="author", email="author@example.test", password_hash="!")
    post_id = await create_post(res, author, PostDraft(text="which?", poll=PollDraft(["a", "b", "c", "d"], 3600)))
    poll_id = await res.db.fetchval("SELECT id FROM polls WHERE post_id = $1", post_id)
    ids = [res.ids.next_id() for _ in range(voters)]
    async with res.db.acquire() as conn:
        await conn.copy_records_to_table(
            "accounts",
            records=[(i, f"v{n}", f"v{n}@example.test", "!") for n, i in enumerate(ids)],
            columns=["id", "username", "email", "password_hash"],
        )
    return int(poll_id), ids


async def _run(label: str, voters: list[int], concurrency: int, one: Any) -> float:
    queue = list(enumerate(voters))
    started = time.perf_counter()

    async def lane() -> None:
        while queue:
            n, account = queue.pop()
            await one(n, account)

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    log(f"{label}: {len(voters)} votes in {elapsed:.2f} s")
    return len(voters) / elapsed


async def _measure(env: dict[str, str], voters: int, concurrency: int) -> dict[str, Any]:
    from config import Settings
    from domain.polls import vote
    from storage.migrations import apply_migrations
    from storage.resources import open_resources

    await apply_migrations(env["DATABASE_URL"])
    settings = Settings.from_env({**env, "CHIRP_NODE_ID": "903"})
    async with open_resources(settings) as res:
        poll_id, accounts = await _seed(res, voters * 2)
        chirp_voters, ceiling_voters = accounts[:voters], accounts[voters:]

        async def chirp_vote(n: int, account: int) -> None:
            await vote(res, account, poll_id, [n % 4])

        await res.db.execute("CREATE TABLE bench_votes (LIKE poll_votes INCLUDING ALL)")

        async def plain_insert(n: int, account: int) -> None:
            await res.db.execute(
                "INSERT INTO bench_votes (poll_id, account_id, choices) VALUES ($1, $2, $3::integer[])",
                poll_id,
                account,
                [n % 4],
            )

        ceiling = await _run("plain INSERT", ceiling_voters, concurrency, plain_insert)
        chirp = await _run("domain.polls.vote", chirp_voters, concurrency, chirp_vote)
        row = await res.db.fetchrow("SELECT votes, votes_count, voters_count FROM polls WHERE id = $1", poll_id)
        counted = await res.db.fetch(
            "SELECT c, count(*) AS n FROM poll_votes, unnest(choices) AS c WHERE poll_id = $1 GROUP BY c", poll_id
        )
        by_option = {r["c"]: r["n"] for r in counted}
        correct = (
            row["voters_count"] == voters
            and row["votes_count"] == voters
            and list(row["votes"]) == [by_option.get(i, 0) for i in range(4)]
        )
    return {"chirp": chirp, "ceiling": ceiling, "correct": correct, "votes": list(row["votes"])}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench poll_votes")
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--voters", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    if args.tiny:
        args.voters, args.concurrency = 200, 4
    report = Report("poll_votes", params={"voters": args.voters, "concurrency": args.concurrency})
    with bench_stack(only=("postgres", "valkey")) as env:
        result = asyncio.run(_measure(env, args.voters, args.concurrency))
    report.figure(
        "votes/s on one poll (domain.polls.vote)", result["chirp"], "votes/s",
        ceiling=result["ceiling"], ceiling_name="plain INSERT of the vote row", goal=">= 1,000 votes/s",
    )  # fmt: skip
    report.figure("counts correct at the end", 1.0 if result["correct"] else 0.0, "bool", goal="1")
    report.extra.update(result)
    report.write()
    return 0 if result["correct"] else 1


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
