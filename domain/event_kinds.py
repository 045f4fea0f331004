"""The domain events' contract: every kind, and the payload each kind carries (docs/events.md).

Producers record an event as `record_event(conn, EventKind.X, payload)` (domain/events.py), and mypy checks
the payload against the kind; consumers read a job back with `decode(job)`, a `(kind, payload)` pair that
a `match` narrows to the payload of that kind. A misspelt kind is an AttributeError or a mypy error, not an
event routed nowhere. This module imports nothing else of the domain, so every domain module may use it.

The values are the strings stored in the jobs table, and the payloads are TypedDicts, not classes: the
JSON of a job is exactly the dict the producer wrote, so jobs already queued decode unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal, NotRequired, TypedDict, cast

from storage.jobs import Job


class EventKind(StrEnum):
    """What happened. The value is the job's `kind` column; never change one (queued jobs carry it)."""

    POST_CREATED = "post.created"
    POST_UPDATED = "post.updated"  # counters changed
    POST_EDITED = "post.edited"  # a new version of a post (domain.edits.edit_post)
    POST_DELETED = "post.deleted"
    REPOST_CREATED = "repost.created"
    REPOST_DELETED = "repost.deleted"
    LIKE_CREATED = "like.created"
    LIKE_DELETED = "like.deleted"
    REACTION_CREATED = "reaction.created"
    REACTION_DELETED = "reaction.deleted"
    FOLLOW_CREATED = "follow.created"
    FOLLOW_DELETED = "follow.deleted"
    FOLLOW_REQUEST_CREATED = "follow_request.created"  # asked to follow a locked account
    FOLLOW_REQUEST_DELETED = "follow_request.deleted"  # withdrawn, authorized or rejected
    ACCOUNT_CREATED = "account.created"
    ACCOUNT_UPDATED = "account.updated"
    ACCOUNT_DELETED = "account.deleted"  # subscribed to and handled, but nothing records it yet
    POLL_VOTED = "poll.voted"  # a vote counted (domain.polls.vote)


# The payloads. Ids are JSON integers (Snowflakes); a payload names what changed, never a whole entity.


class PostCreated(TypedDict):
    """`post.created`: a post or a repost (`reblog_of_id` set)."""

    id: int
    account_id: int
    visibility: str  # public, unlisted, private, direct
    in_reply_to_id: int | None
    in_reply_to_account_id: int | None
    thread_root_id: int
    reblog_of_id: int | None
    quote_of_id: int | None
    mention_ids: list[int]  # the accounts mentioned
    tags: list[str]  # normalised hashtags


class PostCounts(TypedDict):
    replies_count: int
    reposts_count: int
    likes_count: int
    quotes_count: int


class PostUpdated(TypedDict):
    """`post.updated`: a post's counters after the change."""

    id: int
    account_id: int  # the post's author
    reason: str  # reply, reply.deleted, quote, quote.deleted, like, unlike, repost, unrepost, repost.deleted
    counts: PostCounts


class PostEdited(TypedDict):
    """`post.edited`: a post's new version is on its row (domain.edits); search, live streams (`status.update`),
    the post cache and notifications (`update`, to who reposted or quoted it; `mention`, to who it newly
    mentions) read the post afresh."""

    id: int
    account_id: int
    tags: list[str]  # the hashtags after the edit
    old_tags: NotRequired[list[str]]  # the hashtags before it, to recount
    mention_ids: NotRequired[list[int]]  # accounts the edit mentions for the first time (`mention` notifications)


class PostDeleted(TypedDict):
    """`post.deleted`: a post or a repost (each repost of a deleted post has its own)."""

    id: int
    account_id: int
    visibility: str
    reblog_of_id: int | None
    in_reply_to_id: int | None
    quote_of_id: int | None
    tags: list[str]


class RepostCreated(TypedDict):
    id: int  # the repost
    account_id: int  # who reposted
    reblog_of_id: int
    post_account_id: int  # the original's author
    visibility: str


class RepostDeleted(TypedDict):
    id: int
    account_id: int
    reblog_of_id: int


class Like(TypedDict):
    """`like.created` and `like.deleted`."""

    post_id: int
    post_account_id: int
    account_id: int  # who liked


class Reaction(TypedDict):
    """`reaction.created` and `reaction.deleted` (reactions other than `like`)."""

    post_id: int
    post_account_id: int
    account_id: int
    name: str
    count: int  # the post's count for `name` after the change


class Follow(TypedDict):
    """`follow.created` and `follow.deleted`; `follow_request.created` and `.deleted` (then `id` is the request)."""

    id: int  # the follow (or the request)
    account_id: int  # the follower (or who asks)
    target_account_id: int
    authorized: NotRequired[bool]  # a follow an authorized request became: its request notified already


class AccountChanged(TypedDict):
    """`account.created`, `account.updated` and `account.deleted`."""

    account_id: int


class PollVoted(TypedDict):
    """`poll.voted`: a vote was counted on the poll of `post_id`; readers take the counts afresh."""

    poll_id: int
    post_id: int
    post_account_id: int
    account_id: int  # who voted


# One (kind, payload) pair per kind: what `decode` returns, so that `match` narrows the payload.
Event = (
    tuple[Literal[EventKind.POST_CREATED], PostCreated]
    | tuple[Literal[EventKind.POST_UPDATED], PostUpdated]
    | tuple[Literal[EventKind.POST_EDITED], PostEdited]
    | tuple[Literal[EventKind.POST_DELETED], PostDeleted]
    | tuple[Literal[EventKind.REPOST_CREATED], RepostCreated]
    | tuple[Literal[EventKind.REPOST_DELETED], RepostDeleted]
    | tuple[Literal[EventKind.LIKE_CREATED], Like]
    | tuple[Literal[EventKind.LIKE_DELETED], Like]
    | tuple[Literal[EventKind.REACTION_CREATED], Reaction]
    | tuple[Literal[EventKind.REACTION_DELETED], Reaction]
    | tuple[Literal[EventKind.FOLLOW_CREATED], Follow]
    | tuple[Literal[EventKind.FOLLOW_DELETED], Follow]
    | tuple[Literal[EventKind.FOLLOW_REQUEST_CREATED], Follow]
    | tuple[Literal[EventKind.FOLLOW_REQUEST_DELETED], Follow]
    | tuple[Literal[EventKind.ACCOUNT_CREATED], AccountChanged]
    | tuple[Literal[EventKind.ACCOUNT_UPDATED], AccountChanged]
    | tuple[Literal[EventKind.ACCOUNT_DELETED], AccountChanged]
    | tuple[Literal[EventKind.POLL_VOTED], PollVoted]
)

Payload = (
    PostCreated
    | PostUpdated
    | PostEdited
    | PostDeleted
    | RepostCreated
    | RepostDeleted
    | Like
    | Reaction
    | Follow
    | AccountChanged
    | PollVoted
)


# value -> member: a dict look-up, several times cheaper than EventKind(value) on every job of a batch
_BY_VALUE: dict[str, EventKind] = {kind.value: kind for kind in EventKind}


def decode_event(kind: str, payload: Mapping[str, Any]) -> Event:
    """The event a job's kind and payload stand for. The payload is taken as recorded (no copy, no check of
    its keys); a kind that is not an EventKind raises ValueError, so it fails loudly rather than vanish."""
    member = _BY_VALUE.get(kind)
    if member is None:
        raise ValueError(f"{kind!r} is not an event kind")
    return cast(Event, (member, payload))


def decode(job: Job) -> Event:
    return decode_event(job.kind, job.payload)
