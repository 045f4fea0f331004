"""`start_stack`: the four servers of one stack, started together and stopped together."""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from . import binaries, credentials
from .errors import StackError
from .ports import DEV_PORTS, resolve_ports
from .processes import PidFile, display_path, stop_pid
from .servers import MEILI_INDEXING_MB, POLL_INTERVAL, SERVER_CLASSES, Server, ServerContext

Log = Callable[[str], None]
SERVICES = ("postgres", "valkey", "meilisearch", "s3")
# Slowest first, so their start-up times overlap: SeaweedFS takes ~3 s, PostgreSQL's initdb ~0.6 s.
LAUNCH_ORDER = ("s3", "meilisearch", "valkey", "postgres")


@dataclass(frozen=True)
class StackUrls:
    database_url: str  # postgresql://postgres@127.0.0.1:PORT/chirp
    redis_url: str  # redis://127.0.0.1:PORT/0
    meili_url: str  # http://127.0.0.1:PORT
    meili_master_key: str
    s3_endpoint: str  # http://127.0.0.1:PORT
    s3_access_key: str
    s3_secret_key: str


class RunningStack:
    """The servers one `start_stack` call started. `stop()` stops them all; it is idempotent."""

    def __init__(self, root: Path, urls: StackUrls, servers: dict[str, Server], *, detach: bool) -> None:
        self.root = root
        self.urls = urls
        self.servers = servers
        self._stopped = False
        if not detach:
            # A test or `make run` that forgets stop(): the interpreter's normal exit still stops them.
            atexit.register(self.stop)

    def __repr__(self) -> str:
        return f"<RunningStack {display_path(self.root)} {sorted(self.servers)}>"

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        _stop_all(list(self.servers.values()))
        for server in self.servers.values():
            server.cleanup()

    def __enter__(self) -> RunningStack:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_stack(
    root: Path,
    *,
    ports: Mapping[str, int] | None = None,
    persistent: bool,
    only: Iterable[str] = SERVICES,
    log: Log = print,
    detach: bool = False,
    meili_indexing_mb: int | None = MEILI_INDEXING_MB,
    s3_heap_limit_mb: int | None = None,
) -> RunningStack:
    """Start the servers named in `only`, with their data, logs and pid files under `root`.

    `ports` None (or a missing key) picks free ports; the dev stack passes fixed ones. `persistent`
    turns on durability (Valkey AOF, PostgreSQL fsync) for a long-lived stack such as `.stack/`.
    Unless `detach`, the servers are also stopped if this process exits or is killed (Linux).
    `meili_indexing_mb` caps Meilisearch's indexing memory (None: Meilisearch's own default),
    `s3_heap_limit_mb` SeaweedFS's heap (a soft limit).
    Raises StackError with a one-line reason (plus the server's log tail when it failed to start).
    """
    began = time.monotonic()
    wanted = _validate_services(only)
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    with _root_lock(root):
        ctx = ServerContext(
            root=root,
            persistent=persistent,
            detach=detach,
            binaries=binaries.find_binaries(wanted, log=log),
            credentials=credentials.load_or_create(root),
            ports=resolve_ports(ports, wanted),
            log=log,
            meili_indexing_mb=meili_indexing_mb,
            s3_heap_limit_mb=s3_heap_limit_mb,
        )
        servers = {name: SERVER_CLASSES[name](ctx) for name in LAUNCH_ORDER if name in wanted}
        try:
            for server in servers.values():
                server.check_can_start()  # every refusal before anything starts
            _start_all(list(servers.values()))
        except BaseException:
            for server in servers.values():
                server.cleanup()
            raise
    ordered = {name: servers[name] for name in SERVICES if name in servers}
    stack = RunningStack(root, _urls(ctx), ordered, detach=detach)
    listed = ", ".join(f"{s.name} :{s.port}" for s in stack.servers.values())
    log(f"stack ready in {time.monotonic() - began:.1f}s ({listed}; data in {display_path(root)})")
    return stack


def stop_stack(root: Path, *, log: Log = print) -> list[str]:
    """Stop servers recorded in `root`'s pid files (e.g. left by a crashed run); returns their names."""
    stopped: list[str] = []
    for name, cls in SERVER_CLASSES.items():
        pid_file = PidFile(Path(root) / name / "pid")
        pid = pid_file.read()
        if pid is not None and stop_pid(pid, cls.executable, cls.stop_signal, cls.stop_grace):
            log(f"{name}: stopped pid {pid}")
            stopped.append(name)
        pid_file.remove()
    return stopped


def _validate_services(only: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys([only] if isinstance(only, str) else only))
    unknown = [name for name in wanted if name not in SERVICES]
    if unknown:
        raise StackError(f"unknown server(s) {', '.join(unknown)} (known: {', '.join(SERVICES)})")
    return wanted


@contextlib.contextmanager
def _root_lock(root: Path) -> Iterator[None]:
    """Two start_stack calls on one root run one after the other (the second then sees the pid files)."""
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _start_all(servers: list[Server]) -> None:
    """Launch every server, then wait for all of them: their start-up times overlap."""
    launched: list[Server] = []
    try:
        for server in servers:
            server.launch()
            launched.append(server)
        pending = list(launched)
        while pending:
            pending = [server for server in pending if not server.check_ready()]
            if pending:
                time.sleep(POLL_INTERVAL)
    except BaseException:
        _stop_all(launched)
        raise


def _stop_all(servers: list[Server]) -> None:
    """Signal every server first, then wait for each: the grace periods run in parallel."""
    for server in servers:
        server.begin_stop()
    for server in servers:
        server.finish_stop()


def _urls(ctx: ServerContext) -> StackUrls:
    def port(name: str) -> int:
        return ctx.ports.get(name, DEV_PORTS[name])

    creds = ctx.credentials
    return StackUrls(
        database_url=f"postgresql://postgres@127.0.0.1:{port('postgres')}/chirp",
        redis_url=f"redis://127.0.0.1:{port('valkey')}/0",
        meili_url=f"http://127.0.0.1:{port('meilisearch')}",
        meili_master_key=creds.meili_master_key,
        s3_endpoint=f"http://127.0.0.1:{port('s3')}",
        s3_access_key=creds.s3_access_key,
        s3_secret_key=creds.s3_secret_key,
    )
