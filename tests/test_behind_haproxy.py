"""A real `chirp serve` behind a real HAProxy running deploy/haproxy/haproxy.cfg (its ports pointed at the
test's): the client's address reaches Chirp through X-Forwarded-For, a client's forged hop does not,
websockets pass through the tunnel, and HAProxy's access log has the path but no token."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest
from conftest import UserFactory
from processes import chirp, chirp_env, free_port, stop, wait_until_serving
from streams import WAIT, frame, run_queues
from test_deploy import HAPROXY_CFG
from test_streaming_processes import post
from test_trusted_proxies import counted_addresses

from storage.resources import Resources

HAPROXY = shutil.which("haproxy")
pytestmark = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed (apt-get install haproxy)")
CLIENT_ADDRESS = "127.0.0.2"  # the client connects from here; HAProxy reaches Chirp from 127.0.0.1


def configured(lb_port: int, api_port: int, stats_port: int) -> str:
    """The deployed configuration with the test's ports: one frontend, one server."""
    text = HAPROXY_CFG.read_text().replace("bind :80", f"bind 127.0.0.1:{lb_port}")
    text = text.replace("bind 127.0.0.1:8404", f"bind 127.0.0.1:{stats_port}")
    text = re.sub(r"maxconn \d+", "maxconn 2000", text)  # within this machine's file descriptor limit
    text = re.sub(r"^\s*server api2 .*\n", "", text, flags=re.MULTILINE)
    return re.sub(r"server api1 \S+", f"server api1 127.0.0.1:{api_port}", text)


@contextmanager
def haproxy(config: Path, lb_port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    assert HAPROXY is not None
    with log.open("wb") as out:
        process = subprocess.Popen([HAPROXY, "-db", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(lb_port, process)
        yield process
    finally:
        stop(process, timeout=10)


@contextmanager
def api(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    # The rate limit on: the test reads the addresses it counted.
    process_env = chirp_env(env, CHIRP_TRUSTED_PROXIES="127.0.0.1/32", CHIRP_RATE_LIMIT="true")
    with chirp("serve", process_env, port=port) as process:
        yield process


async def test_through_haproxy_chirp_sees_the_client_and_the_log_keeps_no_token(
    stack_env: dict[str, str], res: Resources, make_user: UserFactory, tmp_path: Path
) -> None:
    alice = await make_user("alice")
    lb_port, api_port, stats_port = free_port(), free_port(), free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(configured(lb_port, api_port, stats_port))
    log = tmp_path / "haproxy.log"
    base = f"http://127.0.0.1:{lb_port}"
    with api(stack_env, api_port), haproxy(config, lb_port, log):
        # Waiting for both to serve counted requests from 127.0.0.1: start the count afresh.
        for key in [key async for key in res.redis.scan_iter("chirp:rl:*")]:
            await res.redis.delete(key)
        connector = aiohttp.TCPConnector(local_addr=(CLIENT_ADDRESS, 0))
        async with aiohttp.ClientSession(connector=connector) as session:
            ws = await session.ws_connect(f"{base}/api/v1/streaming?stream=public&access_token={alice.token}")
            # A hop the client forged in front of its own address changes nothing.
            async with session.get(f"{base}/api/v1/custom_emojis", headers={"X-Forwarded-For": "203.0.113.9"}) as r:
                assert r.status == 200
            status = await post(session, lb_port, alice.token, "through the balancer")
            await run_queues(res)
            while True:
                update = frame(await ws.receive(timeout=WAIT))
                if update["event"] == "update":
                    break
            assert update["payload"]["id"] == status["id"]
            await ws.close()
        assert await counted_addresses(res) == {CLIENT_ADDRESS}
    logged = log.read_text()
    assert "GET /api/v1/streaming HTTP/1.1" in logged
    assert "POST /api/v1/statuses HTTP/1.1" in logged
    assert alice.token not in logged
    assert "access_token" not in logged
