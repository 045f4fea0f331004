"""Read-your-writes with PostgreSQL replicas: after a successful write by a signed-in account, note where
the primary's WAL stood, so that this account's next reads wait for a replica that has it
(storage/read_replicas.py). Installed only when DATABASE_REPLICA_URL names a replica."""

from __future__ import annotations

import logging

import asyncpg
from aiohttp import web
from aiohttp.typedefs import Handler

from api.auth import known_viewer
from api.keys import RESOURCES

log = logging.getLogger("chirp.replicas")

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@web.middleware
async def read_your_writes_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if request.method in WRITES and response.status < 400:
        viewer = known_viewer(request)
        if viewer is not None and viewer.account_id is not None:
            try:
                await request.app[RESOURCES].reads.note_write(viewer.account_id)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # The write is done; its author may read a replica that lacks it for a moment.
                log.warning("write position of account %s not noted: %s", viewer.account_id, exc)
    return response
