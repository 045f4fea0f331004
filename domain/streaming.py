"""Live events: what is published to Valkey pub/sub after a write commits, rendered right for each viewer.

Called from workers (never before the PostgreSQL commit): the timeline fan-out publishes a new post's
updates (home with `publish_home`, list, public and hashtag); the `streaming` queue publishes deletes and
status updates.
docs/streaming.md has the channel design and why.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from core.pagination import Page
from domain.event_kinds import PostDeleted
from domain.filters import subject_text
from domain.post_entities import load_with_references, post_entities, referenced_ids
from domain.post_text import tags as entity_tags
from domain.timelines import PostDelivery, home_entries, missed_home_posts
from domain.viewer_rules import ViewerRules, rules_of_many
from domain.visibility import KeywordHits, ViewContext, is_public, listed_on_public, plain_view, shield_of
from storage import accounts as account_store
from storage import audiences as audience_store
from storage import bookmarks as bookmark_store
from storage import likes as like_store
from storage import lists as list_store
from storage import polls as poll_store
from storage import post_versions as version_store
from storage import posts as post_store
from storage import presence
from storage import tags as tag_store
from storage.channels import PUBLIC_CHANNEL, HomeMessage, Message, PublicMessage, node_channel, publish, tag_channel
from storage.lists import list_channel
from storage.posts import PostRow
from storage.resources import Resources

# A signed-in viewer who has no relation to anything in the post (no account has id 0): the payload every
# signed-in viewer without likes, reposts, reactions or follows of restricted authors in the post receives.
GENERIC_VIEWER = 0
PUBLISH_CONCURRENCY = 8  # posts of one fan-out batch rendered and published at once
_UNMARKED: frozenset[tuple[str, int | str]] = frozenset()  # the group of viewers the generic viewer stands for


def _json(entity: Mapping[str, Any]) -> str:
    return orjson.dumps(entity).decode()


@dataclass(frozen=True)
class _Tree:
    """A post and the posts it shows, by id, as loaded for its live events."""

    rows: dict[int, PostRow]
    # Whether anyone's likes, reposts, reactions, follows or mentions can change how it renders for them.
    # A new post usually has none of these, and then its viewers need no query at all.
    markable: bool


@dataclass(frozen=True)
class _Prefetched:
    """A small fan-out batch's posts, loaded together: each one's tree, and the JSON for the generic
    viewer of those nobody's marks can change."""

    trees: dict[int, _Tree]
    generic: dict[int, str]
    reacted: set[int]  # which of the loaded posts have reactions


def _tree_of(post_id: int, loaded: Mapping[int, PostRow], reacted: set[int]) -> _Tree:
    """The post and the posts it shows, out of a batch's `loaded` rows (as `load_with_references` finds
    them for the post alone); `reacted`: which of the loaded posts have reactions."""
    rows: dict[int, PostRow] = {}
    wanted = [post_id]
    while wanted:
        row = loaded.get(wanted.pop())
        if row is not None and row.id not in rows:
            rows[row.id] = row
            wanted += referenced_ids(row)
    content = [row for row in rows.values() if row.reblog_of_id is None]
    markable = (
        post_id in reacted
        or any(row.id in reacted for row in content)
        or any(not is_public(row.visibility) for row in rows.values())
        or any(row.likes_count or row.reposts_count for row in content)
    )
    return _Tree(rows, markable)


async def _prefetch(res: Resources, post_ids: Sequence[int]) -> _Prefetched:
    """Load a small batch's posts and what they show in one query, which of them have reactions in one or
    two, and render the unmarkable ones for the generic viewer at once (per post, this was four queries)."""
    loaded, reacted = await asyncio.gather(
        load_with_references(res, post_ids), like_store.reacted_among(res.db, post_ids)
    )
    batch = set(post_ids)
    shown = [row.id for row in loaded.values() if row.reblog_of_id is None and row.id not in batch]
    if shown:
        reacted |= await like_store.reacted_among(res.db, shown)
    trees = {post_id: _tree_of(post_id, loaded, reacted) for post_id in post_ids}
    plain = [post_id for post_id, tree in trees.items() if post_id in tree.rows and not tree.markable]
    rows = {row.id: row for post_id in plain for row in trees[post_id].rows.values()}
    entities = await post_entities(res, plain, GENERIC_VIEWER, loaded=rows, reactions={}) if plain else []
    return _Prefetched(trees, {int(entity["id"]): _json(entity) for entity in entities}, reacted)


