"""Chirp packs Valkey commands itself, with hiredis (storage/keys.py): its cluster transport, and redis-py's
connections to one Valkey. What goes on the wire must be exactly what redis-py would send: a `Bulk` argument
as its plain value, a command name of several words as its words, a pipeline as its commands in order."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Connection, Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import DataError

from storage.keys import (
    Bulk,
    PackedConnection,
    PackedSSLConnection,
    PackedUnixConnection,
    pack_command,
    pack_in_c,
    slot,
)

PLAIN = ("EVALSHA", "a" * 40, 1, "tl:{123}", 800, 0, 1 << 60, b"\x00\r\n\xff", b"", 1.5, -3, "é")


def _redis_py(*args: Any) -> bytes:
    return b"".join(Connection().pack_command(*args))


def test_bulk_arguments_pack_as_their_plain_values() -> None:
    bulked = ("EVALSHA", Bulk("a" * 40), 1, "tl:{123}", Bulk(800), 0, Bulk(1 << 60), Bulk(b"\x00\r\n\xff"), Bulk(b""))
    assert pack_command(bulked) == pack_command(PLAIN[: len(bulked)])
    assert pack_command(PLAIN) == _redis_py(*PLAIN)
    assert pack_command(list(PLAIN)) == _redis_py(*PLAIN)


def test_commands_of_several_words_go_as_redis_py_sends_them() -> None:
    for args in (("SCRIPT LOAD", "return 1"), (b"CLIENT SETNAME", "chirp"), ("CLUSTER", "INFO")):
        assert b"".join(PackedConnection().pack_command(*args)) == _redis_py(*args)


def test_a_pipeline_packs_its_commands_in_order() -> None:
    commands = [("SET", "a", 1), ("SCRIPT LOAD", "return 2"), PLAIN]
    assert PackedConnection().pack_commands(commands) == [b"".join(Connection().pack_commands(commands))]


def test_an_argument_valkey_has_no_form_for_is_refused_as_redis_py_refuses_it() -> None:
    for bad in (None, True):
        with pytest.raises(DataError):
            pack_command(("SET", "k", bad))
        with pytest.raises(DataError):
            Connection().pack_command("SET", "k", bad)  # type: ignore[arg-type]
    assert pack_command(("SET", "k", bytearray(b"x"))) == _redis_py("SET", "k", bytearray(b"x"))


def test_every_kind_of_valkey_url_keeps_its_connection_kind() -> None:
    kinds = {
        "redis://127.0.0.1:6379": PackedConnection,
        "rediss://127.0.0.1:6379": PackedSSLConnection,
        "unix:///run/valkey.sock": PackedUnixConnection,
    }
    for url, kind in kinds.items():
        assert pack_in_c(Redis.from_url(url)).connection_pool.connection_class is kind


def test_a_cluster_client_finds_its_nodes_with_connections_packing_in_c() -> None:
    for url, kind in (("redis://127.0.0.1:6379", PackedConnection), ("rediss://127.0.0.1:6379", PackedSSLConnection)):
        cluster = pack_in_c(RedisCluster.from_url(url))
        assert cluster.nodes_manager.connection_kwargs["connection_class"] is kind
        assert {node.connection_class for node in cluster.nodes_manager.startup_nodes.values()} == {kind}


def test_a_cached_slot_is_the_computed_one() -> None:
    assert slot("tl:{123}") == slot("tl:{123}") == slot(b"on:{123}") == slot("123")
    assert slot("tl:{124}") != slot("tl:{123}")
