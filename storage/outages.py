"""Which store an exception says is away, so that one place (api/errors.py, workers/runner.py) answers 503.

The drivers speak in their own words: asyncpg raises `ConnectionRefusedError` (a bare `OSError`) while
PostgreSQL is down, `CannotConnectNowError` while it starts or shuts down, `ConnectionDoesNotExistError`
when a pooled connection died with the server, `InternalClientError` when it died between two steps of one
exchange, `TooManyConnectionsError` when it is full; redis raises its own `ConnectionError`/`TimeoutError`.
A bare `OSError` or `TimeoutError` names no store, so the traceback says whose code raised it. Anything else
is a bug, not an outage, and stays a 500.
"""

from __future__ import annotations

from types import TracebackType

import asyncpg
import botocore.exceptions
import redis.exceptions
from meilisearch_python_sdk.errors import MeilisearchCommunicationError, MeilisearchTimeoutError

POSTGRES = "postgres"
VALKEY = "valkey"
MEILISEARCH = "meilisearch"
S3 = "s3"

# PostgreSQL's own answers that mean "not now": starting, shutting down, failed over, full, cancelled.
_POSTGRES_AWAY: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # class 08, including ConnectionDoesNotExistError
    asyncpg.exceptions.OperatorInterventionError,  # class 57: CannotConnectNow, AdminShutdown, QueryCanceled
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: TooManyConnections, DiskFull, OutOfMemory
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # a write that reached a standby during failover
)
_VALKEY_AWAY = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
_MEILI_AWAY = (MeilisearchCommunicationError, MeilisearchTimeoutError)
_S3_AWAY = (botocore.exceptions.ConnectionError, botocore.exceptions.ReadTimeoutError)
_DRIVER_MODULES = {"asyncpg": POSTGRES, "redis": VALKEY, "meilisearch_python_sdk": MEILISEARCH, "aiobotocore": S3}


def _raised_by(tb: TracebackType | None) -> str | None:
    """The store whose driver raised, judged by the innermost driver frame of the traceback."""
    found = None
    while tb is not None:
        package = str(tb.tb_frame.f_globals.get("__name__", "")).partition(".")[0]
        found = _DRIVER_MODULES.get(package, found)
        tb = tb.tb_next
    return found


def _classify(exc: BaseException) -> str | None:
    if isinstance(exc, _POSTGRES_AWAY):
        return POSTGRES
    if isinstance(exc, asyncpg.InternalClientError):
        # The driver's protocol state broke: the server's goodbye arrived between two steps of one exchange
        # (a backend terminated between Parse and Bind). The connection is unusable, as if it had closed.
        return POSTGRES
    if isinstance(exc, asyncpg.InterfaceError):
        # "pool is closing", "connection is closed": the connection is gone. Others are misuse (a bug).
        return POSTGRES if "clos" in str(exc) else None
    if isinstance(exc, _VALKEY_AWAY):
        return VALKEY
    if isinstance(exc, _MEILI_AWAY):
        return MEILISEARCH
    if isinstance(exc, _S3_AWAY):
        return S3
    if isinstance(exc, OSError | TimeoutError):
        return _raised_by(exc.__traceback__)
    return None


def unavailable_store(exc: BaseException) -> str | None:
    """The store `exc` (or what caused it) says is unreachable, or None when it is some other error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        store = _classify(current)
        if store is not None:
            return store
        current = current.__cause__ or current.__context__
    return None


def lost_connection(exc: BaseException) -> bool:
    """A pooled PostgreSQL connection died under the query (the server restarted): a fresh one may work."""
    broken = asyncpg.PostgresConnectionError | asyncpg.InterfaceError | asyncpg.InternalClientError
    return isinstance(exc, broken) and (unavailable_store(exc) == POSTGRES)
