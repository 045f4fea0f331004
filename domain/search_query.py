"""The search box's little language, parsed into words for Meilisearch and filters for the rest.

Pure functions, no I/O. Operators (keys are case-insensitive; a leading `-` negates where it makes sense):

    from:alice  -from:alice    posts by (not by) an account; several from: mean any of them
    #cats  -#cats              posts with (without) the hashtag; several tags must all be present
    has:media  -has:media      posts with (without) media attachments
    is:reply  -is:reply        replies only (no replies)
    is:repost                  reposts (left out otherwise, as Twitter leaves out retweets)
    lang:en  (language:en)     posts in a language
    since:2025-01-31           posts from that day on (UTC, inclusive)
    until:2025-02-01           posts before that day (UTC, exclusive, as Twitter's until:)
    "exact phrase"  -"phrase"  the words together, in order (Meilisearch phrase search)
    -word                      posts without the word (Meilisearch's negative operator)

Anything else is words. A token that looks like an operator with an unknown key (`https://x.y`) is a word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from domain.post_text import parse

MAX_TERMS = 64  # words, phrases and operators in one query; more is abuse, not a search

_USERNAME = re.compile(r"^[A-Za-z0-9_]{1,30}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_OPERATORS = frozenset({"from", "has", "is", "lang", "language", "since", "until"})


class QueryError(ValueError):
    """The query cannot be understood; the message says what to fix (shown to the client)."""


@dataclass(frozen=True)
class SearchQuery:
    """A parsed query: `text` goes to Meilisearch as q, the rest become filters."""

    text: str = ""
    from_users: tuple[str, ...] = ()  # lower-cased usernames
    not_from_users: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # normalised as post_text normalises them
    not_tags: tuple[str, ...] = ()
    has_media: bool | None = None
    is_reply: bool | None = None
    is_repost: bool = False
    language: str | None = None
    since: date | None = None
    until: date | None = None

    @property
    def has_filters(self) -> bool:
        return bool(self.tags or self.not_tags or self.has_post_operators)

    @property
    def has_post_operators(self) -> bool:
        """Operators other than hashtags: they are about posts only."""
        return bool(
            self.from_users
            or self.not_from_users
            or self.has_media is not None
            or self.is_reply is not None
            or self.is_repost
            or self.language
            or self.since
            or self.until
        )


@dataclass(frozen=True)
class _Token:
    value: str
    negated: bool
    phrase: bool


def _tokens(raw: str) -> list[_Token]:
    """Split on whitespace, keeping "quoted phrases" whole; an unclosed quote runs to the end."""
    tokens: list[_Token] = []
    i, n = 0, len(raw)
    while i < n:
        if raw[i].isspace():
            i += 1
            continue
        negated = False
        while i < n and raw[i] == "-":
            negated = True
            i += 1
        if i < n and raw[i] == '"':
            end = raw.find('"', i + 1)
            end = n if end == -1 else end
            tokens.append(_Token(" ".join(raw[i + 1 : end].replace('"', " ").split()), negated, True))
            i = end + 1
            continue
        start = i
        while i < n and not raw[i].isspace() and raw[i] != '"':
            i += 1
        word = raw[start:i]
        if word or negated:
            tokens.append(_Token(word, negated, False))
    return [t for t in tokens if t.value]


def _day(key: str, value: str) -> date:
    if not _DATE.match(value):
        raise QueryError(f"{key}: expects a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise QueryError(f"{key}: {value} is not a calendar date") from None


def _tag(token: str) -> str | None:
    """The hashtag a `#...` token names, by the same rule posts are parsed with; None when it is none.

    Trailing punctuation is allowed (`#cats,`); anything else after the tag makes the token a word.
    """
    spans = parse(token)
    if not spans or spans[0].kind != "hashtag" or spans[0].start != 0:
        return None
    rest = token[spans[0].end :]
    return spans[0].value if not any(ch.isalnum() for ch in rest) else None


class _Builder:
    def __init__(self) -> None:
        self.words: list[str] = []
        self.from_users: list[str] = []
        self.not_from_users: list[str] = []
        self.tags: list[str] = []
        self.not_tags: list[str] = []
        self.has_media: bool | None = None
        self.is_reply: bool | None = None
        self.is_repost = False
        self.language: str | None = None
        self.since: date | None = None
        self.until: date | None = None

    def add_operator(self, key: str, value: str, negated: bool) -> None:
        lowered = value.lower()
        if key == "from":
            username = value.removeprefix("@")
            if not _USERNAME.match(username):
                raise QueryError("from: expects a username")
            (self.not_from_users if negated else self.from_users).append(username.lower())
        elif key == "has":
            if lowered != "media":
                raise QueryError("has: supports has:media")
            self.has_media = not negated
        elif key == "is":
            if lowered == "reply":
                self.is_reply = not negated
            elif lowered == "repost" and not negated:
                self.is_repost = True
            else:
                raise QueryError("is: supports is:reply, -is:reply and is:repost")
        elif key in ("lang", "language"):
            if not _LANGUAGE.match(lowered) or negated:
                raise QueryError(f"{key}: expects a language code such as en")
            self.language = lowered
        elif key == "since":
            self.since = _day(key, value)
        else:  # until
            self.until = _day(key, value)

    def add(self, token: _Token) -> None:
        if token.phrase:
            self.words.append(f'{"-" if token.negated else ""}"{token.value}"')
            return
        key, colon, value = token.value.partition(":")
        if colon and key.lower() in _OPERATORS:
            if not value:
                raise QueryError(f"{key.lower()}: needs a value")
            self.add_operator(key.lower(), value, token.negated)
            return
        if token.value.startswith("#"):
            tag = _tag(token.value)
            if tag is not None:
                (self.not_tags if token.negated else self.tags).append(tag)
                return
        self.words.append(f"{'-' if token.negated else ''}{token.value}")

    def build(self) -> SearchQuery:
        return SearchQuery(
            text=" ".join(self.words),
            from_users=tuple(dict.fromkeys(self.from_users)),
            not_from_users=tuple(dict.fromkeys(self.not_from_users)),
            tags=tuple(dict.fromkeys(self.tags)),
            not_tags=tuple(dict.fromkeys(self.not_tags)),
            has_media=self.has_media,
            is_reply=self.is_reply,
            is_repost=self.is_repost,
            language=self.language,
            since=self.since,
            until=self.until,
        )


def parse_query(raw: str) -> SearchQuery:
    """Parse the search box. Raises QueryError for an operator with a value it cannot use."""
    tokens = _tokens(raw)
    if len(tokens) > MAX_TERMS:
        raise QueryError(f"has too many terms (maximum is {MAX_TERMS})")
    builder = _Builder()
    for token in tokens:
        builder.add(token)
    return builder.build()
