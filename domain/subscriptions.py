"""Which queues receive which domain events: the whole routing table, in one literal, in one place.

`domain.events` imports this table (it imports nothing back), so every process that records events (API,
worker, CLI, bench) routes them alike without importing any worker code. A capability with a queue adds
its line here; `tests/test_event_routing.py` checks that each line names a served queue and that every
kind reaches some queue or is listed in UNROUTED.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

from domain.event_kinds import EventKind

SEARCH_QUEUE: Final = "search"
NOTIFICATIONS_QUEUE: Final = "notifications"
STREAMING_QUEUE: Final = "streaming"
TIMELINE_QUEUE: Final = "timeline"
POST_CACHE_QUEUE: Final = "post_cache"
CONVERSATIONS_QUEUE: Final = "conversations"

# queue -> the event kinds it receives, one job per event per queue
SUBSCRIPTIONS: Final[Mapping[str, tuple[EventKind, ...]]] = MappingProxyType(
    {
        # Search indexing (docs/search.md): what posts, accounts and hashtags documents are built from, and
        # the counters ranking uses (post engagement, followers).
        SEARCH_QUEUE: (
            EventKind.POST_CREATED,
            EventKind.POST_EDITED,
            EventKind.POST_UPDATED,
            EventKind.POST_DELETED,
            EventKind.ACCOUNT_CREATED,
            EventKind.ACCOUNT_UPDATED,
            EventKind.ACCOUNT_DELETED,
            EventKind.FOLLOW_CREATED,
            EventKind.FOLLOW_DELETED,
        ),
        # Notifications (domain/notifications.py): the causes of each notification, and their undoing.
        NOTIFICATIONS_QUEUE: (
            EventKind.POST_CREATED,
            EventKind.POST_EDITED,  # `update` to who reposted or quoted it (issue 23)
            EventKind.LIKE_CREATED,
            EventKind.LIKE_DELETED,
            EventKind.REACTION_CREATED,
            EventKind.REACTION_DELETED,
            EventKind.REPOST_CREATED,
            EventKind.REPOST_DELETED,
            EventKind.FOLLOW_CREATED,
            EventKind.FOLLOW_DELETED,
            EventKind.FOLLOW_REQUEST_CREATED,
            EventKind.FOLLOW_REQUEST_DELETED,
        ),
        # Live streams (docs/streaming.md): deletes and status updates (counters, reactions). A new post's
        # updates, home, list, public and hashtag, go out from its fan-out on the timeline queue: one job
        # row fewer per public post, and one load of the batch for every stream.
        STREAMING_QUEUE: (
            EventKind.POST_DELETED,
            EventKind.POST_UPDATED,
            EventKind.POST_EDITED,
            EventKind.REACTION_CREATED,
            EventKind.REACTION_DELETED,
            EventKind.POLL_VOTED,  # throttled (domain/polls.py)
        ),
        # Home timelines (docs/timelines.md): fan-out of new posts (and their live updates on every
        # stream), removal of deleted ones, follow backfill/unmerge.
        TIMELINE_QUEUE: (
            EventKind.POST_CREATED,
            EventKind.POST_DELETED,
            EventKind.FOLLOW_CREATED,
            EventKind.FOLLOW_DELETED,
        ),
        # The post cache (docs/timelines.md): counters, edits and deletions of cached posts, profile changes.
        POST_CACHE_QUEUE: (
            EventKind.POST_UPDATED,
            EventKind.POST_EDITED,
            EventKind.POST_DELETED,
            EventKind.REACTION_CREATED,
            EventKind.REACTION_DELETED,
            EventKind.ACCOUNT_UPDATED,
            EventKind.POLL_VOTED,
        ),
        # Direct messages (domain/conversations.py): each participant's conversations (issue 23).
        CONVERSATIONS_QUEUE: (EventKind.POST_CREATED,),
    }
)


def _is_direct_post(payload: Mapping[str, Any]) -> bool:
    """A new direct post (not a repost): the only `post.created` the conversations queue acts on."""
    return payload.get("visibility") == "direct" and payload.get("reblog_of_id") is None


def _may_notify(payload: Mapping[str, Any]) -> bool:
    """A new post that mentions, answers or quotes someone: the only `post.created` that can notify (a
    repost notifies through `repost.created`; `domain.notifications` leaves out the author itself)."""
    if payload.get("reblog_of_id") is not None:
        return False
    replied_to = payload.get("in_reply_to_account_id")
    answers_other = replied_to is not None and replied_to != payload.get("account_id")
    return bool(payload.get("mention_ids")) or answers_other or payload.get("quote_of_id") is not None


def is_public_post(payload: Mapping[str, Any]) -> bool:
    """A new public post (not a repost): the only `post.created` the public and hashtag streams show."""
    return payload.get("visibility") == "public" and payload.get("reblog_of_id") is None


# (queue, kind) -> which of the kind's events the queue receives, for a queue that acts on some of them only:
# the others leave no job row there (each row is an insert, a claim and a delete in PostgreSQL for nothing).
# The handler still checks the same condition, so a job recorded before this filter runs harmlessly.
WANTS: Final[Mapping[tuple[str, EventKind], Callable[[Mapping[str, Any]], bool]]] = MappingProxyType(
    {
        (CONVERSATIONS_QUEUE, EventKind.POST_CREATED): _is_direct_post,
        (NOTIFICATIONS_QUEUE, EventKind.POST_CREATED): _may_notify,
    }
)

# Kinds no queue receives, on purpose (recording one costs nothing and leaves no row). None today.
UNROUTED: Final[frozenset[EventKind]] = frozenset()


def _author(payload: Mapping[str, Any]) -> int:
    return int(payload["account_id"])


# (queue, kind) -> the key a queue's jobs of that kind keep their order by (storage/jobs.py `claim`): the
# fan-out runs one author's new and deleted posts one after another, never side by side on two workers, so
# a follower's stream receives them in the order they were written (its resume cursor is the newest post
# id it has seen: an older post arriving after a newer one would be skipped by a resume in between).
IN_ORDER_OF: Final[Mapping[tuple[str, EventKind], Callable[[Mapping[str, Any]], int]]] = MappingProxyType(
    {
        (TIMELINE_QUEUE, EventKind.POST_CREATED): _author,
        (TIMELINE_QUEUE, EventKind.POST_DELETED): _author,
    }
)
