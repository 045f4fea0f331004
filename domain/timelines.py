"""Timelines: the home timeline (fan-out on write into Valkey, merged with high-follower accounts at read
time, rebuilt from PostgreSQL when missing) and the public and hashtag timelines (PostgreSQL indexes).

docs/timelines.md explains the design; storage/timeline_cache.py the Valkey layout.

Writes (the `timeline` queue, workers/timeline.py): `fan_out_posts`, `remove_posts`, `apply_follows`.
Reads: `home_timeline`, `missed_home_posts` (stream resume), `public_timeline`, `tag_timeline`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.errors import ApiError
from core.ids import id_at
from core.pagination import Page
from domain import viewer_rules
from domain.cached_posts import VALKEY_DOWN, cached_post_entities, cached_post_json
from domain.event_kinds import PostDeleted
from domain.post_text import clean_text, normalize_tag
from domain.visibility import droppable_entries, on_timelines
from storage import lists as list_store
from storage import presence, timeline_cache
from storage import tags as tag_store
from storage import timelines as timeline_store
from storage.home_page import Bounds, HomePage, MissingAuthors, read_home_page
from storage.keys import tagged_csv
from storage.lists import list_key, list_of_key
from storage.resources import Resources
from storage.timeline_cache import Delivery, Entry, Followed, Range, author_key, home_key
from storage.timelines import FanOutPost, TimelinePostRow

# Extra entries read past a page, so that entries sharing a score with a cursor can be dropped exactly.
_SLACK = 16
# Followers per query and script call when a high-follower account's followers learn to merge it.
_PROMOTION_PAGE = 5_000

Entity = dict[str, Any]


def _ttl_seconds(res: Resources) -> int:
    return res.settings.timeline_ttl_days * 86_400


def _high_follower_cutoff(res: Resources) -> int:
    """High-follower accounts' replies older than this id are not looked for when a timeline is rebuilt."""
    return id_at(datetime.now(UTC) - timedelta(days=res.settings.timeline_ttl_days))


def _entry(row: TimelinePostRow) -> Entry:
    return Entry(row.id, row.account_id, row.reblog_of_id)


def _keys(prefix: str, ids_csv: str) -> str:
    """Comma-separated account ids as comma-separated timeline keys, without a conversion per id."""
    return tagged_csv(prefix, ids_csv)


# the home timeline: reading ----------------------------------------------------------------------------


def _bounds(page: Page, count: int) -> Bounds:
    return Bounds(page.lower, page.max_id, page.limit, count, newest_first=not page.ascending)


async def _home_page(
    res: Resources, account_id: int, page: Page, *, hydrate: bool, key: str | None = None
) -> HomePage | None:
    """The page as one script call reads it (home timeline merged with followed high-follower accounts);
    None when the home timeline is missing. Missing author timelines are built here. `key`: another
    timeline of the same layout to read (a list timeline, domain/lists.py)."""
    count = page.limit + _SLACK
    skip_missing = False
    for _ in range(8):
        found = await read_home_page(
            res.redis,
            account_id,
            _bounds(page, count),
            ttl=_ttl_seconds(res),
            hydrate=hydrate,
            skip_missing=skip_missing,
            key=key,
        )
        if isinstance(found, MissingAuthors):
            await build_author_timelines(res, found.author_ids)
            skip_missing = True  # built now; one evicted again at once is left out of this page
            continue
        if found is not None and found.short and count < res.settings.timeline_size:
            count *= 4  # entries sharing a score with a cursor filled the read: read further
            continue
        return found
    return found if isinstance(found, HomePage) else None


read_timeline_page = _home_page  # for list timelines (domain/lists.py), which share the layout and the read