class PostViews:
    """One post as each of many viewers sees it, for live events: loaded once, rendered once per group of
    viewers who would see the same entity.

    What differs between viewers is known in advance (favourited, reblogged and reactions' `me` of each
    post in it, which restricted posts they may see, whether they wrote one of them), so one query sorts
    the viewers into groups and the entity is rendered for one member of each. A new post usually makes
    one group (plus its author's), and needs no query: nobody has liked, reposted or reacted to it yet.
    Rendered from PostgreSQL, not through the post cache: a new post is not cached yet (its first reader
    caches it), and changed counters may not be either (the post cache is refreshed by its own queue).
    """

    def __init__(self, res: Resources, post_id: int, context: ViewContext = "home") -> None:
        self._res = res
        self.post_id = post_id
        self.context = context  # home for the `user` stream, public for the public and hashtag ones
        self._tree: asyncio.Future[_Tree] | None = None
        self._rendered: dict[frozenset[tuple[str, int | str]], asyncio.Future[str | None]] = {}

    def _load(self) -> asyncio.Future[_Tree]:
        """The post and the posts it shows (loaded on first use, shared by every later call)."""
        if self._tree is None:
            self._tree = asyncio.ensure_future(self._load_tree())
        return self._tree

    async def _load_tree(self) -> _Tree:
        db = self._res.db
        # The post's own reactions are asked for alongside it: one round trip less for a post that shows no
        # other (the usual new post); the posts it shows are asked about once they are known.
        rows, reacted = await asyncio.gather(
            load_with_references(self._res, [self.post_id]), bookmark_store.have_marks(db, [self.post_id])
        )
        content = [row for row in rows.values() if row.reblog_of_id is None]
        others = [row.id for row in content if row.id != self.post_id]
        markable = (
            reacted
            or any(not is_public(row.visibility) for row in rows.values())
            or any(row.likes_count or row.reposts_count for row in content)
            or (bool(others) and await bookmark_store.have_marks(db, others))
        )
        return _Tree(rows, markable)

    async def payloads(self, viewer_ids: Sequence[int]) -> list[tuple[str, list[int]]]:
        """The Status JSON for each viewer, grouped; viewers who may not see the post are left out."""
        viewers = list(dict.fromkeys(viewer_ids))
        if not viewers:
            return []
        tree = await self._load()
        if self.post_id not in tree.rows:
            return []
        rows = list(tree.rows.values())
        authors = {row.account_id for row in rows}
        marks, ruled = await asyncio.gather(
            self._marks(tree, viewers), self._shielded_rules(viewers, touching_only=tree.markable)
        )
        shielded = set(ruled)
        if shielded and not tree.markable:
            # One pass over the viewers with rules sorts them all, those the rules do not touch included.
            plain, hidden = await self._sort_shielded(tree, {v: r for v, r in ruled.items() if v not in authors})
            shielded = shielded - plain - hidden
            viewers = [viewer for viewer in viewers if viewer not in hidden]
        unmarked: list[int] = []  # most viewers: nothing about them changes the post
        groups: dict[frozenset[tuple[str, int | str]], list[int]] = {_UNMARKED: unmarked}
        for viewer in viewers:
            own = marks.get(viewer)
            if own is None and viewer not in authors and viewer not in shielded:
                unmarked.append(viewer)
                continue
            key = set(own or ())
            if viewer in authors:
                key.add(("a", viewer))
            if viewer in shielded:  # a block or mute with an author: the visibility rule decides, one by one
                key.add(("s", viewer))
            groups.setdefault(frozenset(key), []).append(viewer)
        keys = [key for key, members in groups.items() if members]
        # The unmarked group is rendered for the generic viewer, who sees it as each of them does.
        texts = await asyncio.gather(
            *(self._render(key, GENERIC_VIEWER if key == _UNMARKED else groups[key][0]) for key in keys)
        )
        return [(text, groups[key]) for key, text in zip(keys, texts, strict=True) if text is not None]

    async def _sort_shielded(self, tree: _Tree, viewers: Mapping[int, ViewerRules]) -> tuple[set[int], set[int]]:
        """Of viewers with rules, on a post nobody's marks change: those who see the generic rendering
        after all (their rules do not touch it), and those who do not see it at all, by the one rule
        (`domain.visibility.plain_view`) with each viewer's rules as kept in memory; the rest (a
        FilterResult, a muted conversation) are rendered one by one. Keeps a thousand viewers with
        filters from a thousand renderings."""
        if not viewers:
            return set(), set()
        generic = await self._render(_UNMARKED, GENERIC_VIEWER)
        if generic is None:  # nobody sees it (gone, or its author suspended): rules only ever hide more
            return set(), set(viewers)
        entity = orjson.loads(generic)
        shown = entity["reblog"] or entity
        text = subject_text(shown["spoiler_text"], shown["content"])
        threads = {row.thread_root_id for row in tree.rows.values()}
        plain: set[int] = set()
        hidden: set[int] = set()
        hits: KeywordHits = {}
        for viewer, rules in viewers.items():
            verdict = plain_view(shield_of(rules, self.context), tree.rows, self.post_id, text, viewer, hits)
            if verdict is None:
                hidden.add(viewer)
            elif verdict and rules.conversations.isdisjoint(threads):
                plain.add(viewer)
        return plain, hidden

    async def _marks(self, tree: _Tree, viewers: Sequence[int]) -> dict[int, set[tuple[str, int | str]]]:
        if not tree.markable:
            return {}
        rows = list(tree.rows.values())
        restricted = [row for row in rows if not is_public(row.visibility)]
        return await audience_store.viewer_marks(
            self._res.db,
            viewers,
            content_ids=[row.id for row in rows if row.reblog_of_id is None],
            restricted_ids=[row.id for row in restricted],
            restricted_authors=[row.account_id for row in restricted],
        )

    async def shielded(self, viewer_ids: Sequence[int]) -> set[int]:
        """Those of the viewers with a block or a mute involving an author of the post, a filter, or a mute
        of its conversation: the generic rendering does not hold for them (domain.visibility decides for
        each, and post_entities sets `muted`)."""
        return set(await self._shielded_rules(viewer_ids))

    async def _shielded_rules(self, viewer_ids: Sequence[int], *, touching_only: bool = True) -> dict[int, ViewerRules]:
        """`shielded`, with each one's rules (one stamp query for all the viewers; their rules are kept in
        memory by domain.viewer_rules); with `touching_only` false, every viewer with any rule (for a
        caller that sorts them all anyway)."""
        tree = await self._load()
        rules = await rules_of_many(self._res, viewer_ids)
        if not touching_only:
            return rules
        authors = frozenset(row.account_id for row in tree.rows.values())
        threads = frozenset(row.thread_root_id for row in tree.rows.values())
        now = time.time()
        return {viewer: r for viewer, r in rules.items() if r.touches(authors, threads, self.context, now)}

    def prefetch(self) -> asyncio.Future[str | None]:
        """Start loading the post, and rendering it for viewers with no marks, before anyone asks."""
        return self._render(_UNMARKED, GENERIC_VIEWER)

    def prefetch_from(self, batch: asyncio.Future[_Prefetched]) -> asyncio.Future[str | None]:
        """As `prefetch`, but the post and its rendering come from its batch's prefetch (`_prefetch`)."""
        self._tree = asyncio.ensure_future(self._tree_from(batch))
        rendered = self._rendered[_UNMARKED] = asyncio.ensure_future(self._generic_from(batch))
        return rendered

    async def _tree_from(self, batch: asyncio.Future[_Prefetched]) -> _Tree:
        return (await batch).trees[self.post_id]

    async def _generic_from(self, batch: asyncio.Future[_Prefetched]) -> str | None:
        prefetched = await batch
        if self.post_id in prefetched.generic:
            return prefetched.generic[self.post_id]
        if self.post_id not in prefetched.trees[self.post_id].rows:
            return None  # gone already
        return await self._entity(GENERIC_VIEWER)  # markable: rendered with its reactions

    def _render(self, key: frozenset[tuple[str, int | str]], viewer: int) -> asyncio.Future[str | None]:
        """The entity as the group `key` sees it, rendered for its member `viewer` once."""
        rendered = self._rendered.get(key)
        if rendered is None:
            rendered = self._rendered[key] = asyncio.ensure_future(self._entity(viewer))
        return rendered

    async def _entity(self, viewer: int) -> str | None:
        tree = await self._load()
        # Nothing in an unmarkable tree has reactions: post_entities need not ask.
        reactions: dict[int, list[tuple[str, int, bool]]] | None = None if tree.markable else {}
        entities = await post_entities(
            self._res, [self.post_id], viewer, loaded=tree.rows, reactions=reactions, context=self.context
        )
        return _json(entities[0]) if entities else None


