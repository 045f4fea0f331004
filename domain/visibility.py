"""Who may see a post, and what a viewer may do with one: the one place every path asks.

Readers (`post_entities`, the cached home page in `domain.cached_posts`, live updates in `domain.streaming`)
decide which posts to show with `restricted_posts` and `apply_visibility`; writers (likes, reactions,
reposts, replies, quotes) find their target with `visible_post` / `visible_original`, so a post that may not
be seen can neither be shown nor acted on, and answers 404 either way. The rule:

- public and unlisted posts: everyone;
- private posts: the author, the author's followers, and the accounts the post mentions;
- direct posts: the author and the accounts the post mentions;
- a repost: whoever may see both the repost and its original.

Where a post goes is the rule's other half: `on_timelines` keeps direct posts off every timeline (home, list,
tag, public), so they reach only their conversations (domain.conversations) and mention notifications.

Queries that filter in SQL (profile posts, quotes, notifications) use its twin, `storage.posts.visible_to`;
those lists still pass through the readers, so the viewer's own rules below apply to them too.

Moderation (issue 22) comes before all of it: a suspended account is shown nowhere (`shown_account`: its
Account is not rendered, so neither are its posts, nor reposts and quotes of them, for any viewer, signed
in or not); a silenced account's posts stay off public and hashtag timelines and streams and trends
(`storage.accounts.listed_author`, in SQL, and `listed_on_public` for live posts).

On top of the audience, the viewer's own rules (issue 22), as a `Shield` for the context of the read:
- blocks, either way, and suspended authors: nowhere (a post asked for by id answers 404);
- mutes: out of home, public, list and tag timelines, threads and streams
  (`domain.viewer_rules.TIMELINE_CONTEXTS`), and out of notifications when the mute says so; a muted
  account's own profile and a post asked for by id still show (which accounts and filters that leaves in
  each context is worked out once per version of the viewer's rules, in
  `domain.viewer_rules.ViewerRules.view`, where the rules are kept);
- a repost is hidden when its reposter or its original's author is, and a quote of a hidden post shows
  the quote as `unauthorized`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from core.errors import ApiError
from domain.viewer_rules import Shield as Shield
from domain.viewer_rules import ViewerRules, rules_at
from storage import follows as follow_store
from storage import moderation as moderation_store
from storage import posts as post_store
from storage import safety as safety_store
from storage.posts import PostRow
from storage.resources import Resources
from storage.rows import Columns

PUBLIC_VISIBILITIES = ("public", "unlisted")

# Where a read happens (Mastodon's filter contexts); None is a post asked for by id (or a search hit, or
# a list of likes): only blocks and suspensions apply there.
ViewContext = str | None
ACCOUNT_CONTEXTS = frozenset({"home", "notifications", "public", "thread", "account"})


NO_SHIELD = Shield()


def shown_account(row: Mapping[str, Any]) -> bool:
    """Whether an account row (with `suspended_at`) may be shown at all: the one test every reader of
    posts and accounts applies (post entities, the post cache, search, notifications)."""
    return row["suspended_at"] is None


async def droppable_entries(res: Resources, unshown: Sequence[int]) -> set[int]:
    """Of the posts a timeline read did not show, those its cached timeline may drop for good: all but
    those hidden only while their author (or their original's author) is suspended, which stay, so that
    lifting the suspension shows them again without rebuilding anyone's timeline."""
    if not unshown:
        return set()
    return set(unshown) - await moderation_store.posts_of_suspended(res.db, unshown)


def listed_on_public(row: Mapping[str, Any]) -> bool:
    """Whether an account row's posts may reach public and hashtag timelines, streams and trends: neither
    suspended nor silenced (`storage.accounts.listed_author` is its SQL twin)."""
    return row["suspended_at"] is None and row.get("silenced_at") is None


def shield_of(rules: ViewerRules | None, context: ViewContext, suspended: frozenset[int] = frozenset()) -> Shield:
    """The rule of the module docstring: which accounts are hidden in `context`, which filters apply, for a
    viewer with these rules (None: a viewer without any), given which authors read are `suspended`."""
    if rules is None:
        return Shield(suspended=suspended) if suspended else NO_SHIELD
    view = rules.view(context)
    return replace(view, suspended=suspended) if suspended else view


# Whether one text holds any of a set of folded keywords: asked once per live event for all the viewers who
# filter the same words (their shields' equal `folded_keywords`).
KeywordHits = dict[frozenset[str], bool]


def filter_verdict(
    shield: Shield,
    post_id: int,
    text: str,
    *,
    author_id: int,
    viewer_id: int | None,
    hits: KeywordHits | None = None,
) -> list[dict[str, Any]] | None:
    """A post's `filtered` for the viewer (FilterResults of warn and blur filters), or None when a hide
    filter matches it: then it is left out of the list, and so out of every stream. `text` is
    `domain.filters.subject_text` of the post; a repost is judged by its original. One's own posts are
    never filtered (as Mastodon). `hits`: what was found for other viewers of the same `text`. No filter
    matches a text in which none of its folded keywords occurs (`text` is folded too): most posts are
    passed on that alone."""
    results: list[dict[str, Any]] = []
    if author_id == viewer_id or not shield.filters:
        return results
    if post_id not in shield.filtered_posts:
        keywords = shield.folded_keywords
        hit = None if hits is None else hits.get(keywords)
        if hit is None:
            hit = any(keyword in text for keyword in keywords)
            if hits is not None:
                hits[keywords] = hit
        if not hit:
            return results
    for compiled in shield.filters:
        result = compiled.result(post_id, text)
        if result is None:
            continue
        if compiled.action == "hide":
            return None
        results.append(result)
    return results


async def load_shield(
    res: Resources, viewer_id: int | None, account_ids: Iterable[int], context: ViewContext
) -> Shield:
    """The viewer's shield over `account_ids` (one query, and one more when the viewer's rules changed
    since this process last read them; none for a signed-out viewer)."""
    if viewer_id is None:
        return NO_SHIELD
    version, suspended = await safety_store.version_and_suspended(res.db, viewer_id, account_ids)
    return shield_of(await rules_at(res, viewer_id, version), context, suspended)


def on_timelines(visibility: str) -> bool:
    """Whether a post of this visibility goes on anyone's home, list or (if public) tag and public timeline.
    Direct posts do not: they reach their readers as conversations and mention notifications only (issue 23)."""
    return visibility != "direct"


def is_public(visibility: str) -> bool:
    """Public and unlisted posts are visible to everyone (unlisted ones only stay off public timelines)."""
    return visibility in PUBLIC_VISIBILITIES


@dataclass(frozen=True)
class Restricted:
    """What the visibility rule has to ask PostgreSQL about: posts that are neither public nor the viewer's
    own, and the authors of the private ones among them (followers may see those)."""

    post_ids: set[int]
    private_authors: set[int]


def restricted_posts(posts: Mapping[int, Columns], viewer_id: int | None) -> Restricted:
    restricted = [
        row for row in posts.values() if row["visibility"] not in PUBLIC_VISIBILITIES and row["account_id"] != viewer_id
    ]
    return Restricted(
        {row["id"] for row in restricted}, {row["account_id"] for row in restricted if row["visibility"] == "private"}
    )


def apply_visibility(
    posts: Mapping[int, Columns],
    restricted: Restricted,
    following: Container[int],
    mentioned: Container[int],
    shield: Shield = NO_SHIELD,
) -> set[int]:
    """The rule itself, given which restricted posts mention the viewer, which of their authors the viewer
    follows, and the viewer's shield. A repost is visible when it and its original are (the original must
    be among `posts`)."""

    def own_rule(row: Columns) -> bool:
        if shield.hides(row["account_id"]):
            return False
        if row["id"] not in restricted.post_ids or row["id"] in mentioned:
            return True
        return row["visibility"] == "private" and row["account_id"] in following

    seen = {post_id for post_id, row in posts.items() if own_rule(row)}
    return {
        post_id for post_id in seen if posts[post_id]["reblog_of_id"] is None or posts[post_id]["reblog_of_id"] in seen
    }


def plain_view(
    shield: Shield,
    posts: Mapping[int, Columns],
    post_id: int,
    text: str,
    viewer_id: int,
    hits: KeywordHits | None = None,
) -> bool | None:
    """The rule for a live event whose posts are all public (nothing restricted to ask PostgreSQL about):
    None when the viewer's shield hides the post (a blocked or muted author, a hide filter), True when the
    viewer sees exactly what a viewer without rules sees, False when it shows otherwise (a FilterResult,
    or a quoted post shown as unauthorized). `text`: `domain.filters.subject_text` of the shown content;
    `hits`: one event's keyword hits, shared by its viewers."""
    every_author_shown = not any(shield.hides(row["account_id"]) for row in posts.values())
    seen = posts.keys() if every_author_shown else apply_visibility(posts, Restricted(set(), set()), (), (), shield)
    if post_id not in seen:
        return None
    row = posts[post_id]
    content_id = row["reblog_of_id"] if row["reblog_of_id"] is not None else post_id
    author_id = posts[content_id]["account_id"]
    verdict = filter_verdict(shield, content_id, text, author_id=author_id, viewer_id=viewer_id, hits=hits)
    if verdict is None:
        return None
    return not verdict and len(seen) == len(posts)


async def visible_ids(
    res: Resources, posts: Mapping[int, Columns], viewer_id: int | None, context: ViewContext = None
) -> set[int]:
    """Which of the posts the viewer may see in `context`, by the rule in `storage.posts.visible_to` and the
    viewer's shield. A repost is visible when it and its original are (the original must be among `posts`).
    """
    return (await visibility_of(res, posts, viewer_id, context))[0]


async def visibility_of(
    res: Resources, posts: Mapping[int, Columns], viewer_id: int | None, context: ViewContext = None
) -> tuple[set[int], Shield]:
    """`visible_ids`, and the viewer's shield (for the filters a reader applies to what it renders)."""
    restricted = restricted_posts(posts, viewer_id)
    following: Mapping[int, Any] = {}
    mentioned: set[int] = set()
    shield = NO_SHIELD
    if viewer_id is not None:
        authors = {row["account_id"] for row in posts.values()} - {viewer_id}
        if restricted.post_ids:
            following, mentioned, shield = await asyncio.gather(
                follow_store.follows_among(res.db, viewer_id, restricted.private_authors),
                post_store.mentioned_in(res.db, viewer_id, restricted.post_ids),
                load_shield(res, viewer_id, authors, context),
            )
        elif authors:
            shield = await load_shield(res, viewer_id, authors, context)
    return apply_visibility(posts, restricted, following, mentioned, shield), shield


async def visible_post(res: Resources, post_id: int, viewer_id: int | None) -> PostRow:
    """The post if the viewer may see it; otherwise 404, so a private post's existence does not leak (nor
    a post of someone who blocks the viewer, who can then neither like, repost, quote nor answer it)."""
    posts = await post_store.get_posts(res.db, [post_id])
    row = posts.get(post_id)
    if row is not None and row.reblog_of_id is not None:
        posts.update(await post_store.get_posts(res.db, [row.reblog_of_id]))
    if row is None or post_id not in await visible_ids(res, posts, viewer_id):
        raise ApiError(404, "Record not found")
    return row


async def visible_original(res: Resources, post_id: int, viewer_id: int | None) -> PostRow:
    """Like `visible_post`, but a repost stands for the post it reposts (as Mastodon's reblog does)."""
    row = await visible_post(res, post_id, viewer_id)
    if row.reblog_of_id is not None:
        return await visible_post(res, row.reblog_of_id, viewer_id)
    return row


def quote_policy(visibility: str, author_id: int, viewer_id: int | None) -> tuple[bool, str]:
    """Mastodon 4.5's quote approval of a post: whether everyone may quote it, and the viewer's own answer
    (`automatic`, `denied`, or `unknown` when signed out). A non-public post may be quoted only by its author."""
    quotable_by_all = is_public(visibility)
    if viewer_id is None:
        return quotable_by_all, "unknown"
    return quotable_by_all, "automatic" if quotable_by_all or author_id == viewer_id else "denied"


def may_quote(post: Columns, account_id: int) -> bool:
    return quote_policy(post["visibility"], post["account_id"], account_id)[1] == "automatic"


def quote_visibility(quoted: Columns | None, requested: str) -> str:
    """Quoting a private post keeps the quote private (as Mastodon)."""
    if quoted is not None and not is_public(quoted["visibility"]) and is_public(requested):
        return "private"
    return requested


def repostable_privately(original: Columns, account_id: int) -> bool | None:
    """Whether a repost of `original` by `account_id` is allowed and must be private: None when it is not
    allowed at all. Only public and unlisted posts can be reposted, except that an author may repost their
    own private post, privately (as Mastodon)."""
    if is_public(original["visibility"]):
        return False
    if original["account_id"] == account_id and original["visibility"] == "private":
        return True
    return None