async def _home(res: Resources, account_id: int, page: Page, *, hydrate: bool) -> HomePage:
    """The page (entries newest first); a missing home timeline is rebuilt during this call."""
    found = await _home_page(res, account_id, page, hydrate=hydrate)
    if found is None:
        built = await rebuild_home(res, account_id)
        found = await _home_page(res, account_id, page, hydrate=hydrate)
        if found is None:  # gone again at once (evicted): answer from what was just built
            in_page = [e for e in built.entries if page.contains(e.post_id)]
            kept = in_page[-page.limit :][::-1] if page.ascending else in_page[: page.limit]
            found = HomePage(kept, False, None)
    return HomePage(page.arrange(found.entries), found.short, found.hydrated)


async def home_entries(res: Resources, account_id: int, page: Page) -> list[Entry]:
    """One page of the home timeline's entries, newest first: the account's own timeline merged with its
    followed high-follower accounts' posts, by id. A missing timeline is rebuilt during this call."""
    return (await _home(res, account_id, page, hydrate=False)).entries


async def home_timeline(res: Resources, account_id: int, page: Page) -> tuple[list[bytes], list[int]]:
    """One page of the home timeline as Status entities (JSON), and the page's cursors (post ids, newest
    first). Entries whose post is gone or no longer visible are dropped from the page and the timeline (kept
    in the timeline while a rule that ends by itself, a timed mute or a filter, may be what hides them).
    503 while Valkey is unreachable (the timelines live there; nothing is lost, it is rebuilt after)."""
    try:
        found = await _home(res, account_id, page, hydrate=True)
    except VALKEY_DOWN:
        raise ApiError(503, "Home timelines are unavailable for a moment", headers={"Retry-After": "5"}) from None
    entries = found.entries
    shown = await cached_post_json(
        res, [e.post_id for e in entries], account_id, hydrated=found.hydrated, context="home"
    )
    if len(shown) < len(entries) and not await viewer_rules.has_passing_rules(res, account_id):
        kept = {post_id for post_id, _ in shown}
        dropped = await droppable_entries(res, [e.post_id for e in entries if e.post_id not in kept])
        stale = [Delivery(e, home_key(account_id)) for e in entries if e.post_id in dropped]
        with contextlib.suppress(*VALKEY_DOWN):
            await timeline_cache.remove(res.redis, stale)
    return [entity for _, entity in shown], [e.post_id for e in entries]


async def missed_home_posts(res: Resources, account_id: int, since_id: int, *, limit: int) -> tuple[list[Entity], bool]:
    """For resuming a stream: the home timeline's posts newer than `since_id`, oldest first (at most
    `limit`), and whether more than `limit` were missed."""
    entries = await home_entries(res, account_id, Page(limit=limit + 1, min_id=since_id))
    more = len(entries) > limit
    kept = entries[-limit:] if more else entries  # newest first: the oldest `limit` are at the end
    entities = await cached_post_entities(res, [e.post_id for e in reversed(kept)], account_id, context="home")
    return entities, more


@dataclass(frozen=True)
class Built:
    entries: list[Entry]  # newest first
    followed: list[Followed]


async def rebuild_home(res: Resources, account_id: int) -> Built:
    """Build a missing home timeline from PostgreSQL: one bounded query for the newest posts of the
    followed accounts, one for the followed high-follower accounts. Posts fanned out meanwhile are kept."""
    settings = res.settings
    key = home_key(account_id)
    if await timeline_cache.begin_build(res.redis, key):
        return Built([], [])
    # Marked first, then a replica that has every post committed before the mark (posts fanned out after
    # it land in the marked key): the rebuild misses nothing a primary read would have had.
    db = await res.current_reader()
    rows, followed_rows, tagged_rows = await asyncio.gather(
        timeline_store.home_rows(
            db,
            account_id,
            limit=settings.timeline_size,
            max_followers=settings.fanout_max_followers,
            cutoff_id=_high_follower_cutoff(res),
        ),
        timeline_store.followed_high_follower(db, account_id, settings.fanout_max_followers),
        tag_store.followed_tag_rows(db, account_id, settings.timeline_size),  # followed hashtags' posts
    )
    if tagged_rows:  # each post once, newest first, the newest `timeline_size` of both
        by_id = {row.id: row for row in (*tagged_rows, *rows)}
        rows = sorted(by_id.values(), key=lambda row: row.id, reverse=True)[: settings.timeline_size]
    entries = [_entry(row) for row in rows]
    followed = [Followed(row["id"], row["show_reposts"]) for row in followed_rows]
    await timeline_cache.finish_build(
        res.redis, key, entries[::-1], followed, cap=settings.timeline_size, ttl=_ttl_seconds(res)
    )
    return Built(entries, followed)