async def personalize(
    res: Resources, post_id: int, viewer_ids: Sequence[int], context: ViewContext = "public"
) -> dict[int, str]:
    """The post's Status JSON for each viewer (absent when the viewer may not see it), rendered fresh."""
    groups = await PostViews(res, post_id, context).payloads(viewer_ids)
    return {viewer: payload for payload, group in groups for viewer in group}


async def shielded_viewers(res: Resources, post_id: int, viewer_ids: Sequence[int]) -> set[int]:
    """Which of the viewers of a public stream need the post rendered for themselves (their blocks and mutes
    may hide it), rather than the one signed-in payload."""
    if not viewer_ids:
        return set()
    return await PostViews(res, post_id, "public").shielded(viewer_ids)


async def publish_home(
    res: Resources,
    event: str,
    post_id: int,
    recipient_ids: Sequence[int],
    views: PostViews | None = None,
    online: Mapping[int, Sequence[int]] | None = None,
) -> int:
    """Publish a home-timeline event (update, status.update, delete) to those of `recipient_ids` who are
    connected: one message per API process holding any of them, carrying each one's payload. Returns
    the number of recipients online. Call after the post's transaction committed. `views`: the post's,
    when it is published to several sets of recipients; `online`: who of them is connected, by process,
    when the caller has asked already."""
    # Presence first: nothing is loaded or rendered for a post nobody connected will see.
    if online is None:
        online = await presence.online_by_node(res.redis, recipient_ids)
    if not online:
        return 0
    everyone = list(dict.fromkeys(account for accounts in online.values() for account in accounts))
    if event == "delete":
        groups = [(str(post_id), everyone)]
    else:
        views = views or PostViews(res, post_id)
        groups = await views.payloads(everyone)
    messages: list[tuple[str, Message]] = []
    for node, accounts in online.items():
        here = set(accounts)
        node_groups = [(payload, [a for a in group if a in here]) for payload, group in groups]
        node_groups = [(payload, group) for payload, group in node_groups if group]
        if node_groups:
            messages.append((node_channel(node), HomeMessage(event, post_id, node_groups)))
    await publish(res.redis, messages)
    return len(everyone)


