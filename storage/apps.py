"""OAuth client applications (table `oauth_apps`); the client secret is stored only as a hash."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from storage.db import Executor

APP_COLUMNS = "id, name, website, redirect_uris, scopes, client_id, client_secret_hash, created_at"


async def insert_app(
    db: Executor,
    app_id: int,
    *,
    name: str,
    website: str | None,
    redirect_uris: Sequence[str],
    scopes: Sequence[str],
    client_id: str,
    client_secret_hash: bytes,
) -> asyncpg.Record:
    row: asyncpg.Record = await db.fetchrow(
        f"""
        INSERT INTO oauth_apps (id, name, website, redirect_uris, scopes, client_id, client_secret_hash)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        RETURNING {APP_COLUMNS}
        """,
        app_id,
        name,
        website,
        list(redirect_uris),
        list(scopes),
        client_id,
        client_secret_hash,
    )
    return row


async def find_app_by_client_id(db: Executor, client_id: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await db.fetchrow(
        f"SELECT {APP_COLUMNS} FROM oauth_apps WHERE client_id = $1", client_id
    )
    return row


async def get_app(db: Executor, app_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await db.fetchrow(f"SELECT {APP_COLUMNS} FROM oauth_apps WHERE id = $1", app_id)
    return row