async def build_author_timelines(res: Resources, author_ids: Sequence[int]) -> None:
    """Build missing author timelines (a high-follower account's posts, merged into followers' homes)."""
    keys = [author_key(a) for a in author_ids]
    already = await timeline_cache.begin_builds(res.redis, keys)
    wanted = [a for a, built in zip(author_ids, already, strict=True) if not built]
    if not wanted:
        return
    rows = await timeline_store.author_rows(await res.current_reader(), wanted, res.settings.timeline_size)
    by_author: dict[int, list[Entry]] = {a: [] for a in wanted}
    for row in rows:
        by_author[row.account_id].append(_entry(row))
    await timeline_cache.finish_builds(
        res.redis,
        [(author_key(a), entries[::-1]) for a, entries in by_author.items()],
        cap=res.settings.timeline_size,
        ttl=_ttl_seconds(res),
    )


# the home timeline: fan-out ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PostDelivery:
    """A post written into home timelines: `recipients` are the accounts whose cached home timeline holds
    it now (inserted by this call or an earlier attempt), the audience of its live `update` event."""

    post_id: int
    author_id: int
    reblog_of_id: int | None
    recipients: list[int]
    # Those of the recipients connected to a streaming API process, by process: asked in the same round
    # trip as the writes, after them (set for the slices `fan_out_posts` hands to `written`).
    online: dict[int, list[int]] | None = None
    # The author's followers merge the post into their timelines when they read them (a high-follower
    # author's post, not a reply to someone else): their live updates go by who is connected.
    merged: bool = False
    # The list timelines (owner, list) holding the post now, for the `list` streams.
    lists: tuple[tuple[int, int], ...] = ()


def _audience(post: FanOutPost, followers: timeline_store.FollowerLists | None, replies: Mapping[int, str]) -> str:
    """Comma-separated follower ids whose home timeline the post goes to (besides the author's)."""
    if not on_timelines(post.visibility):
        return ""
    if post.reply_to_other:
        return replies.get(post.id, "")
    if post.high_follower or followers is None:
        return ""  # merged in at read time from the author timeline
    return followers.reposts if post.reblog_of_id is not None else followers.everyone


# The first slice of a post's audience, written before its live updates start (bench/streaming_delivery.py):
# the first followers see the post while the API process is still sending, and the fan-out writes the rest.
# Each next slice is as large as all before it (128, 128, 256, 512...), so an audience of n takes about
# log2(n / FIRST_SLICE) + 1 rounds. A slice is written in less time than an API process takes to send the
# one before it (a socket write costs more than a timeline insert), so the process is not left waiting;
# doubling from the first slice on (128, 256...) left it idle for a while after the first.
FIRST_SLICE = 128