def _public_channels(row: PostRow, *, include_replies: bool) -> list[str]:
    """The public and hashtag channels a public post belongs to. As Mastodon: replies to someone else stay
    off the public stream (they still reach their hashtags), reposts reach neither."""
    if row.visibility != "public" or row.reblog_of_id is not None:
        return []
    channels = [tag_channel(tag) for tag in entity_tags(row.entities or [])]
    reply_to_other = row.in_reply_to_id is not None and row.in_reply_to_account_id != row.account_id
    if include_replies or not reply_to_other:
        channels.insert(0, PUBLIC_CHANNEL)
    return channels


async def _public_message(res: Resources, event: str, row: PostRow, *, personal: bool) -> PublicMessage | None:
    post_id = row.id
    anonymous = await post_entities(res, [post_id], None)
    if not anonymous:
        return None
    signed_in = None if personal else await post_entities(res, [post_id], GENERIC_VIEWER)
    return PublicMessage(
        event,
        post_id,
        post_id,
        _json(anonymous[0]),
        _json(signed_in[0]) if signed_in else None,
        personal=personal,
        media=bool(row.has_media),
    )


async def publish_post_created(res: Resources, post_id: int) -> None:
    """`update` on the public and hashtag streams for a new public post."""
    await publish_posts_created(res, [post_id])


