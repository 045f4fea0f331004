"""Search documents built from rows: pure functions, no I/O (the shapes are in docs/search.md).

Ids travel as strings: Meilisearch compares numbers as doubles, which cannot hold a 64-bit Snowflake
exactly, so a numeric `author_id = ...` filter could match a neighbour's posts.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from core.ids import TIME_SHIFT
from domain.post_text import mention_ids, tags


def link_words(url: str) -> str:
    """A link as searchable words: its host and path, without scheme, `www.`, query or fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    host = (parts.hostname or "").removeprefix("www.")
    return f"{host}{parts.path.rstrip('/')}"


def plain_text(text: str, entities: Sequence[Mapping[str, Any]]) -> str:
    """The post's words as they read, from its source text and entities: links reduced to `link_words`
    (a post is found by the site it links to, not by "https"); mentions and hashtags as written."""
    pieces: list[str] = []
    position = 0
    for entity in sorted(entities, key=lambda e: int(e["start"])):
        if entity["type"] != "link":
            continue
        start, end = int(entity["start"]), int(entity["end"])
        if start < position or end > len(text):
            continue  # a bad span is left as text rather than trusted
        pieces.append(text[position:start])
        pieces.append(link_words(text[start:end]))
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def popularity(row: Mapping[str, Any]) -> int:
    """Engagement in powers of two: a tie-breaker that changes rarely, so recency still matters within it."""
    engagement = row["likes_count"] + 2 * row["reposts_count"] + row["replies_count"] + row["quotes_count"]
    return int(math.log2(1 + engagement))


def epoch_ms(row: Mapping[str, Any]) -> int:
    return int(row["created_at"].timestamp() * 1000)


def id_ms(snowflake: int) -> int:
    return snowflake >> TIME_SHIFT


def post_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """A post (or a repost, with no text of its own) as the posts index stores it."""
    entities = row["entities"] or []
    return {
        "id": str(row["id"]),
        "text": plain_text(row["text"], entities),
        "spoiler_text": row["spoiler_text"],
        "author_id": str(row["account_id"]),
        "username": row["username"],
        "display_name": row["display_name"],
        "hashtags": tags(entities),
        # Who may read a private post besides the author and followers (see docs/search.md).
        "mention_ids": [str(account_id) for account_id in mention_ids(entities)],
        "language": row["language"],
        "has_media": bool(row["has_media"]),
        "is_reply": row["in_reply_to_id"] is not None,
        "is_repost": row["reblog_of_id"] is not None,
        "visibility": row["visibility"],
        "created_at": epoch_ms(row),
        # The id's own clock (ms since Chirp's epoch, exact as a double): min_id/max_id bounds.
        "id_ms": id_ms(row["id"]),
        "popularity": popularity(row),
    }


def account_document(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "username": row["username"],
        "username_key": row["username"].lower(),
        "display_name": row["display_name"],
        "note": row["note"],
        "followers_count": row["followers_count"],
        "discoverable": bool(row["discoverable"]),
        "created_at": epoch_ms(row),
    }


def tag_id(tag: str) -> str:
    """Document ids allow only [A-Za-z0-9_-]: a tag (any script, up to 100 characters) is hashed."""
    return hashlib.sha256(tag.encode()).hexdigest()[:40]


def tag_document(tag: str, uses: int) -> dict[str, Any]:
    return {"id": tag_id(tag), "name": tag, "uses": uses}
