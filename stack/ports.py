"""Choosing and checking the TCP ports of the embedded servers (all on 127.0.0.1)."""

from __future__ import annotations

import errno
import random
import socket
from collections.abc import Iterable, Mapping

from .errors import StackError

# Every SeaweedFS service also opens gRPC on its HTTP port + 10000, which must be free and valid too.
GRPC_OFFSET = 10000
MAX_SEAWEED_PORT = 65535 - GRPC_OFFSET

# Ports the S3 server needs besides the S3 gateway port itself.
SEAWEED_INTERNAL = ("s3_master", "s3_volume", "s3_filer")
# Offsets from the S3 port, chosen so S3 on 18333 gives the documented dev ports 19333, 18080, 18888.
_SEAWEED_OFFSETS = {"s3_master": 1000, "s3_volume": -253, "s3_filer": 555}

PORT_KEYS: dict[str, tuple[str, ...]] = {
    "postgres": ("postgres",),
    "valkey": ("valkey",),
    "meilisearch": ("meilisearch",),
    "s3": ("s3", *SEAWEED_INTERNAL),
}
DEV_PORTS: dict[str, int] = {
    "postgres": 55432,
    "valkey": 16379,
    "meilisearch": 17700,
    "s3": 18333,
    "s3_master": 19333,
    "s3_volume": 18080,
    "s3_filer": 18888,
}
PORT_LABELS = {
    "postgres": "postgres",
    "valkey": "valkey",
    "meilisearch": "meilisearch",
    "s3": "s3",
    "s3_master": "s3: seaweedfs master",
    "s3_volume": "s3: seaweedfs volume",
    "s3_filer": "s3: seaweedfs filer",
}

# Free ports are drawn below the kernel's ephemeral range (32768+), so an outgoing connection cannot
# grab one between our check and the server's bind, and so port + 10000 stays below it as well.
_FREE_LOW, _FREE_HIGH = 10300, 21700


def port_is_free(port: int) -> bool:
    """True if a server could listen on 127.0.0.1:port right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # The servers set SO_REUSEADDR too: without it a port in TIME_WAIT after a restart looks taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def needed_ports(key: str, port: int) -> dict[str, int]:
    """The ports (label → number) that the listener `key` occupies: gRPC twins for SeaweedFS."""
    label = PORT_LABELS[key]
    if key not in ("s3", *SEAWEED_INTERNAL):
        return {label: port}
    return {label: port, f"{label} gRPC": port + GRPC_OFFSET}


def check_ports_free(ports: Mapping[str, int]) -> None:
    """Raise StackError naming the first port (label → number) that something else already holds."""
    for label, port in ports.items():
        if not port_is_free(port):
            raise StackError(f"port {port} ({label}) is already in use by another process")


def resolve_ports(requested: Mapping[str, int] | None, services: Iterable[str]) -> dict[str, int]:
    """Fill in the ports `services` need: explicit ones win, the rest are derived or picked free."""
    chosen = dict(requested or {})
    unknown = sorted(set(chosen) - set(DEV_PORTS))
    if unknown:
        raise StackError(f"unknown port name(s) {', '.join(unknown)} (known: {', '.join(DEV_PORTS)})")
    taken = _occupied(chosen)
    for service in services:
        if service == "s3":
            _resolve_seaweed(chosen, taken)
        elif service not in chosen:
            chosen[service] = _pick(taken, grpc=False)
    _validate(chosen)
    return chosen


def _occupied(ports: Mapping[str, int]) -> set[int]:
    taken: set[int] = set()
    for key, port in ports.items():
        taken.update(needed_ports(key, port).values())
    return taken


def _resolve_seaweed(chosen: dict[str, int], taken: set[int]) -> None:
    if "s3" in chosen:
        # A fixed S3 port (the dev stack) gets fixed helper ports: SeaweedFS keeps its master address.
        for key in SEAWEED_INTERNAL:
            chosen.setdefault(key, chosen["s3"] + _SEAWEED_OFFSETS[key])
        return
    for key in ("s3", *SEAWEED_INTERNAL):
        if key not in chosen:
            chosen[key] = _pick(taken, grpc=True)


def pick_free_ports(count: int) -> list[int]:
    """`count` distinct free ports (for servers outside the four, such as the Valkey Cluster's nodes)."""
    taken: set[int] = set()
    return [_pick(taken, grpc=False) for _ in range(count)]


def _pick(taken: set[int], *, grpc: bool) -> int:
    """A random free port (and, for SeaweedFS, a free port + 10000) not handed out yet."""
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.randrange(_FREE_LOW, _FREE_HIGH)
        wanted = [port, port + GRPC_OFFSET] if grpc else [port]
        if any(p in taken for p in wanted) or not all(port_is_free(p) for p in wanted):
            continue
        taken.update(wanted)
        return port
    raise StackError(f"found no free port between {_FREE_LOW} and {_FREE_HIGH} on 127.0.0.1")


def _validate(ports: Mapping[str, int]) -> None:
    seen: dict[int, str] = {}
    for key, port in ports.items():
        limit = MAX_SEAWEED_PORT if key in ("s3", *SEAWEED_INTERNAL) else 65535
        if not 1 <= port <= limit:
            hint = " (SeaweedFS also listens on port + 10000)" if limit == MAX_SEAWEED_PORT else ""
            raise StackError(f"port {port} for {PORT_LABELS[key]} is out of range 1-{limit}{hint}")
        for label, number in needed_ports(key, port).items():
            if number in seen:
                raise StackError(f"port {number} is wanted twice: by {seen[number]} and by {label}")
            seen[number] = label
