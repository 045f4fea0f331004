"""The cluster transport packs commands itself (storage/keys.py): a `Bulk` argument, packed once for many
calls, must go on the wire exactly as the plain value would, and as redis-py packs it."""

from __future__ import annotations

from redis.asyncio import Connection

from storage.keys import Bulk, pack_command, slot


def test_bulk_arguments_pack_as_their_plain_values() -> None:
    plain = ("EVALSHA", "a" * 40, 1, "tl:{123}", 800, 0, 1 << 60, b"\x00\r\n\xff", b"")
    bulked = ("EVALSHA", Bulk("a" * 40), 1, "tl:{123}", Bulk(800), 0, Bulk(1 << 60), Bulk(b"\x00\r\n\xff"), Bulk(b""))
    assert pack_command(bulked) == pack_command(plain)
    assert pack_command(plain) == b"".join(Connection().pack_command(*plain))


def test_a_cached_slot_is_the_computed_one() -> None:
    assert slot("tl:{123}") == slot("tl:{123}") == slot(b"on:{123}") == slot("123")
    assert slot("tl:{124}") != slot("tl:{123}")