async def publish_posts_created(
    res: Resources, post_ids: Sequence[int], *, prefetched: _Prefetched | None = None
) -> None:
    """`update` on the public and hashtag streams for new public posts, a whole batch at once: the posts
    and what they show in one load, their reactions in one query, then one rendering of the batch for
    signed-out readers and one for signed-in ones, and one round of publishes. (Per post, this was nine
    queries.) Nobody can have liked a post this new, so one signed-in payload fits all, unless it quotes
    a post (whose favourited and visibility differ between viewers): those are rendered by each API
    process for its viewers (`personal`). `prefetched`: what the fan-out batch already loaded and rendered
    for the generic viewer (`_prefetch`), used instead of loading and rendering it again."""
    ids = list(dict.fromkeys(post_ids))
    if not ids:
        return
    if prefetched is not None and all(i in prefetched.trees for i in ids):
        loaded = {row_id: row for i in ids for row_id, row in prefetched.trees[i].rows.items()}
        generic, reacted = prefetched.generic, prefetched.reacted
    else:
        loaded, generic, reacted = await load_with_references(res, ids), {}, None
    channels = {i: _public_channels(loaded[i], include_replies=False) for i in ids if i in loaded}
    shown = [i for i in ids if channels.get(i)]
    if not shown:
        return
    # A silenced (or suspended) author's posts stay off the public and hashtag streams (domain.visibility).
    authors = await account_store.get_accounts(res.db, {loaded[i].account_id for i in shown})
    shown = [i for i in shown if (a := authors.get(loaded[i].account_id)) is not None and listed_on_public(a)]
    if not shown:
        return
    content = [row.id for row in loaded.values() if row.reblog_of_id is None and (reacted is None or row.id in reacted)]
    # Nobody is the generic viewer, so its `me` flags are the signed-out reader's (all false).
    reactions = await like_store.reaction_counts(res.db, content, None) if content else {}
    unquoting = [i for i in shown if loaded[i].quote_of_id is None]
    anonymous, signed_in = await asyncio.gather(
        post_entities(res, shown, None, loaded=loaded, reactions=reactions),
        post_entities(
            res, [i for i in unquoting if i not in generic], GENERIC_VIEWER, loaded=loaded, reactions=reactions
        ),
    )
    signed_in_json = {i: generic[i] for i in unquoting if i in generic}
    signed_in_json.update((int(entity["id"]), _json(entity)) for entity in signed_in)
    messages: list[tuple[str, Message]] = []
    for entity in anonymous:
        post_id = int(entity["id"])
        row = loaded[post_id]
        personal = row.quote_of_id is not None
        message = PublicMessage(
            "update",
            post_id,
            post_id,
            _json(entity),
            None if personal else signed_in_json.get(post_id),
            personal=personal,
            media=bool(row.has_media),
        )
        messages += [(channel, message) for channel in channels[post_id]]
    await publish(res.redis, messages)


