"""The visibility rule (`domain.visibility`) on its own: who may see which post, and what they may do with it.

The readers and the writers all go through these functions; the end-to-end tests (threads, likes, reposts,
quotes, timelines) show each path honouring them, these pin the rule itself.
"""

from __future__ import annotations

from typing import Any

from domain.visibility import apply_visibility, quote_policy, quote_visibility, repostable_privately, restricted_posts

AUTHOR, FOLLOWER, MENTIONED, STRANGER = 1, 2, 3, 4


def _post(post_id: int, visibility: str, *, author: int = AUTHOR, reblog_of: int | None = None) -> dict[str, Any]:
    return {"id": post_id, "visibility": visibility, "account_id": author, "reblog_of_id": reblog_of}


POSTS = {
    10: _post(10, "public"),
    11: _post(11, "unlisted"),
    12: _post(12, "private"),
    13: _post(13, "direct"),
    20: _post(20, "public", author=STRANGER, reblog_of=12),  # a repost of the private post
}


def _visible(viewer: int | None) -> set[int]:
    restricted = restricted_posts(POSTS, viewer)
    following = {AUTHOR} if viewer == FOLLOWER else set()
    mentioned = {12, 13} if viewer == MENTIONED else set()
    return apply_visibility(POSTS, restricted, following, mentioned)


def test_each_viewer_sees_what_the_rule_allows() -> None:
    assert _visible(None) == {10, 11}
    assert _visible(STRANGER) == {10, 11}
    assert _visible(FOLLOWER) == {10, 11, 12, 20}
    assert _visible(MENTIONED) == {10, 11, 12, 13, 20}
    assert _visible(AUTHOR) == {10, 11, 12, 13, 20}


def test_only_restricted_posts_of_others_need_asking_about() -> None:
    restricted = restricted_posts(POSTS, FOLLOWER)
    assert restricted.post_ids == {12, 13}
    assert restricted.private_authors == {AUTHOR}
    assert restricted_posts(POSTS, AUTHOR).post_ids == set()


def test_quotes_of_non_public_posts_are_for_their_author_and_stay_private() -> None:
    assert quote_policy("public", AUTHOR, None) == (True, "unknown")
    assert quote_policy("unlisted", AUTHOR, STRANGER) == (True, "automatic")
    assert quote_policy("private", AUTHOR, STRANGER) == (False, "denied")
    assert quote_policy("private", AUTHOR, AUTHOR) == (False, "automatic")
    assert quote_visibility(POSTS[12], "public") == "private"
    assert quote_visibility(POSTS[12], "direct") == "direct"
    assert quote_visibility(POSTS[10], "public") == "public"
    assert quote_visibility(None, "unlisted") == "unlisted"


def test_only_public_posts_and_ones_own_private_posts_can_be_reposted() -> None:
    assert repostable_privately(POSTS[10], STRANGER) is False
    assert repostable_privately(POSTS[12], AUTHOR) is True
    assert repostable_privately(POSTS[12], FOLLOWER) is None
    assert repostable_privately(POSTS[13], AUTHOR) is None