async def fan_out_posts(
    res: Resources,
    post_ids: Sequence[int],
    *,
    written: Callable[[list[PostDelivery]], Awaitable[None]] | None = None,
) -> list[PostDelivery]:
    """Write new posts into the cached home timelines of their audience, in a few round trips per batch.

    Idempotent: a post already written (or deleted since) changes nothing. Followers of high-follower
    accounts get only the accounts' replies to people they follow; the rest is merged in at read time.
    Audiences are written in slices (FIRST_SLICE, then as many as before), and `written` is awaited with each
    slice as soon as its timelines hold the post, before the next one is written: the live updates of the
    first followers go out while the API processes are busy sending them, not after the whole audience.
    The slices handed to `written` say who is connected: Valkey answers that after the writes, so anyone it
    finds offline connects later and the replay of their timeline holds the post.
    """
    settings = res.settings
    plan = await timeline_store.fan_out_plan(res.db, post_ids, settings.fanout_max_followers)
    posts, followers = plan.posts, plan.followers
    if not posts:
        return []
    replies = [p for p in posts if p.reply_to_other and on_timelines(p.visibility)]
    audiences: dict[int, str] = {}
    if replies:
        from_author, from_target = await asyncio.gather(
            timeline_store.reply_audiences(res.db, [p for p in replies if not p.high_follower], from_target=False),
            timeline_store.reply_audiences(res.db, [p for p in replies if p.high_follower], from_target=True),
        )
        audiences = {**from_author, **from_target}
    in_lists = await list_store.list_audiences(
        res.db,
        [
            list_store.ListPost(p.id, p.account_id, p.in_reply_to_account_id, p.reblog_of_id is not None)
            for p in posts
            if p.visibility != "direct"
        ],
    )
    tag_followers = await tag_store.tag_audiences(
        res.db, [p.id for p in posts if p.visibility == "public" and p.reblog_of_id is None]
    )
    deliveries: list[Delivery] = []
    for post in posts:
        if not on_timelines(post.visibility):
            continue
        keys = [home_key(post.account_id), *(list_key(owner, lst) for owner, lst in in_lists.get(post.id, ()))]
        audience = _audience(post, followers.get(post.account_id), audiences)
        if post.id in tag_followers:
            audience = _with_tag_followers(audience, post.account_id, tag_followers[post.id])
        follower_keys = _keys(timeline_cache.HOME_PREFIX, audience)
        if follower_keys:
            keys.append(follower_keys)
        if not post.reply_to_other:
            keys.append(author_key(post.account_id))
        deliveries.append(Delivery(Entry(post.id, post.account_id, post.reblog_of_id), ",".join(keys)))
    recipients: dict[int, list[int]] = {d.entry.post_id: [] for d in deliveries}
    listed: dict[int, list[tuple[int, int]]] = {d.entry.post_id: [] for d in deliveries}
    merged = {p.id for p in posts if p.high_follower and not p.reply_to_other}
    for slice_ in _slices(deliveries):
        lookup = presence.online_keys(_home_owner_ids(slice_)) if written is not None else []
        delivered, answers = await timeline_cache.fan_out(res.redis, slice_, settings.timeline_size, reads=lookup)
        online = presence.online_from_values(lookup, answers) if written is not None else None
        done = []
        for d, keys in zip(slice_, delivered, strict=True):
            owners = _home_owners(keys)
            connected = _among(online, owners) if online is not None else None
            post_id, author_id, original_id = d.entry
            done.append(PostDelivery(post_id, author_id, original_id, owners, connected, post_id in merged))
            listed[post_id] += [list_of_key(k) for k in keys if k.startswith(list_store.LIST_PREFIX)]
        for delivery in done:
            recipients[delivery.post_id] += delivery.recipients
        if written is not None:
            await written(done)
    # Authors who crossed the fan-out threshold, either way: after the live updates, which need not wait.
    await _update_promotions(res, posts)
    return [
        PostDelivery(
            d.entry.post_id,
            d.entry.author_id,
            d.entry.reblog_of_id,
            recipients[d.entry.post_id],
            lists=tuple(listed[d.entry.post_id]),
        )
        for d in deliveries
    ]


def _with_tag_followers(audience: str, author_id: int, tag_followers: Sequence[int]) -> str:
    """The audience (comma-separated ids) with the followers of the post's hashtags added, each id once: a
    follower of both the author and a tag gets the post (and its live update) once."""
    have = set(audience.split(",")) if audience else set()
    have.add(str(author_id))
    more = [str(a) for a in tag_followers if str(a) not in have]
    return ",".join(part for part in (audience, ",".join(more)) if part)


