"""Post text: parsed once into entities (the notes' "RichContent"), rendered into Mastodon's HTML on read.

Pure functions, no I/O. A post stores its source `text` and a JSON list of typed spans over it, ordered
by position, with offsets in code points (`text[start:end]` is the span's text):

    {"type": "mention", "start": 6, "end": 12, "account_id": 123, "username": "alice"}
    {"type": "hashtag", "start": 13, "end": 18, "tag": "cats"}      # tag normalised: NFKC, lower case
    {"type": "link",    "start": 19, "end": 42}                    # http(s) URL, text[start:end]

Everything between spans is plain text. Mentions are only kept when they name a local account
(`resolve_mentions`); an unknown `@name` stays plain text.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

URL_LENGTH = 23  # every link counts as this many characters, whatever its length (as Mastodon)
MAX_TAG_LENGTH = 100  # longer runs after "#" are plain text
USERNAME_MAX = 30

# A URL starts at a boundary (not inside a word, path or address) and runs to whitespace or markup.
_URL = re.compile(r"(?<![\w/@.])https?://[^\s<>\"]+", re.IGNORECASE)
_URL_TRAILING = ".,:;!?'\"*"
_CLOSERS = {")": "(", "]": "[", "}": "{"}
# @username, or @username@domain (a remote account: not resolvable here, so left as text).
_MENTION = re.compile(r"(?<![\w/@.])@([A-Za-z0-9_]+)(?:@([\w.-]*\w))?(?![\w@])")
_PARAGRAPH_BREAK = re.compile(r"\n{2,}")


@dataclass(frozen=True)
class Span:
    """A parsed entity before mentions are resolved: `value` is the username, tag, or URL."""

    kind: str  # "mention" | "hashtag" | "link"
    start: int
    end: int
    value: str


def clean_text(raw: str) -> str:
    """Text safe to store: newlines normalised, NUL and lone surrogates dropped, outer whitespace trimmed."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = text.encode("utf-8", "ignore").decode("utf-8")  # lone surrogates cannot be stored
    return text.strip()


def normalize_tag(tag: str) -> str:
    return unicodedata.normalize("NFKC", tag).lower()


def _is_tag_char(ch: str) -> bool:
    """Unicode letters (with their combining marks), decimal digits and underscore."""
    if ch == "_":
        return True
    category = unicodedata.category(ch)
    return category[0] in "LM" or category == "Nd"


def _trim_url(url: str) -> str:
    """Drop trailing punctuation, and closing brackets that do not close one opened inside the URL."""
    while url:
        last = url[-1]
        unbalanced = last in _CLOSERS and url.count(_CLOSERS[last]) < url.count(last)
        if last in _URL_TRAILING or unbalanced:
            url = url[:-1]
        else:
            break
    return url


def _links(text: str) -> list[Span]:
    spans: list[Span] = []
    for match in _URL.finditer(text):
        url = _trim_url(match.group(0))
        try:
            host = urlsplit(url).hostname
        except ValueError:
            continue
        if not host or not any(ch.isalnum() for ch in host):
            continue
        spans.append(Span("link", match.start(), match.start() + len(url), url))
    return spans


def _mentions(text: str) -> list[Span]:
    spans: list[Span] = []
    for match in _MENTION.finditer(text):
        username = match.group(1)
        if match.group(2) is not None or len(username) > USERNAME_MAX:
            continue  # remote accounts are not ours to resolve; over-long names are no account
        spans.append(Span("mention", match.start(), match.end(), username))
    return spans


def _hashtags(text: str) -> list[Span]:
    spans: list[Span] = []
    position = text.find("#")
    while position != -1:
        previous = text[position - 1] if position > 0 else ""
        end = position + 1
        if not previous or not (_is_tag_char(previous) or previous in "/)&#"):
            while end < len(text) and _is_tag_char(text[end]):
                end += 1
            tag = text[position + 1 : end]
            has_letter = any(unicodedata.category(ch)[0] == "L" for ch in tag)
            if has_letter and len(tag) <= MAX_TAG_LENGTH:
                spans.append(Span("hashtag", position, end, normalize_tag(tag)))
        position = text.find("#", max(end, position + 1))
    return spans


