"""PgBouncer in transaction mode in front of the stack's PostgreSQL, for tests and the HA topology.

PgBouncer is Debian's package (`apt-get install pgbouncer`; .ci/run installs it), not a registry download.
It refuses to run as root, so as root it runs as `nobody` like PostgreSQL, with its configuration in a
private directory that `nobody` can reach. Clients authenticate with `trust`, as PostgreSQL does here.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from . import probes
from .errors import StackError
from .ports import pick_free_ports
from .processes import RunAs
from .servers import DATABASE, PostgresServer, Server, _nobody, _own, _private_tmp_home, _reachable

Log = Callable[[str], None]
PGBOUNCER = "/usr/sbin/pgbouncer"
INSTALL_HINT = "PgBouncer is not installed: sudo apt-get install pgbouncer"


def pgbouncer_path() -> str | None:
    return shutil.which("pgbouncer") or (PGBOUNCER if os.access(PGBOUNCER, os.X_OK) else None)


class PgBouncer(Server):
    name = "pgbouncer"
    executable = "pgbouncer"
    ready_timeout = 15.0

    def __init__(self, primary: PostgresServer, port: int, *, pool_size: int = 20) -> None:
        super().__init__(dataclasses.replace(primary._ctx, ports={self.name: port}))
        self.primary = primary
        self.pool_size = pool_size
        self._account: RunAs | None = _nobody() if os.geteuid() == 0 else None
        self._home: Path | None = None

    @property
    def home(self) -> Path:
        if self._home is None:
            account = self._account
            self._home = self.dir if account is None or _reachable(self.dir, account) else _private_tmp_home(account)
        return self._home

    def listen_ports(self) -> dict[str, int]:
        return {"pgbouncer": self.port}

    def run_as(self) -> RunAs | None:
        return self._account

    def workdir(self) -> Path:
        return self.home

    def prepare(self) -> None:
        super().prepare()
        home = self.home
        home.mkdir(parents=True, exist_ok=True)
        (home / "users.txt").write_text('"postgres" ""\n')
        (home / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"{DATABASE} = host=127.0.0.1 port={self.primary.port} dbname={DATABASE} user=postgres\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {home / 'users.txt'}\n"
            f"pool_mode = transaction\ndefault_pool_size = {self.pool_size}\nmax_client_conn = 2000\n"
            # asyncpg's pools reset nothing (storage/resources.py); the server side is reset per transaction.
            "server_reset_query =\nignore_startup_parameters = extra_float_digits,options\n"
            "admin_users = postgres\n"
        )
        if self._account:
            _own(home, self._account)
            for name in ("users.txt", "pgbouncer.ini"):
                os.chown(home / name, self._account.uid, self._account.gid)

    def command(self) -> list[str]:
        binary = pgbouncer_path()
        if binary is None:
            raise StackError(INSTALL_HINT)
        return [binary, str(self.home / "pgbouncer.ini")]

    def probe(self) -> bool:
        """Ready once a session through PgBouncer reaches PostgreSQL's database."""
        state, message = probes.postgres(self.port, DATABASE)
        self._last_probe = f"{state.value}: {message}" if message else state.value
        return state is probes.PgState.READY

    @property
    def url(self) -> str:
        """`DATABASE_URL` for Chirp with CHIRP_DATABASE_POOLER=transaction."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def cleanup(self) -> None:
        if self._home is not None and self._home != self.dir and not self.is_running():
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None


def start_pgbouncer(primary: PostgresServer, *, port: int | None = None, log: Log = print) -> PgBouncer:
    """PgBouncer (transaction mode) in front of the running `primary`, listening and ready."""
    if pgbouncer_path() is None:
        raise StackError(INSTALL_HINT)
    began = time.monotonic()
    bouncer = PgBouncer(primary, port or pick_free_ports(1)[0])
    bouncer.start()
    log(f"pgbouncer ready in {time.monotonic() - began:.1f}s (:{bouncer.port}, transaction mode, to :{primary.port})")
    return bouncer