def _slices(deliveries: Sequence[Delivery]) -> Iterator[list[Delivery]]:
    """The deliveries in rounds: each post's first FIRST_SLICE keys, then as many again, and so on, each
    slice as large as all before it."""
    first: list[Delivery] = []
    longer: list[tuple[Entry, list[str]]] = []
    for delivery in deliveries:
        if delivery.keys.count(",") < FIRST_SLICE:
            first.append(delivery)  # the common case: the whole audience at once, nothing split
            continue
        keys = delivery.keys.split(",")
        first.append(Delivery(delivery.entry, ",".join(keys[:FIRST_SLICE])))
        longer.append((delivery.entry, keys))
    if first:
        yield first
    start = FIRST_SLICE
    while longer:
        yield [Delivery(entry, ",".join(keys[start : start * 2])) for entry, keys in longer]
        start *= 2
        longer = [(entry, keys) for entry, keys in longer if len(keys) > start]


def _owner_digits(keys: Iterable[str]) -> Iterator[str]:
    """The ids (as text) of the accounts owning the home timelines among `keys`."""
    prefix = timeline_cache.HOME_PREFIX
    start = len(prefix) + 1  # past the brace of the hash tag: `tl:{123}`
    return (key[start:-1] for key in keys if key.startswith(prefix))


def _home_owners(keys: Iterable[str]) -> list[int]:
    """The accounts owning the home timelines among `keys`."""
    return [int(digits) for digits in _owner_digits(keys)]


def _home_owner_ids(deliveries: Sequence[Delivery]) -> list[str]:
    """The accounts owning the home timelines the deliveries write to, as text (what presence takes)."""
    return list(_owner_digits(key for d in deliveries for key in d.keys.split(",")))


def _among(online: Mapping[int, Sequence[int]], accounts: Sequence[int]) -> dict[int, list[int]]:
    """`online` (accounts by process) narrowed to `accounts`."""
    wanted = set(accounts)
    narrowed = {node: [a for a in present if a in wanted] for node, present in online.items()}
    return {node: present for node, present in narrowed.items() if present}


async def _update_promotions(res: Resources, posts: Sequence[FanOutPost]) -> None:
    """Authors who crossed the fan-out threshold: their followers' cached timelines learn to merge them
    (once; marked in Valkey). Authors back under it are fanned out again, and the mark is cleared so a
    later crossing teaches followers who came meanwhile."""
    high = {p.account_id for p in posts if p.high_follower}
    low = {p.account_id for p in posts if not p.high_follower}
    known = await timeline_cache.promoted(res.redis, sorted(high | low))
    for author in sorted(high - known):
        await promote(res, author)
        await timeline_cache.mark_promoted(res.redis, author, True)
    for author in sorted(low & known):
        await timeline_cache.mark_promoted(res.redis, author, False)


async def promote(res: Resources, author_id: int) -> None:
    """Record a high-follower author in every cached home timeline of its followers, a page at a time."""
    after = 0
    while True:
        page = await timeline_store.follower_page(res.db, author_id, after, _PROMOTION_PAGE)
        if not page:
            return
        for show_reposts in (True, False):
            keys = ",".join(home_key(r["account_id"]) for r in page if r["show_reposts"] is show_reposts)
            if keys:
                await timeline_cache.add_followed(res.redis, Followed(author_id, show_reposts), keys)
        after = page[-1]["id"]


async def remove_posts(res: Resources, deleted: Sequence[PostDeleted]) -> None:
    """Take deleted posts (`post.deleted` payloads) out of the timelines they reached: the author's, the
    author timeline, the followers', its hashtags' followers' and the list timelines holding the author.
    What a stale copy elsewhere shows is filtered when read."""
    if not deleted:
        return
    authors = {int(p["account_id"]) for p in deleted}
    high = await timeline_store.high_follower_accounts(res.db, authors, res.settings.fanout_max_followers)
    followers = await timeline_store.follower_lists(res.db, authors - high)
    in_lists = await list_store.lists_with_members(res.db, sorted(authors))
    removals = []
    for payload in deleted:
        author = int(payload["account_id"])
        original = payload.get("reblog_of_id")
        entry = Entry(int(payload["id"]), author, int(original) if original is not None else None)
        keys = [home_key(author), author_key(author), *(list_key(o, lst) for o, lst in in_lists.get(author, ()))]
        lists = followers.get(author)
        if lists is not None:
            keys.append(_keys(timeline_cache.HOME_PREFIX, lists.everyone))
        if payload.get("visibility") == "public" and original is None and payload.get("tags"):
            tag_followers = await tag_store.tag_follower_ids(res.db, payload["tags"])  # their homes got it
            keys += [home_key(a) for a in tag_followers if a != author]
        removals.append(Delivery(entry, ",".join(keys)))
    await timeline_cache.remove(res.redis, removals)


