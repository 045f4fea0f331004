"""Snowflake ids: unique, increasing, time-ordered, safe in a signed 64-bit column."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from core.ids import MAX_NODE, IdGenerator, NodeLeaseLapsed, created_at, id_at, node_of, parse_id


def test_ids_are_unique_and_increasing_even_within_one_millisecond() -> None:
    generator = IdGenerator(node_id=7)
    ids = [generator.next_id() for _ in range(20_000)]  # more than 1,024 per ms forces a borrow
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
        IdGenerator(4096)


def test_every_one_of_the_4096_nodes_is_told_apart_by_its_ids() -> None:
    made = {node: IdGenerator(node).next_id() for node in range(MAX_NODE + 1)}
    assert {node_of(i) for i in made.values()} == set(range(MAX_NODE + 1))
    assert all(node_of(i) == node for node, i in made.items())


def test_nodes_below_1024_make_the_ids_the_first_layout_made() -> None:
    # The first layout: 10 node bits above a 12-bit sequence. Same bits for sequences below 1,024, so
    # processes of both versions can run side by side during a rolling upgrade.
    generator = IdGenerator(613)
    first, second = generator.next_id(), generator.next_id()
    for snowflake in (first, second):
        ms, sequence = snowflake >> 22, snowflake & 0x3FF
        assert snowflake == (ms << 22) | (613 << 12) | sequence


def test_a_new_holder_of_a_node_never_reuses_the_last_holders_milliseconds() -> None:
    # The previous holder's clock ran 10 s ahead of ours: its last ids were made "in our future".
    ahead_ms = int(time.time() * 1000) + 10_000
    generator = IdGenerator(3, after_ms=ahead_ms)
    assert generator.next_id() >> 22 > ahead_ms - 1_577_836_800_000


def test_a_generator_whose_lease_lapsed_refuses_with_a_503() -> None:
    generator = IdGenerator(5)
    generator.next_id()
    generator.valid_until = time.monotonic() - 0.001
    with pytest.raises(NodeLeaseLapsed) as raised:
        generator.next_id()
    assert raised.value.status == 503
    assert "node 5" in raised.value.message


@pytest.mark.parametrize("raw", ["", "abc", "-5", "0", "1e5", "99999999999999999999", None])
def test_parse_id_rejects_what_cannot_be_an_id(raw: str | None) -> None:
    assert parse_id(raw) is None


def test_parse_id_accepts_digits() -> None:
    assert parse_id(" 123 ") == 123
