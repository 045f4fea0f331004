"""Which queues receive which domain events: the whole routing table, in one place.

`domain.events` loads this module, so every process that records events (API, worker, CLI, bench) routes
them alike without importing any worker code. A capability with a queue adds its line here.
"""

from __future__ import annotations

from domain.events import subscribe

# Search indexing (docs/search.md): what posts, accounts and hashtags documents are built from, and the
# counters ranking uses (post engagement, followers).
SEARCH_QUEUE = "search"
SEARCH_EVENTS = (
    "post.created",
    "post.edited",
    "post.updated",
    "post.deleted",
    "account.created",
    "account.updated",
    "account.deleted",
    "follow.created",
    "follow.deleted",
)

subscribe(SEARCH_QUEUE, *SEARCH_EVENTS)

# Notifications (domain/notifications.py): the causes of each notification, and their undoing.
NOTIFICATIONS_QUEUE = "notifications"
NOTIFICATIONS_EVENTS = (
    "post.created",
    "like.created",
    "like.deleted",
    "reaction.created",
    "reaction.deleted",
    "repost.created",
    "repost.deleted",
    "follow.created",
    "follow.deleted",
    "follow_request.created",
    "follow_request.deleted",
)

subscribe(NOTIFICATIONS_QUEUE, *NOTIFICATIONS_EVENTS)

# Live streams (docs/streaming.md): public and hashtag updates, deletes, status updates (counters, reactions).
STREAMING_QUEUE = "streaming"
STREAMING_EVENTS = (
    "post.created",
    "post.deleted",
    "post.updated",
    "post.edited",
    "reaction.created",
    "reaction.deleted",
)

subscribe(STREAMING_QUEUE, *STREAMING_EVENTS)

# Home timelines (docs/timelines.md): fan-out of new posts, removal of deleted ones, follow backfill/unmerge.
TIMELINE_QUEUE = "timeline"
TIMELINE_EVENTS = ("post.created", "post.deleted", "follow.created", "follow.deleted")

subscribe(TIMELINE_QUEUE, *TIMELINE_EVENTS)

# The post cache (docs/timelines.md): counters, edits and deletions of cached posts, profile changes.
POST_CACHE_QUEUE = "post_cache"
POST_CACHE_EVENTS = (
    "post.updated",
    "post.edited",
    "post.deleted",
    "reaction.created",
    "reaction.deleted",
    "account.updated",
)

subscribe(POST_CACHE_QUEUE, *POST_CACHE_EVENTS)
