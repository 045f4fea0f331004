"""The four servers: how each is prepared, started, probed for readiness and stopped."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from . import probes
from .binaries import Binaries
from .credentials import Credentials
from .errors import StackError
from .ports import GRPC_OFFSET, check_ports_free, needed_ports
from .processes import PidFile, RunAs, display_path, log_tail, pid_alive, send_signal, spawn, wait_or_kill

Log = Callable[[str], None]
POLL_INTERVAL = 0.05
DATABASE = "chirp"


# Meilisearch's indexing memory, for every stack this project starts (`make run`, the tests, the HA
# topology, the benchmarks). Left to its own default, two thirds of the machine's memory, Meilisearch
# takes it even for a handful of documents (3.3 GB in a tiny benchmark run), and it spends about four
# times the CPU per post: 2.39 against 0.58-0.61 ms in alternating `bench posting` runs at 200 posts/s
# (bench/results/posting-pairs.md). docs/operations.md says the same to operators of their own Meilisearch.
MEILI_INDEXING_MB = 256


@dataclass(frozen=True)
class ServerContext:
    """What every server of one stack shares."""

    root: Path
    persistent: bool
    detach: bool  # True: servers may outlive this process (no parent-death signal)
    binaries: Binaries
    credentials: Credentials
    ports: dict[str, int]
    log: Log
    # Meilisearch's indexing budget (MEILI_INDEXING_MB); None: its own default, two thirds of the
    # machine's memory.
    meili_indexing_mb: int | None = None
    # SeaweedFS's soft heap limit (Go's GOMEMLIMIT, with GOGC=50); None: Go's defaults. A test stack's
    # SeaweedFS then peaks at about 130 MB instead of 265 MB (docs/development.md).
    s3_heap_limit_mb: int | None = None


class Server(ABC):
    """One embedded server: its data lives in `<root>/<name>/`, with `log` and `pid` files beside it."""

    name: ClassVar[str]
    executable: ClassVar[str]  # process name, to tell our server from a reused pid
    ready_timeout: ClassVar[float] = 30.0
    stop_signal: ClassVar[int] = signal.SIGTERM
    stop_grace: ClassVar[float] = 10.0  # seconds between the stop signal and SIGKILL

    def __init__(self, ctx: ServerContext) -> None:
        self.port: int = ctx.ports[self.name]
        self.dir = ctx.root / self.name
        self.log_path = self.dir / "log"
        self._ctx = ctx
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid_file = PidFile(self.dir / "pid")
        self._log_start = 0
        self._deadline = 0.0
        self._last_probe = "no answer yet"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} port={self.port} pid={self.pid}>"

    # --- what each server defines -------------------------------------------------------------------

    @abstractmethod
    def command(self) -> list[str]: ...

    @abstractmethod
    def probe(self) -> bool:
        """One readiness check; may raise OSError while the server is not listening yet."""

    def prepare(self) -> None:
        """One-time setup before the process starts (data directories, config files)."""
        self.dir.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str] | None:
        return None

    def run_as(self) -> RunAs | None:
        return None

    def workdir(self) -> Path:
        return self.dir

    def listen_ports(self) -> dict[str, int]:
        return needed_ports(self.name, self.port)

    @property
    def death_signal(self) -> int:
        """What the kernel sends the server if this Python process dies without stopping it."""
        return self.stop_signal

    def cleanup(self) -> None:  # noqa: B027 - an optional hook, empty unless a server needs it
        """Called once the whole stack is stopped for good."""

    # --- lifecycle ----------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self.is_running() and self._proc else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def check_can_start(self) -> None:
        """Refuse early: a live pid file from another run, or a port someone else holds."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._pid_file.claim(self.name, self.executable, self._ctx.log)
        check_ports_free(self.listen_ports())

    def launch(self) -> None:
        """Start the process without waiting for it to be ready."""
        self.check_can_start()
        self.prepare()
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._proc = spawn(
            self.command(),
            log_path=self.log_path,
            cwd=self.workdir(),
            env=self.env(),
            run_as=self.run_as(),
            death_signal=None if self._ctx.detach else self.death_signal,
        )
        self._pid_file.write(self._proc.pid)
        self._deadline = time.monotonic() + self.ready_timeout
        self._last_probe = "no answer yet"

    def check_ready(self) -> bool:
        """True once the server answers; StackError (with its log tail) if it died or took too long."""
        proc = self._proc
        if proc is None:
            raise StackError(f"{self.name} is not started")
        code = proc.poll()
        if code is not None:
            self._forget()
            raise self._failure(f"{self.name} exited with code {code} while starting")
        try:
            if self.probe():
                return True
        except OSError as exc:
            self._last_probe = str(exc) or type(exc).__name__
        if time.monotonic() > self._deadline:
            self.stop()
            raise self._failure(
                f"{self.name} did not become ready within {self.ready_timeout:.0f}s (last check: {self._last_probe})"
            )
        return False

    def wait_ready(self) -> None:
        while not self.check_ready():
            time.sleep(POLL_INTERVAL)

    def start(self) -> None:
        """(Re)start with the same data and port, and wait until it answers. No-op if running."""
        if self.is_running():
            return
        if self._proc is not None:  # it died on its own: its pid file is ours, not a stale one to report
            self._forget()
        self.launch()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop this server (stop signal, then SIGKILL after a grace period); idempotent."""
        self.begin_stop()
        self.finish_stop()

    def begin_stop(self) -> None:
        if self._proc is not None:
            send_signal(self._proc, self.stop_signal)

    def finish_stop(self) -> None:
        if self._proc is not None:
            wait_or_kill(self._proc, self.stop_grace)
            self._forget()

    def _forget(self) -> None:
        self._proc = None
        self._pid_file.remove()

    def _failure(self, headline: str) -> StackError:
        tail = log_tail(self.log_path, self._log_start)
        return StackError(f"{headline}; log {display_path(self.log_path)}:\n{tail}")


class ValkeyServer(Server):
    name = "valkey"
    executable = "valkey-server"
    ready_timeout = 20.0

    def command(self) -> list[str]:
        assert self._ctx.binaries.valkey_server is not None
        argv = [str(self._ctx.binaries.valkey_server), "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--dir", str(self.dir), "--daemonize", "no", "--logfile", ""]
        if self._ctx.persistent:
            argv += ["--appendonly", "yes"]
        else:
            argv += ["--save", "", "--appendonly", "no"]
        return argv

    def probe(self) -> bool:
        return probes.redis_ping(self.port)


class MeilisearchServer(Server):
    name = "meilisearch"
    executable = "meilisearch"

    def command(self) -> list[str]:
        assert self._ctx.binaries.meilisearch is not None
        return [
            str(self._ctx.binaries.meilisearch),
            "--db-path", str(self.dir / "data.ms"),
            "--dump-dir", str(self.dir / "dumps"),
            "--snapshot-dir", str(self.dir / "snapshots"),
            "--http-addr", f"127.0.0.1:{self.port}",
            "--env", "development",
            "--no-analytics",
            *(["--max-indexing-memory", f"{self._ctx.meili_indexing_mb}MiB"] if self._ctx.meili_indexing_mb else []),
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        # Only our MEILI_* settings (a stray MEILI_CONFIG_FILE_PATH would change the server), and the
        # key in the environment rather than on the command line, where `ps` and our log would show it.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEILI_")}
        env.update(MEILI_MASTER_KEY=self._ctx.credentials.meili_master_key, NO_COLOR="1")
        return env

    def probe(self) -> bool:
        status, body = probes.http_get(self.port, "/health")
        self._last_probe = f"HTTP {status} {body[:80]!r}"
        return status == 200 and b"available" in body


_SEAWEED_SERVICES = (("master", "s3_master"), ("volume", "s3_volume"), ("filer", "s3_filer"), ("s3", "s3"))


class SeaweedServer(Server):
    """SeaweedFS `weed server`: master, volume, filer and S3 gateway in one process."""

    name = "s3"
    executable = "weed"
    ready_timeout = 60.0
    # On SIGTERM its filer waits 15 s for gRPC streams that never end; it recovers fine from SIGKILL.
    stop_grace = 1.5

    def listen_ports(self) -> dict[str, int]:
        ports: dict[str, int] = {}
        for key in ("s3", "s3_master", "s3_volume", "s3_filer"):
            ports.update(needed_ports(key, self._ctx.ports[key]))
        return ports

    @property
    def death_signal(self) -> int:
        return signal.SIGKILL

    def begin_stop(self) -> None:
        if self._proc is not None:
            send_signal(self._proc, signal.SIGTERM if self._ctx.persistent else signal.SIGKILL)

    def finish_stop(self) -> None:
        was_running = self._proc is not None
        super().finish_stop()
        if was_running:
            self._remove_unix_sockets()

    def _remove_unix_sockets(self) -> None:
        """Delete the sockets it made in /tmp, named after our ports (it leaves them behind when killed)."""
        tmp = Path(os.environ.get("TMPDIR") or "/tmp")
        p = self._ctx.ports
        names = [f"seaweedfs-filer-{p['s3_filer']}.sock", f"seaweedfs-s3-{p['s3']}.sock"]
        names += [f"seaweedfs-{kind}-grpc-{p[key] + GRPC_OFFSET}.sock" for kind, key in _SEAWEED_SERVICES]
        for name in names:
            path = tmp / name
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(path.lstat().st_mode):
                    path.unlink()

    def prepare(self) -> None:
        for sub in ("master", "volume"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        creds = self._ctx.credentials
        identity = {
            "name": "chirp",
            "credentials": [{"accessKey": creds.s3_access_key, "secretKey": creds.s3_secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config = self.dir / "s3.json"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"identities": [identity]}, f)

    def command(self) -> list[str]:
        assert self._ctx.binaries.weed is not None
        p = self._ctx.ports
        return [
            str(self._ctx.binaries.weed), "-logtostderr", "server",
            f"-dir={self.dir / 'volume'}",
            f"-master.dir={self.dir / 'master'}",  # not the default m<port>: data survives a port change
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p['s3_master']}",
            f"-volume.port={p['s3_volume']}",
            "-filer", f"-filer.port={p['s3_filer']}",
            "-s3", f"-s3.port={p['s3']}", f"-s3.config={self.dir / 's3.json'}",
            "-master.telemetry=false",  # on by default: it would phone home
            "-master.electionTimeout=1s",  # a single master with saved state otherwise waits ~15 s to lead
            "-master.volumeSizeLimitMB=128", "-volume.max=64",  # small volumes, created lazily
            "-volume.preStopSeconds=0",
            "-s3.port.iceberg=0", "-s3.port.lance=0",  # extra fixed ports (8181, 9101) we do not need
        ]  # fmt: skip

    def env(self) -> dict[str, str] | None:
        limit = self._ctx.s3_heap_limit_mb
        return None if limit is None else {**os.environ, "GOGC": "50", "GOMEMLIMIT": f"{limit}MiB"}

    def probe(self) -> bool:
        # Anonymous requests are refused (403) once the gateway runs with our identities loaded.
        status, _ = probes.http_get(self.port, "/")
        self._last_probe = f"HTTP {status} on GET / (want 403)"
        return status == 403


class PostgresServer(Server):
    """PostgreSQL, run as `postgres` directly (no pg_ctl) so that we hold the postmaster's pid.

    As root it runs as `nobody`, since PostgreSQL refuses root. The cluster then has to be somewhere
    `nobody` can reach; a throw-away stack whose root is private (pytest's tmp dirs are mode 700) keeps
    its cluster in a private directory under /tmp instead, removed when the stack stops.
    """

    name = "postgres"
    executable = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: SIGTERM would wait for every client to disconnect
    stop_grace = 30.0  # a shutdown checkpoint can take a while on a big dev database
    ready_timeout = 90.0  # crash recovery replays WAL before it accepts connections

    def __init__(self, ctx: ServerContext) -> None:
        super().__init__(ctx)
        self._account = _nobody() if os.geteuid() == 0 else None
        self._home: Path | None = None  # the directory holding the cluster, once chosen
        self._relocated = False

    @property
    def bin_dir(self) -> Path:
        assert self._ctx.binaries.postgres_bin is not None
        return self._ctx.binaries.postgres_bin

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def home(self) -> Path:
        if self._home is None:
            self._home = self._choose_home()
        return self._home

    def run_as(self) -> RunAs | None:
        return self._account

    def workdir(self) -> Path:
        return self.home

    def _choose_home(self) -> Path:
        account = self._account
        if account is None or _reachable(self.dir, account):
            return self.dir
        if self._ctx.persistent:
            raise StackError(
                f"postgres runs as {account.name} (it refuses root), who cannot reach {self.dir}; "
                "let others search its parent directories (chmod o+x) or use another directory"
            )
        home = _private_tmp_home(account)
        self._relocated = True
        self._ctx.log(f"postgres: cluster in {home} ({account.name} cannot reach {display_path(self.dir)})")
        return home

    def check_can_start(self) -> None:
        super().check_can_start()
        if self._account and not _reachable(self.bin_dir / "postgres", self._account, executable=True):
            raise StackError(f"postgres: user {self._account.name} cannot run {self.bin_dir / 'postgres'}")
        _ = self.home  # may refuse: a persistent cluster that `nobody` cannot reach

    def prepare(self) -> None:
        super().prepare()
        home = self.home
        home.mkdir(parents=True, exist_ok=True)
        if self._account:
            _own(home, self._account)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()

    def _initdb(self) -> None:
        """Create the cluster beside its final place, then rename: a failed initdb leaves nothing behind."""
        scratch = self.home / "data.initdb"
        shutil.rmtree(scratch, ignore_errors=True)
        argv = [str(self.bin_dir / "initdb"), "-D", str(scratch), "-U", "postgres", "--auth=trust"]
        argv += ["-E", "UTF8", "--locale-provider=builtin", "--builtin-locale=C.UTF-8", "--locale=C"]
        argv += ["--no-instructions"] + ([] if self._ctx.persistent else ["--no-sync"])
        self._ctx.log(f"postgres: creating a new cluster in {display_path(self.data_dir)}")
        self._run_tool(argv, "postgres: initdb", timeout=120)
        os.rename(scratch, self.data_dir)

    def _run_tool(self, argv: list[str], what: str, *, timeout: float) -> None:
        """Run one of PostgreSQL's tools as the account that owns the data; StackError with its last lines."""
        account = self._account
        result = subprocess.run(
            argv,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            user=account.uid if account else None,
            group=account.gid if account else None,
            extra_groups=[] if account else None,
        )
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()[-10:]
            raise StackError(f"{what} failed:\n" + "\n".join(f"    {line}" for line in lines))

    def _socket_dir(self) -> str:
        # Unix socket paths are limited to 107 bytes; past that, TCP only ("" disables the socket).
        socket_path = self.home / f".s.PGSQL.{self.port}"
        return str(self.home) if len(str(socket_path)) < 100 else ""

    def command(self) -> list[str]:
        argv = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port)]
        argv += ["-h", "127.0.0.1", "-k", self._socket_dir(), "-c", "max_connections=200"]
        if not self._ctx.persistent:
            # Throw-away data: skip the disk flushes (a large part of a test suite's database time).
            argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        return argv

    def probe(self) -> bool:
        state, message = probes.postgres(self.port, DATABASE)
        self._last_probe = f"{state.value}: {message}" if message else state.value
        if state is probes.PgState.NO_DATABASE:
            self._create_database()
            return False  # the next probe confirms it
        return state is probes.PgState.READY

    def _create_database(self) -> None:
        argv = [str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", DATABASE]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if result.returncode != 0 and "already exists" not in result.stderr:
            raise StackError(f"postgres: createdb {DATABASE} failed: {result.stderr.strip()}")
        self._ctx.log(f"postgres: created database {DATABASE}")

    def cleanup(self) -> None:
        if self._relocated and self._home is not None and not self.is_running():
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None
            self._relocated = False


def _nobody() -> RunAs:
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError as exc:
        raise StackError("postgres cannot run as root and there is no user 'nobody' to run it as") from exc
    return RunAs(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid)


def _can_search(path: Path, account: RunAs, bit_owner: int, bit_group: int, bit_other: int) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    if st.st_uid == account.uid:
        return bool(st.st_mode & bit_owner)
    if st.st_gid == account.gid:
        return bool(st.st_mode & bit_group)
    return bool(st.st_mode & bit_other)


def _reachable(path: Path, account: RunAs, *, executable: bool = False) -> bool:
    """Whether `account` can traverse every existing parent of `path` (and run it, if `executable`)."""
    path = path.resolve()
    for parent in reversed(path.parents):
        if parent.exists() and not _can_search(parent, account, stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH):
            return False
    if executable:
        return _can_search(path, account, stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH)
    return True


def _own(home: Path, account: RunAs) -> None:
    """Give the cluster directory to `account`; recursively only if an earlier run left other owners."""
    os.chown(home, account.uid, account.gid)
    home.chmod(0o700)
    data = home / "data"
    if data.exists() and data.stat().st_uid != account.uid:
        for dirpath, _dirs, files in os.walk(home):
            os.chown(dirpath, account.uid, account.gid)
            for name in files:
                os.chown(os.path.join(dirpath, name), account.uid, account.gid)


TMP_PREFIX = "chirp-pg-"


def _private_tmp_home(account: RunAs) -> Path:
    """A fresh mode-700 directory owned by `account` under a temp dir it can reach."""
    for base in dict.fromkeys([tempfile.gettempdir(), "/tmp", "/var/tmp"]):
        if Path(base).is_dir() and _reachable(Path(base) / "x", account):
            _sweep_stale_homes(Path(base))
            home = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=base))
            os.chown(home, account.uid, account.gid)
            return home
    raise StackError(f"postgres: no temp directory that user {account.name} can reach")


def _sweep_stale_homes(base: Path) -> None:
    """Remove clusters left by test runs that were killed before they could clean up."""
    for home in base.glob(f"{TMP_PREFIX}*"):
        owner = home.name[len(TMP_PREFIX) :].split("-")[0]
        if not owner.isdigit() or pid_alive(int(owner)) or _postmaster_alive(home):
            continue
        shutil.rmtree(home, ignore_errors=True)


def _postmaster_alive(home: Path) -> bool:
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int((home / "data" / "postmaster.pid").read_text().split()[0])
        return pid_alive(pid)
    return False


SERVER_CLASSES: dict[str, type[Server]] = {
    cls.name: cls for cls in (PostgresServer, ValkeyServer, MeilisearchServer, SeaweedServer)
}