async def publish_post_deleted(res: Resources, event: PostDeleted) -> None:
    """`delete` to everyone who may have received the post: the author's connected followers and the author
    (home), the followers of its hashtags when it was public (it reached their home), the `list` streams of
    the lists holding the author, and the public and hashtag streams when it was public."""
    post_id = int(event["id"])
    author = int(event["account_id"])
    messages: list[tuple[str, Message]] = []
    if event.get("visibility") == "public" and event.get("reblog_of_id") is None:
        delete = PublicMessage("delete", post_id, post_id, str(post_id), str(post_id))
        channels = [PUBLIC_CHANNEL, *(tag_channel(tag) for tag in event.get("tags") or [])]
        messages = [(channel, delete) for channel in channels]
    # As Mastodon: `delete` on every `list` stream that may have shown it (the lists holding its author).
    in_lists = (await list_store.lists_with_members(res.db, [author])).get(author, [])
    if in_lists:
        gone = PublicMessage("delete", post_id, post_id, str(post_id), str(post_id))
        messages += [(list_channel(list_id), gone) for _, list_id in in_lists]
    await publish(res.redis, messages)
    audience = [author, *await audience_store.follower_ids(res.db, author)]
    if event.get("visibility") == "public" and event.get("reblog_of_id") is None:
        audience += await tag_store.tag_follower_ids(res.db, event.get("tags") or [])  # it reached their home
    await publish_home(res, "delete", post_id, list(dict.fromkeys(audience)))


async def publish_posts_changed(res: Resources, post_ids: Iterable[int]) -> None:
    """`status.update` (new counts, reactions) to everyone who may have received each post: the author's
    connected followers and the author, each with their own favourited/reblogged/reactions, and the public
    and hashtag streams (rendered per viewer by each API process)."""
    for post_id in dict.fromkeys(post_ids):
        row = await post_store.get_post(res.db, post_id)
        if row is None:
            continue
        author = row.account_id
        await publish_home(res, "status.update", post_id, [author, *await audience_store.follower_ids(res.db, author)])
        channels = _public_channels(row, include_replies=True)
        if channels:
            message = await _public_message(res, "status.update", row, personal=True)
            if message is not None:
                await publish(res.redis, [(channel, message) for channel in channels])


class HomeUpdates:
    """The live `update`s of one fan-out batch. The fan-out hands over each slice of recipients as soon as
    their home timelines hold the post (`written`), never before: a client that sees the update and then
    reads its timeline finds the post there, and a stream resuming from its timeline misses nothing. Each
    post is loaded, and rendered per group of alike viewers, once for the whole batch."""

    def __init__(self, res: Resources, post_ids: Sequence[int]) -> None:
        self._res = res
        self._views: dict[int, PostViews] = {}
        self._limit = asyncio.Semaphore(PUBLISH_CONCURRENCY)
        # Followers of high-follower authors are told right after the first slice (their timelines merge
        # those posts when read): started sooner, their queries would hold up the first slice's.
        self._merging: asyncio.Future[int] | None = None
        # A small batch (a trickle of posts, where latency shows) loads and renders its posts while their
        # first timelines are written; a large one renders only what someone connected will see.
        self._prefetched: list[asyncio.Future[str | None]] = []
        self._batch: asyncio.Future[_Prefetched] | None = None
        if post_ids and len(post_ids) <= PUBLISH_CONCURRENCY:
            self._batch = batch = asyncio.ensure_future(_prefetch(res, list(dict.fromkeys(post_ids))))
            self._prefetched = [self._views_of(post_id).prefetch_from(batch) for post_id in dict.fromkeys(post_ids)]

    async def written(self, deliveries: Sequence[PostDelivery]) -> None:
        """Publish to recipients whose timelines now hold the post; returns once they are published."""
        await asyncio.gather(
            *(self._publish(self._views_of(d.post_id), d.recipients, d.online) for d in deliveries if d.recipients)
        )
        # The first slice holds every post of the batch.
        self._merge([d for d in deliveries if d.merged])

    async def publish_public(self, post_ids: Sequence[int]) -> None:
        """`update` on the public and hashtag streams for the batch's new public posts, from what the batch
        loaded and rendered for their home updates (a large batch, which loads nothing ahead, is loaded
        once here)."""
        await publish_posts_created(self._res, post_ids, prefetched=await self._batch if self._batch else None)

    def _merge(self, posts: Sequence[PostDelivery]) -> asyncio.Future[int]:
        if self._merging is None:
            self._merging = asyncio.ensure_future(self._merged(posts))
        return self._merging

    async def _merged(self, posts: Sequence[PostDelivery]) -> int:
        """Updates for the connected followers of the high-follower authors of `posts` (not replies to others:
        their fan-out already chose who gets those). Walks who is online, not the followers."""
        if not posts:
            return 0
        online = await presence.all_online(self._res.redis)
        sent = 0
        for post in posts:
            followers = await audience_store.followers_among(
                self._res.db, post.author_id, online, reposts=post.reblog_of_id is not None
            )
            if followers:
                sent += await self._publish(self._views_of(post.post_id), followers)
        return sent

    async def finish(self) -> None:
        """Wait for the merged audiences' updates (raising what failed there), and for what was loaded ahead
        (what failed there was raised to the slices that needed it)."""
        await asyncio.gather(*self._prefetched, return_exceptions=True)
        await self._merge([])  # nothing was written (no post left to fan out): nobody to tell

    def _views_of(self, post_id: int) -> PostViews:
        views = self._views.get(post_id)
        if views is None:
            views = self._views[post_id] = PostViews(self._res, post_id)
        return views

    async def _publish(
        self, views: PostViews, recipients: Sequence[int], online: Mapping[int, Sequence[int]] | None = None
    ) -> int:
        async with self._limit:
            return await publish_home(self._res, "update", views.post_id, recipients, views, online)


