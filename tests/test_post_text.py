"""Post text parsing and rendering: pure functions, no servers."""

from __future__ import annotations

from typing import Any

from domain.post_text import (
    URL_LENGTH,
    Span,
    clean_text,
    mention_ids,
    mentioned_usernames,
    normalize_tag,
    parse,
    render_html,
    resolve_mentions,
    tags,
    text_length,
)

BASE = "https://chirp.test"


def kinds(text: str) -> list[tuple[str, str, str]]:
    return [(s.kind, text[s.start : s.end], s.value) for s in parse(text)]


def render(text: str, accounts: dict[str, tuple[int, str]] | None = None) -> str:
    return render_html(text, resolve_mentions(parse(text), accounts or {}), BASE)


def test_plain_text_has_no_entities_and_is_one_escaped_paragraph() -> None:
    assert parse("just words") == []
    assert render("a < b & \"c\" > 'd'") == "<p>a &lt; b &amp; &quot;c&quot; &gt; &#x27;d&#x27;</p>"


def test_markup_in_text_is_escaped_never_rendered() -> None:
    html = render("<script>alert(1)</script> <b>bold</b>")
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html


def test_blank_lines_make_paragraphs_and_single_newlines_make_breaks() -> None:
    assert render("one\ntwo\n\nthree\n\n\n\nfour") == "<p>one<br>two</p><p>three</p><p>four</p>"


def test_empty_text_renders_empty_content() -> None:
    assert render("") == ""


def test_mentions_are_found_at_word_boundaries_only() -> None:
    assert kinds("@alice hi @Bob_2, and (@carol)") == [
        ("mention", "@alice", "alice"),
        ("mention", "@Bob_2", "Bob_2"),
        ("mention", "@carol", "carol"),
    ]
    assert kinds("mail me@example.org") == []
    assert kinds("path/@alice") == []


def test_remote_and_overlong_mentions_are_not_mentions() -> None:
    assert kinds("@bob@remote.example") == []
    assert kinds("@" + "a" * 31) == []
    assert kinds("@" + "a" * 30) == [("mention", "@" + "a" * 30, "a" * 30)]


def test_known_mentions_link_to_the_profile_and_unknown_ones_stay_text() -> None:
    html = render("hey @ALICE and @nobody", {"alice": (7, "Alice")})
    assert html == (
        '<p>hey <span class="h-card"><a href="https://chirp.test/@Alice" class="u-url mention">'
        "@<span>Alice</span></a></span> and @nobody</p>"
    )


def test_resolved_mentions_carry_account_id_and_canonical_username() -> None:
    entities = resolve_mentions(parse("@alice @alice @bob"), {"alice": (7, "Alice"), "bob": (9, "bob")})
    assert [e["username"] for e in entities] == ["Alice", "Alice", "bob"]
    assert mention_ids(entities) == [7, 9]
    assert mentioned_usernames(parse("@Alice @alice @bob")) == ["alice", "bob"]


def test_hashtags_are_unicode_word_runs_with_a_letter() -> None:
    assert kinds("#Cats #日本語 #café #tag_2 #123 x#no a/#no #") == [
        ("hashtag", "#Cats", "cats"),
        ("hashtag", "#日本語", "日本語"),
        ("hashtag", "#café", "café"),
        ("hashtag", "#tag_2", "tag_2"),
    ]


def test_hashtags_keep_combining_marks() -> None:
    # Devanagari vowel signs are combining marks: the tag must not stop at them.
    assert kinds("#हिन्दी")[0][1] == "#हिन्दी"


def test_hashtags_are_normalised_case_insensitively() -> None:
    assert normalize_tag("CaTs") == "cats"
    assert normalize_tag("ｃａｔｓ") == "cats"  # full-width letters fold to ASCII under NFKC
    assert tags(resolve_mentions(parse("#Cats #CATS #dogs"), {})) == ["cats", "dogs"]


def test_hashtag_renders_with_the_typed_text_and_the_normalised_link() -> None:
    assert render("#Cats") == (
        '<p><a href="https://chirp.test/tags/cats" class="mention hashtag" rel="tag">#<span>Cats</span></a></p>'
    )


def test_links_are_http_and_https_with_trailing_punctuation_trimmed() -> None:
    text = "see https://example.com/a?b=1. and (http://x.org/wiki/A_(b)) ftp://no.pe"
    assert [(k, t) for k, t, _ in kinds(text)] == [
        ("link", "https://example.com/a?b=1"),
        ("link", "http://x.org/wiki/A_(b)"),
    ]


def test_links_render_escaped_with_nofollow() -> None:
    html = render('go https://example.com/?q="x"&y=<1>')
    assert (
        '<a href="https://example.com/?q=" rel="nofollow noopener" target="_blank">https://example.com/?q=</a>' in html
    )


def test_hashtags_and_mentions_inside_links_belong_to_the_link() -> None:
    assert [k for k, _, _ in kinds("https://example.com/#frag https://example.com/@alice")] == ["link", "link"]


def test_urls_count_as_23_characters_whatever_their_length() -> None:
    long_url = "https://example.com/" + "x" * 200
    text = f"look {long_url}"
    assert text_length(text, parse(text)) == len("look ") + URL_LENGTH
    assert text_length("hi", parse("hi")) == 2


def test_length_counts_code_points_not_bytes_or_utf16_units() -> None:
    text = "😀" * 10 + "é"
    assert text_length(text, parse(text)) == 11


def test_clean_text_normalises_newlines_and_drops_nul_and_lone_surrogates() -> None:
    assert clean_text("  a\r\nb\rc\x00d\ud800e  ") == "a\nb\ncde"


def test_rendering_ignores_spans_that_do_not_fit_the_text() -> None:
    bogus: list[dict[str, Any]] = [{"type": "link", "start": 5, "end": 99}]
    assert render_html("short", bogus, BASE) == "<p>short</p>"


def test_entity_offsets_index_the_text() -> None:
    text = "😀 @alice #tag https://e.x"
    for span in parse(text):
        assert isinstance(span, Span)
        piece = text[span.start : span.end]
        assert piece[0] in "@#h"
