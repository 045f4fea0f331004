"""Ports that move: CHIRP_STACK_PORT_BASE (or `--ports`) moves the API and every embedded server
together, `--ports auto` finds a free block, and a taken port names the variable to set."""

from __future__ import annotations

import errno
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from app.launcher import _block_free, plan_ports
from config import Settings, SettingsError
from config.settings import PORT_BASE_MAX, dev_ports
from stack import SERVICES, StackError

STORE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "MEILI_URL", "S3_ENDPOINT", "CHIRP_PORT", "CHIRP_STACK_PORT_BASE")


@contextmanager
def hold_port(port: int) -> Iterator[None]:
    """Listen on 127.0.0.1:port for the block; a port some other program holds already is just as taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
        yield


def test_one_variable_moves_the_api_and_every_server() -> None:
    settings = Settings.from_env({"CHIRP_STACK_PORT_BASE": "20000"})
    assert settings.port == 20000
    assert settings.database_url == "postgresql://postgres@127.0.0.1:20001/chirp"
    assert settings.redis_url == "redis://127.0.0.1:20002/0"
    assert settings.meili_url == "http://127.0.0.1:20003"
    assert settings.s3_endpoint == "http://127.0.0.1:20004"
    plan = plan_ports(settings)
    assert plan.ports == {
        "api": 20000, "postgres": 20001, "valkey": 20002, "meilisearch": 20003,
        "s3": 20004, "s3_master": 20005, "s3_volume": 20006, "s3_filer": 20007,
    }  # fmt: skip
    listening = [port for _host, port in plan.listening("127.0.0.1", set(SERVICES)).values()]
    assert len(listening) == len(set(listening)) == 12  # 8 ports and the 4 SeaweedFS gRPC twins
    assert {20004 + 10000, 20005 + 10000, 20006 + 10000, 20007 + 10000} <= set(listening)


def test_what_the_environment_names_still_wins_over_the_base() -> None:
    settings = Settings.from_env({"CHIRP_STACK_PORT_BASE": "20000", "CHIRP_PORT": "9000", "REDIS_URL": "redis://x/1"})
    assert (settings.port, settings.redis_url) == (9000, "redis://x/1")
    assert settings.database_url.endswith(":20001/chirp")
    assert plan_ports(settings).ports["api"] == 9000


def test_the_base_keeps_seaweedfs_grpc_ports_valid() -> None:
    highest = max(dev_ports(PORT_BASE_MAX).values())
    assert highest + 10000 == 65535
    with pytest.raises(SettingsError, match=rf"^CHIRP_STACK_PORT_BASE: expected a number from 1024 to {PORT_BASE_MAX}"):
        Settings.from_env({"CHIRP_STACK_PORT_BASE": str(PORT_BASE_MAX + 1)})
    with pytest.raises(StackError, match="--ports: expected auto or a number"):
        plan_ports(Settings.from_env({}), "lots")


def test_without_the_variable_the_classic_ports_stay() -> None:
    plan = plan_ports(Settings.from_env({}))
    assert plan.base == 0
    assert plan.ports == {
        "api": 8080, "postgres": 55432, "valkey": 16379, "meilisearch": 17700,
        "s3": 18333, "s3_master": 19333, "s3_volume": 18080, "s3_filer": 18888,
    }  # fmt: skip


def test_auto_picks_a_free_block_while_the_default_api_port_is_taken() -> None:
    with hold_port(8080):
        plan = plan_ports(Settings.from_env({}), "auto")
        assert plan.base and plan.ports["api"] != 8080
        assert _block_free(plan.base)
        assert plan.describe().startswith(f"API {plan.base}, postgres {plan.base + 1}, ")


def test_a_taken_api_port_names_the_variable_to_set() -> None:
    env = {k: v for k, v in os.environ.items() if k not in STORE_VARIABLES}
    with hold_port(8080):
        result = subprocess.run(
            [sys.executable, "-m", "app.cli", "run"], env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("chirp: port 8080 (API) on 127.0.0.1 is already in use\n"), result.stderr
    suggested = re.search(r"^    CHIRP_STACK_PORT_BASE=(\d+) make run ", result.stderr, re.MULTILINE)
    assert suggested, result.stderr
    assert 1024 <= int(suggested.group(1)) <= PORT_BASE_MAX
    assert "make run PORTS=auto" in result.stderr and "chirp run --ports auto" in result.stderr
    assert "starting" not in result.stdout  # refused before any server started