async def publish_list_updates(res: Resources, deliveries: Sequence[PostDelivery]) -> None:
    """`update` on the `list` streams of the list timelines that now hold each post (after they hold it).
    Rendered per viewer by the receiving process (the list's owner sees their own bookmarks and likes)."""
    messages: list[tuple[str, Message]] = []
    for delivery in deliveries:
        for _, list_id in delivery.lists:
            message = PublicMessage("update", delivery.post_id, delivery.post_id, None, None, personal=True)
            messages.append((list_channel(list_id), message))
    await publish(res.redis, messages)


async def missed_home(
    res: Resources, account_id: int, after_id: int, limit: int
) -> tuple[list[tuple[int, str]], bool, int]:
    """What a reconnecting `user` stream missed from its home timeline (the timeline's own read): (post id,
    Status JSON) oldest first, whether there were more than `limit`, and the newest id looked at."""
    entities, more = await missed_home_posts(res, account_id, after_id, limit=limit)
    if more:
        newest = await home_entries(res, account_id, Page(limit=1))
        return [], True, newest[0].post_id if newest else after_id
    missed = [(int(entity["id"]), _json(entity)) for entity in entities]
    return missed, False, max((post_id for post_id, _ in missed), default=after_id)


async def missed_edits(res: Resources, account_id: int, after_id: int, limit: int) -> list[tuple[int, str]]:
    """Posts a reconnecting `user` stream got before `after_id` and that were edited, or whose poll counts
    changed, since: (post id, current Status JSON) for a `status.update` each, edits oldest first, then polls
    by when they were last counted (the live count updates are throttled and were published, not stored, so
    the resume reads the counts as they are now). A change seen live before the connection dropped may come
    again (a `status.update` is idempotent); newer posts are replayed whole instead."""
    edited = await version_store.edited_since(res.db, account_id, after_id, limit)
    counted = await poll_store.counted_since(res.db, account_id, after_id, limit)
    post_ids = list(dict.fromkeys([*edited, *counted]))
    entities = await post_entities(res, post_ids, account_id)
    return [(int(entity["id"]), _json(entity)) for entity in entities]


async def warm_home(res: Resources, account_id: int) -> None:
    """Make sure the account's home timeline is cached: the fan-out writes (and so streams) new posts only
    to cached timelines, so a client opening a `user` stream gets its timeline built now if it was not."""
    await home_entries(res, account_id, Page(limit=1))
