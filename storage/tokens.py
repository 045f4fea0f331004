"""Access tokens, refresh tokens and authorization codes: issued as random strings, stored only as SHA-256 hashes.

The token lookup is one query on the unique `token_hash` index, made when the API process's token cache
(app/token_cache.py) misses. Whoever revokes a token must, after the commit, call
`domain.oauth.forget_revoked` with the ids these functions return, so that no API process keeps serving it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import orjson

from storage.db import Executor
from storage.keys import Valkey

# Ids of tokens just revoked, as a JSON list: every API process drops them from its token cache.
REVOKED_CHANNEL = "chirp:tokens:revoked"


def hash_secret(secret: str) -> bytes:
    # Tokens are 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(secret.encode()).digest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)  # slots: API processes hold up to CHIRP_TOKEN_CACHE_SIZE of these
class TokenGrant:
    token_id: int
    account_id: int | None
    app_id: int | None
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class IssuedToken:
    token_id: int
    access_token: str
    refresh_token: str
    scopes: tuple[str, ...]
    created_at: datetime


async def issue_token(
    db: Executor, token_id: int, *, app_id: int | None, account_id: int | None, scopes: Sequence[str]
) -> IssuedToken:
    access, refresh = new_secret(), new_secret()
    created_at = await db.fetchval(
        """
        INSERT INTO access_tokens (id, token_hash, refresh_hash, app_id, account_id, scopes)
        VALUES ($1, $2, $3, $4, $5, $6)
        RETURNING created_at
        """,
        token_id,
        hash_secret(access),
        hash_secret(refresh),
        app_id,
        account_id,
        list(scopes),
    )
    return IssuedToken(token_id, access, refresh, tuple(scopes), created_at)


# A token works while it is not revoked and its account (if any) is neither suspended nor disabled: lifting
# the suspension makes the account's tokens work again, as in Mastodon.
_LIVE_GRANT = """
    t.revoked_at IS NULL AND NOT EXISTS (
        SELECT 1 FROM accounts a
        WHERE a.id = t.account_id AND (a.suspended_at IS NOT NULL OR a.disabled_at IS NOT NULL))
"""


async def find_token(db: Executor, access_token: str) -> TokenGrant | None:
    row = await db.fetchrow(
        f"""
        SELECT t.id, t.account_id, t.app_id, t.scopes FROM access_tokens t
        WHERE t.token_hash = $1 AND {_LIVE_GRANT}
        """,
        hash_secret(access_token),
    )
    if row is None:
        return None
    return TokenGrant(row["id"], row["account_id"], row["app_id"], tuple(row["scopes"]))


async def revoke_token(db: Executor, access_token: str) -> int | None:
    """The id of the token now revoked; None when there was no live token."""
    token_id: int | None = await db.fetchval(
        "UPDATE access_tokens SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL RETURNING id",
        hash_secret(access_token),
    )
    return token_id


async def revoke_refresh_token(conn: Executor, refresh_token: str, app_id: int) -> TokenGrant | None:
    """Revoke the live token holding `refresh_token` for `app_id` and return what it granted (for rotation)."""
    row = await conn.fetchrow(
        """
        UPDATE access_tokens SET revoked_at = now()
        WHERE refresh_hash = $1 AND app_id = $2 AND revoked_at IS NULL
        RETURNING id, account_id, app_id, scopes
        """,
        hash_secret(refresh_token),
        app_id,
    )
    if row is None:
        return None
    return TokenGrant(row["id"], row["account_id"], row["app_id"], tuple(row["scopes"]))


async def revoke_for_app(db: Executor, token: str, app_id: int) -> list[int] | None:
    """Revoke an access or refresh token issued to `app_id` (RFC 7009).

    None when no such token exists; else the ids of the tokens (now) revoked, empty when the token belongs
    to another application.
    """
    row = await db.fetchrow(
        """
        WITH target AS (
            SELECT id, app_id FROM access_tokens WHERE token_hash = $1 OR refresh_hash = $1
        ), revoked AS (
            UPDATE access_tokens t SET revoked_at = coalesce(t.revoked_at, now())
            FROM target WHERE t.id = target.id AND target.app_id = $2
            RETURNING t.id
        )
        SELECT (SELECT count(*) FROM target) AS found, ARRAY(SELECT id FROM revoked) AS revoked
        """,
        hash_secret(token),
        app_id,
    )
    if row["found"] == 0:
        return None
    return list(row["revoked"])


async def live_token_ids(db: Executor, account_id: int) -> list[int]:
    """The ids of the account's unrevoked tokens (to drop from every token cache when it is suspended)."""
    rows = await db.fetch("SELECT id FROM access_tokens WHERE account_id = $1 AND revoked_at IS NULL", account_id)
    return [row["id"] for row in rows]


async def revoke_token_id(db: Executor, token_id: int) -> None:
    await db.execute("UPDATE access_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", token_id)


async def publish_revoked(redis: Valkey, token_ids: Sequence[int]) -> None:
    await redis.publish(REVOKED_CHANNEL, orjson.dumps(list(token_ids)))


# Authorization codes ---------------------------------------------------------------------------------


async def insert_code(
    db: Executor,
    code: str,
    *,
    app_id: int,
    account_id: int,
    redirect_uri: str,
    scopes: Sequence[str],
    code_challenge: str | None,
    code_challenge_method: str | None,
    ttl_seconds: int,
) -> None:
    await db.execute(
        """
        INSERT INTO oauth_codes (code_hash, app_id, account_id, redirect_uri, scopes,
                                 code_challenge, code_challenge_method, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))
        """,
        hash_secret(code),
        app_id,
        account_id,
        redirect_uri,
        list(scopes),
        code_challenge,
        code_challenge_method,
        ttl_seconds,
    )


async def lock_code(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    """The code's row, locked until the caller's transaction ends, so two exchanges cannot both succeed."""
    row: asyncpg.Record | None = await conn.fetchrow(
        """
        SELECT code_hash, app_id, account_id, redirect_uri, scopes, code_challenge, code_challenge_method,
               expires_at <= now() AS expired, used_at, token_id
        FROM oauth_codes WHERE code_hash = $1
        FOR UPDATE
        """,
        hash_secret(code),
    )
    return row


async def purge_codes(db: Executor, *, expired_for_seconds: int, batch: int = 10_000) -> int:
    """Delete codes expired at least `expired_for_seconds` ago (a bounded batch); how many went."""
    status: str = await db.execute(
        """
        DELETE FROM oauth_codes WHERE code_hash IN (
            SELECT code_hash FROM oauth_codes
            WHERE expires_at <= now() - make_interval(secs => $1) LIMIT $2
        )
        """,
        expired_for_seconds,
        batch,
    )
    return int(status.split()[-1])


async def mark_code_used(conn: Executor, code_hash: bytes, token_id: int | None) -> None:
    await conn.execute(
        "UPDATE oauth_codes SET used_at = coalesce(used_at, now()), token_id = $2 WHERE code_hash = $1",
        code_hash,
        token_id,
    )
