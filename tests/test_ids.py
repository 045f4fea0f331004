"""Snowflake ids: unique, increasing, time-ordered, safe in a signed 64-bit column."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.ids import IdGenerator, created_at, id_at, parse_id


def test_ids_are_unique_and_increasing_even_within_one_millisecond() -> None:
    generator = IdGenerator(node_id=7)
    ids = [generator.next_id() for _ in range(20_000)]  # more than 4,096 per ms forces a borrow
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(0 < i < 2**63 for i in ids)


def test_ids_from_different_nodes_do_not_collide() -> None:
    a, b = IdGenerator(1), IdGenerator(2)
    assert not {a.next_id() for _ in range(5000)} & {b.next_id() for _ in range(5000)}


def test_an_id_knows_when_it_was_made() -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=2)
    made = created_at(IdGenerator(0).next_id())
    assert before <= made <= datetime.now(UTC) + timedelta(milliseconds=2)


def test_id_at_is_a_cursor_for_a_moment() -> None:
    moment = datetime(2026, 5, 1, tzinfo=UTC)
    assert created_at(id_at(moment)) == moment
    assert id_at(moment) < id_at(moment + timedelta(milliseconds=1))


def test_node_id_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="node id"):
        IdGenerator(1024)


@pytest.mark.parametrize("raw", ["", "abc", "-5", "0", "1e5", "99999999999999999999", None])
def test_parse_id_rejects_what_cannot_be_an_id(raw: str | None) -> None:
    assert parse_id(raw) is None


def test_parse_id_accepts_digits() -> None:
    assert parse_id(" 123 ") == 123
