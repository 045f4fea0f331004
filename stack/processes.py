"""Spawning, watching and stopping server processes, and the pid files that outlive us."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import StackError

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class RunAs:
    """An unprivileged account to run a server as (PostgreSQL refuses to run as root)."""

    name: str
    uid: int
    gid: int


def display_path(path: Path) -> str:
    """`path` relative to the working directory when it is inside it (".stack/valkey/pid"), else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def pid_alive(pid: int) -> bool:
    """True if `pid` is a running process. Zombies count as dead: some init processes reap them late."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        return _kill_zero(pid)
    # The state letter follows the command name, which is in parentheses and may contain spaces.
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _kill_zero(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_is(pid: int, executable: str) -> bool:
    """True if `pid` is alive and runs `executable` (guards against a pid file pointing at a reused pid)."""
    if not pid_alive(pid):
        return False
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return True  # no /proc (not Linux): trust the pid
    # Valkey rewrites its title to "valkey-server 127.0.0.1:port", so look for the name, not equality.
    return executable in Path(argv0.split(" ")[0]).name or executable in argv0


class PidFile:
    """`<server dir>/pid`: lets a later run see that a server from this directory is still up."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> int | None:
        try:
            return int(self.path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def write(self, pid: int) -> None:
        self.path.write_text(f"{pid}\n")

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def claim(self, server: str, executable: str, log: Callable[[str], None]) -> None:
        """Refuse if the recorded process still runs; drop the file if it is stale."""
        if not self.path.exists():
            return
        pid = self.read()
        where = display_path(self.path.parent.parent)
        if pid is not None and process_is(pid, executable):
            raise StackError(f"{server} already running from {where} (pid {pid}); stop it first")
        reason = f"pid {pid} is not running" if pid is not None else "unreadable"
        self.remove()
        log(f"stale pid file {display_path(self.path)} ({reason}) removed")


def _death_signal_setter(sig: int, parent: int) -> Callable[[], None]:
    """A preexec_fn: the kernel sends `sig` to the child when the thread that forked it dies."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork: the child only calls it

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), sig)

    return preexec


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    run_as: RunAs | None = None,
    death_signal: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server with its output appended to `log_path`, in its own session.

    Its own session keeps a terminal's Ctrl-C away from it: we stop servers ourselves, in order.
    `death_signal` is only armed from the main thread, because PR_SET_PDEATHSIG fires when the forking
    *thread* exits, which for a worker thread could be long before the process does.
    """
    preexec = None
    if death_signal is not None and sys.platform == "linux" and threading.current_thread() is threading.main_thread():
        preexec = _death_signal_setter(death_signal, os.getpid())
    with log_path.open("ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        out.flush()
        try:
            return subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=run_as.uid if run_as else None,
                group=run_as.gid if run_as else None,
                extra_groups=[] if run_as else None,
                preexec_fn=preexec,  # only calls prctl, resolved before the fork
            )
        except OSError as exc:
            raise StackError(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc


def send_signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)


def wait_or_kill(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait for a signalled process to exit; SIGKILL it (and its process group) after `timeout`."""
    try:
        proc.wait(timeout=max(timeout, 0))
        return
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def stop_pid(pid: int, executable: str, sig: int, timeout: float) -> bool:
    """Stop a server we did not spawn ourselves (found via its pid file). True if one was running."""
    if not process_is(pid, executable):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.05)
    return True


def log_tail(path: Path, start: int = 0, lines: int = 25) -> str:
    """The last `lines` lines written to `path` from byte offset `start`, indented for an error message."""
    try:
        with path.open("rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace")
    except OSError:
        return "    (no log)"
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(f"    {line}" for line in tail) or "    (log is empty)"