def _overlaps(span: Span, taken: Sequence[Span]) -> bool:
    return any(span.start < other.end and other.start < span.end for other in taken)


def parse(text: str) -> list[Span]:
    """Links, mentions and hashtags in `text`, by position. Links win over what they contain."""
    links = _links(text)
    others = [s for s in (*_mentions(text), *_hashtags(text)) if not _overlaps(s, links)]
    return sorted((*links, *others), key=lambda s: s.start)


def text_length(text: str, spans: Iterable[Span]) -> int:
    """Length as the character limit counts it: code points, each link counting URL_LENGTH."""
    length = len(text)
    for span in spans:
        if span.kind == "link":
            length += URL_LENGTH - (span.end - span.start)
    return length


def mentioned_usernames(spans: Iterable[Span]) -> list[str]:
    return list(dict.fromkeys(s.value.lower() for s in spans if s.kind == "mention"))


def resolve_mentions(spans: Iterable[Span], accounts: Mapping[str, tuple[int, str]]) -> list[dict[str, Any]]:
    """The stored entities: mentions of known accounts (lower-cased username → (id, username)) kept with
    the account's id and canonical username; unknown mentions dropped, so their text renders plain."""
    entities: list[dict[str, Any]] = []
    for span in spans:
        if span.kind == "mention":
            account = accounts.get(span.value.lower())
            if account is None:
                continue
            entities.append(
                {
                    "type": "mention",
                    "start": span.start,
                    "end": span.end,
                    "account_id": account[0],
                    "username": account[1],
                }
            )
        elif span.kind == "hashtag":
            entities.append({"type": "hashtag", "start": span.start, "end": span.end, "tag": span.value})
        else:
            entities.append({"type": "link", "start": span.start, "end": span.end})
    return entities


def mention_ids(entities: Iterable[Mapping[str, Any]]) -> list[int]:
    return list(dict.fromkeys(int(e["account_id"]) for e in entities if e["type"] == "mention"))


def tags(entities: Iterable[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(str(e["tag"]) for e in entities if e["type"] == "hashtag"))


def _plain_html(text: str) -> str:
    escaped = html.escape(text, quote=True)
    return _PARAGRAPH_BREAK.sub("</p><p>", escaped).replace("\n", "<br>")


def _entity_html(text: str, entity: Mapping[str, Any], base_url: str) -> str:
    piece = text[entity["start"] : entity["end"]]
    kind = entity["type"]
    if kind == "mention":
        username = html.escape(str(entity["username"]), quote=True)
        return (
            f'<span class="h-card"><a href="{base_url}/@{username}" class="u-url mention">'
            f"@<span>{username}</span></a></span>"
        )
    if kind == "hashtag":
        href = f"{base_url}/tags/{quote(str(entity['tag']), safe='')}"
        shown = html.escape(piece[1:], quote=True)
        return f'<a href="{html.escape(href, quote=True)}" class="mention hashtag" rel="tag">#<span>{shown}</span></a>'
    url = html.escape(piece, quote=True)
    return f'<a href="{url}" rel="nofollow noopener" target="_blank">{url}</a>'


def render_html(text: str, entities: Sequence[Mapping[str, Any]], base_url: str) -> str:
    """Mastodon's `content`: paragraphs, line breaks, linked entities, everything else escaped."""
    if not text:
        return ""
    pieces: list[str] = []
    position = 0
    for entity in sorted(entities, key=lambda e: int(e["start"])):
        start, end = int(entity["start"]), int(entity["end"])
        if start < position or end > len(text):
            continue  # never trust stored offsets blindly: a bad span renders as plain text
        pieces.append(_plain_html(text[position:start]))
        pieces.append(_entity_html(text, entity, base_url))
        position = end
    pieces.append(_plain_html(text[position:]))
    return f"<p>{''.join(pieces)}</p>"
