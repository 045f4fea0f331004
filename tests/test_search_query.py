"""The search box's operators, parsed without any server (domain/search_query.py)."""

from __future__ import annotations

from datetime import date

import pytest

from domain.search_query import MAX_TERMS, QueryError, SearchQuery, parse_query


def test_plain_words_pass_through_as_the_meilisearch_query() -> None:
    assert parse_query("  cats   and dogs ") == SearchQuery(text="cats and dogs")


def test_from_takes_a_username_with_or_without_at_and_lower_cases_it() -> None:
    query = parse_query("from:Alice from:@bob cats")
    assert query.from_users == ("alice", "bob")
    assert query.text == "cats"


def test_negated_from_excludes_an_author() -> None:
    assert parse_query("-from:carol news").not_from_users == ("carol",)


def test_from_needs_a_valid_username() -> None:
    with pytest.raises(QueryError, match="from: expects a username"):
        parse_query("from:al-ice")
    with pytest.raises(QueryError, match="needs a value"):
        parse_query("from:")


def test_hashtags_become_normalised_tag_filters() -> None:
    query = parse_query("#Python #ＣＡＴＳ, -#Dogs")
    assert query.tags == ("python", "cats")
    assert query.not_tags == ("dogs",)
    assert query.text == ""


def test_a_hash_without_a_letter_is_just_a_word() -> None:
    query = parse_query("#123 #")
    assert query.tags == ()
    assert query.text == "#123 #"


def test_has_media_and_its_negation() -> None:
    assert parse_query("has:media").has_media is True
    assert parse_query("-has:MEDIA").has_media is False
    assert parse_query("cats").has_media is None
    with pytest.raises(QueryError, match="has:media"):
        parse_query("has:video")


def test_since_and_until_are_calendar_days() -> None:
    query = parse_query("since:2025-01-31 until:2025-02-01 launch")
    assert query.since == date(2025, 1, 31)
    assert query.until == date(2025, 2, 1)
    assert query.text == "launch"
    with pytest.raises(QueryError, match="YYYY-MM-DD"):
        parse_query("since:yesterday")
    with pytest.raises(QueryError, match="not a calendar date"):
        parse_query("until:2025-02-30")


def test_quoted_phrases_stay_whole_and_can_be_negated() -> None:
    query = parse_query('"exact  phrase" words -"not this"')
    assert query.text == '"exact phrase" words -"not this"'


def test_an_unclosed_quote_runs_to_the_end() -> None:
    assert parse_query('say "hello world').text == 'say "hello world"'


def test_minus_word_is_meilisearchs_negative_operator() -> None:
    assert parse_query("love -cats --dogs - e-mail").text == "love -cats -dogs e-mail"


def test_operators_inside_quotes_are_words() -> None:
    query = parse_query('"from:alice #cats"')
    assert query.from_users == () and query.tags == ()
    assert query.text == '"from:alice #cats"'


def test_unknown_keys_and_urls_are_words() -> None:
    query = parse_query("https://example.com/x to:bob")
    assert query.text == "https://example.com/x to:bob"
    assert not query.has_filters


def test_is_reply_and_is_repost() -> None:
    assert parse_query("is:reply").is_reply is True
    assert parse_query("-is:reply").is_reply is False
    assert parse_query("is:repost").is_repost is True
    with pytest.raises(QueryError):
        parse_query("-is:repost")


def test_language_codes() -> None:
    assert parse_query("lang:EN hello").language == "en"
    assert parse_query("language:pt").language == "pt"
    with pytest.raises(QueryError, match="language code"):
        parse_query("lang:english")


def test_operator_keys_are_case_insensitive() -> None:
    query = parse_query("FROM:alice Since:2024-05-01")
    assert query.from_users == ("alice",) and query.since == date(2024, 5, 1)


def test_has_filters_tells_operator_queries_from_plain_ones() -> None:
    assert parse_query("from:alice").has_filters
    assert parse_query("#tag").has_filters
    assert not parse_query('"just words" -here').has_filters


def test_too_many_terms_are_refused() -> None:
    with pytest.raises(QueryError, match="too many terms"):
        parse_query(" ".join(["w"] * (MAX_TERMS + 1)))
