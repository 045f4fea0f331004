"""Secrets of a stack (Meilisearch master key, S3 keys): made once, kept in `<root>/secrets.json`.

Keeping them means a restarted stack serves the same data with the same keys, and the app's
configuration stays valid between `make run`s.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .errors import StackError

FILE_NAME = "secrets.json"


@dataclass(frozen=True)
class Credentials:
    meili_master_key: str
    s3_access_key: str
    s3_secret_key: str


def _generate() -> Credentials:
    upper = string.ascii_uppercase + string.digits
    return Credentials(
        meili_master_key=secrets.token_urlsafe(24),  # Meilisearch wants 16+ bytes
        s3_access_key="CHIRP" + "".join(secrets.choice(upper) for _ in range(15)),
        s3_secret_key=secrets.token_urlsafe(30),
    )


def load_or_create(root: Path) -> Credentials:
    """Read `<root>/secrets.json`, generating (and saving) whatever is missing."""
    path = root / FILE_NAME
    stored: dict[str, str] = {}
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise StackError(f"cannot read {path}: {exc}; delete it to generate new secrets") from exc
    fresh = asdict(_generate())
    names = [f.name for f in fields(Credentials)]
    if all(isinstance(stored.get(name), str) and stored[name] for name in names):
        return Credentials(**{name: stored[name] for name in names})
    merged = {name: stored.get(name) or fresh[name] for name in names}
    _write_private(path, json.dumps(merged, indent=2) + "\n")
    return Credentials(**merged)


def _write_private(path: Path, text: str) -> None:
    """Write a mode-600 file atomically, so a reader never sees half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
