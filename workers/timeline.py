"""The `timeline` queue (fan-out into home timelines) and the `post_cache` queue (keeping cached posts and
accounts current). Both take whole batches: a batch of a few hundred new posts is a few PostgreSQL queries
and a pipelined round of Valkey scripts per slice of their audiences (one, for audiences up to 128)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from domain import cached_posts, streaming, timelines
from domain.cached_posts import VALKEY_DOWN
from domain.event_kinds import EventKind, PostDeleted, decode
from domain.subscriptions import POST_CACHE_QUEUE, TIMELINE_QUEUE, is_public_post
from storage.jobs import Job
from storage.resources import Resources
from workers.runner import Queue, Unavailable


def _valkey_guard(
    handler: Callable[[Resources, list[Job]], Awaitable[None]],
) -> Callable[[Resources, list[Job]], Awaitable[None]]:
    """A Valkey outage puts the batch back without spending attempts (timelines wait; nothing is lost)."""

    async def guarded(res: Resources, jobs: list[Job]) -> None:
        try:
            await handler(res, jobs)
        except VALKEY_DOWN as exc:  # a cluster failing over included
            raise Unavailable(f"Valkey unavailable: {exc!r}") from exc

    return guarded


async def run_timeline_jobs(res: Resources, jobs: list[Job]) -> None:
    await handle_timeline_jobs(res, jobs)


async def handle_timeline_jobs(res: Resources, jobs: list[Job]) -> list[timelines.PostDelivery]:
    """New posts (with their live updates on every stream), deleted posts and follow changes of one batch;
    returns the posts' deliveries.

    Creations go first and deletions after, so a post created and deleted within the batch ends up
    nowhere; fan-out skips posts already deleted, and follows are applied as they stand now, so retries
    and reordering change nothing."""
    created: list[int] = []
    public: list[int] = []  # of `created`, those the public and hashtag streams show
    deleted: list[PostDeleted] = []
    follows: set[tuple[int, int]] = set()
    for job in jobs:
        match decode(job):
            case (EventKind.POST_CREATED, post):
                created.append(int(post["id"]))
                if is_public_post(post):
                    public.append(int(post["id"]))
            case (EventKind.POST_DELETED, gone):
                deleted.append(gone)
            case (EventKind.FOLLOW_CREATED | EventKind.FOLLOW_DELETED, follow):
                follows.add((int(follow["account_id"]), int(follow["target_account_id"])))

    # Live `update`s go to each slice of recipients as soon as their cached home timelines hold the post
    # (never before), and before the next slice is written.
    updates = streaming.HomeUpdates(res, created)
    try:
        deliveries = await timelines.fan_out_posts(res, created, written=updates.written)
    finally:
        await updates.finish()
    await streaming.publish_list_updates(res, deliveries)
    # The public and hashtag streams promise nothing about timelines: after the home updates, which are
    # the ones measured for latency (bench/streaming_delivery.py).
    await updates.publish_public(public)

    await timelines.remove_posts(res, deleted)
    await timelines.apply_follows(res, follows)
    # Account entities show post and follow counters: rewrite the cached ones of everyone involved.
    await cached_posts.refresh_accounts(
        res,
        {
            *(d.author_id for d in deliveries),
            *(int(p["account_id"]) for p in deleted),
            *(account for pair in follows for account in pair),
        },
    )
    return deliveries


async def run_post_cache_jobs(res: Resources, jobs: list[Job]) -> None:
    """Counter changes and edits rewrite cached posts; deletions drop them (and the quotes showing them);
    profile changes rewrite cached accounts. Coalesced per batch: a post liked ten times is rendered once."""
    changed: set[int] = set()
    deleted: set[int] = set()
    accounts: set[int] = set()
    for job in jobs:
        match decode(job):
            case (EventKind.POST_UPDATED, post) | (EventKind.POST_EDITED, post):
                changed.add(int(post["id"]))
            case (EventKind.REACTION_CREATED | EventKind.REACTION_DELETED, reaction):
                changed.add(int(reaction["post_id"]))
            case (EventKind.POLL_VOTED, voted):
                changed.add(int(voted["post_id"]))
            case (EventKind.POST_DELETED, gone):
                deleted.add(int(gone["id"]))
            case (EventKind.ACCOUNT_UPDATED, account):
                accounts.add(int(account["account_id"]))
    await cached_posts.forget_deleted_posts(res, deleted)
    await cached_posts.refresh_posts(res, changed - deleted)
    await cached_posts.refresh_accounts(res, accounts)


def queues() -> list[Queue]:
    return [
        # Large batches: the per-batch cost (claim, a few queries, one Valkey round) is paid once for
        # hundreds of posts. Under a steady trickle, lingering 50 ms after a short batch gathers the next
        # one (a post per batch would spend more on the batch than on its followers). Two loops overlap
        # one batch's PostgreSQL waits with another's Valkey work.
        Queue(
            TIMELINE_QUEUE,
            _valkey_guard(run_timeline_jobs),
            batch_size=500,
            concurrency=2,
            linger=0.05,
            in_order=True,  # an author's posts, one after another (domain.subscriptions.IN_ORDER_OF)
        ),
        Queue(POST_CACHE_QUEUE, _valkey_guard(run_post_cache_jobs), batch_size=200, linger=0.05),
    ]
