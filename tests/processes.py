"""Chirp processes of their own for the tests that need them (`chirp serve`, `chirp worker`): started with
the test servers' environment, waited for until they serve, and stopped by their pid when the block ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_serving(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"API process exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/streaming/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("API process did not come up")


def chirp_env(env: dict[str, str], **extra: str) -> dict[str, str]:
    """The test servers' environment (`stack_env`) without any CHIRP_NODE_ID, no rate limit, quiet logs,
    plus `extra`."""
    base = {**os.environ, **env, "CHIRP_RATE_LIMIT": "false", "CHIRP_LOG_LEVEL": "warning"}
    base.pop("CHIRP_NODE_ID", None)
    return {**base, **extra}


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """SIGTERM by pid, then SIGKILL if it has not exited within `timeout`."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def chirp(command: str, env: dict[str, str], *args: str, port: int | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m app.cli <command> <args>` with exactly `env` (on CHIRP_PORT=`port` if given, waited for
    until it serves), stopped by its pid when the block ends."""
    process_env = env if port is None else {**env, "CHIRP_PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-m", "app.cli", command, *args], env=process_env, cwd=REPO)
    try:
        if port is not None:
            wait_until_serving(port, process)
        yield process
    finally:
        stop(process)