async def apply_follows(res: Resources, pairs: Iterable[tuple[int, int]]) -> None:
    """Bring cached home timelines in line with follows as they are now (whatever order the events came
    in): a follow backfills the followed account's recent posts (or records a high-follower account to
    merge), an unfollow removes its posts."""
    settings = res.settings
    states = await timeline_store.follow_states(res.db, sorted(set(pairs)), settings.fanout_max_followers)
    cached = await timeline_cache.exists(res.redis, [home_key(s.account_id) for s in states])
    for state, is_cached in zip(states, cached, strict=True):
        if not is_cached:
            continue  # rebuilt from PostgreSQL on the next read
        key = home_key(state.account_id)
        if not state.following:
            await timeline_cache.unmerge(res.redis, key, state.target_id)
        elif state.target_high_follower:
            await timeline_cache.add_followed(res.redis, Followed(state.target_id, state.show_reposts), key)
        else:
            rows = await timeline_store.backfill_rows(
                res.db,
                state.account_id,
                state.target_id,
                limit=settings.timeline_size,
                max_followers=settings.fanout_max_followers,
                cutoff_id=_high_follower_cutoff(res),
            )
            entries = [_entry(row) for row in reversed(rows)]
            await timeline_cache.merge(res.redis, key, entries, settings.timeline_size)


# public and hashtag timelines --------------------------------------------------------------------------

MAX_EXTRA_TAGS = 4  # any[], all[] and none[] each, as Mastodon


async def public_timeline(
    res: Resources, viewer_id: int | None, page: Page, *, remote: bool, only_media: bool
) -> tuple[list[bytes], list[int]]:
    """Public posts, newest first (local and federated are the same here: every post is local)."""
    if remote:
        return [], []
    ids = await timeline_store.public_post_ids(await res.reader(viewer_id), page, only_media=only_media)
    return [entity for _, entity in await cached_post_json(res, ids, viewer_id, context="public")], ids


def tag_name(raw: str) -> str:
    """A hashtag as stored: without `#`, NFKC, lower case."""
    return normalize_tag(clean_text(raw).lstrip("#"))


async def tag_timeline(
    res: Resources,
    viewer_id: int | None,
    page: Page,
    tag: str,
    *,
    any_tags: Sequence[str] = (),
    all_tags: Sequence[str] = (),
    no_tags: Sequence[str] = (),
    remote: bool = False,
    only_media: bool = False,
) -> tuple[list[bytes], list[int]]:
    """Public posts with the hashtag (or any of `any_tags`), all of `all_tags` and none of `no_tags`."""
    wanted = [t for t in dict.fromkeys(tag_name(t) for t in (tag, *any_tags)) if t]
    if remote or not wanted:
        return [], []
    ids = await timeline_store.tag_post_ids(
        await res.reader(viewer_id),
        page,
        wanted,
        all_tags=[t for t in (tag_name(t) for t in all_tags) if t],
        no_tags=[t for t in (tag_name(t) for t in no_tags) if t],
        only_media=only_media,
    )
    return [entity for _, entity in await cached_post_json(res, ids, viewer_id, context="public")], ids


# for tests and tools ----------------------------------------------------------------------------------


async def cached_entries(res: Resources, account_id: int) -> list[Entry] | None:
    """Every entry of an account's cached home timeline, newest first; None when it is not cached."""
    found = await timeline_cache.read(
        res.redis, home_key(account_id), Range("(0", "+inf", 1_000_000, True), ttl=_ttl_seconds(res)
    )
    return None if found is None else found.entries
