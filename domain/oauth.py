"""OAuth 2: client applications, scopes, the token grants, authorization codes (with PKCE) and revocation.

Errors follow RFC 6749 §5.2 as Mastodon sends them: `{"error": "invalid_grant", "error_description": ...}`,
400 for a bad grant or request, 401 when the client itself fails to authenticate.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from redis.exceptions import RedisError

from core.errors import ApiError, validation_error
from domain import accounts as account_domain
from storage import accounts as account_store
from storage import apps as app_store
from storage import tokens as token_store
from storage.resources import Resources
from storage.tokens import IssuedToken, TokenGrant

log = logging.getLogger("chirp.auth")

OOB_REDIRECT = "urn:ietf:wg:oauth:2.0:oob"
CODE_TTL_SECONDS = 600  # RFC 6749 recommends at most ten minutes
MAX_APP_NAME = 60
MAX_URI_LENGTH = 2000
MAX_REDIRECT_URIS = 10
FORBIDDEN_REDIRECT_SCHEMES = {"javascript", "data", "vbscript", "file"}
PUBLISH_TIMEOUT = 1.0  # seconds; a slow Valkey must not hold up a revocation PostgreSQL has already made

TOP_SCOPES = ("read", "write", "follow", "push", "profile")
READ_SCOPES = tuple(
    f"read:{name}"
    for name in (
        "accounts", "blocks", "bookmarks", "favourites", "filters", "follows",
        "lists", "mutes", "notifications", "search", "statuses",
    )
)  # fmt: skip
# The admin API's scopes (Mastodon's): `admin:read` and `admin:write`, each granting its sub-scopes. The
# plain `read` and `write` grant none of them.
ADMIN_RESOURCES = (
    "accounts", "reports", "domain_allows", "domain_blocks", "ip_blocks", "email_domain_blocks",
    "canonical_email_blocks",
)  # fmt: skip
ADMIN_SCOPES = (
    "admin:read",
    "admin:write",
    *(f"admin:read:{name}" for name in ADMIN_RESOURCES),
    *(f"admin:write:{name}" for name in ADMIN_RESOURCES),
)
WRITE_SCOPES = tuple(
    f"write:{name}"
    for name in (
        "accounts", "blocks", "bookmarks", "conversations", "favourites", "filters", "follows",
        "lists", "media", "mutes", "notifications", "reports", "statuses",
    )
)  # fmt: skip
ALL_SCOPES = (*TOP_SCOPES, *READ_SCOPES, *WRITE_SCOPES, *ADMIN_SCOPES)
# The legacy `follow` scope stands for these (as in Mastodon).
FOLLOW_SCOPES = frozenset({"read:follows", "write:follows", "read:blocks", "write:blocks", "read:mutes", "write:mutes"})
GRANT_TYPES = ("authorization_code", "password", "client_credentials", "refresh_token")

_INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used "
    "in the authorization request, or was issued to another client."
)
_INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication included, "
    "or unsupported authentication method."
)
_INVALID_SCOPE = "The requested scope is invalid, unknown, or malformed."


def oauth_error(status: int, error: str, description: str, *, headers: dict[str, str] | None = None) -> ApiError:
    return ApiError(status, error, error_description=description, headers=headers)


def invalid_grant(description: str = _INVALID_GRANT) -> ApiError:
    return oauth_error(400, "invalid_grant", description)


# Scopes ----------------------------------------------------------------------------------------------


def split_scopes(raw: str | Iterable[str] | None) -> tuple[str, ...]:
    """Scopes as clients send them: space- or plus-separated text, or a list; order kept, duplicates dropped."""
    if raw is None:
        return ()
    parts = [raw] if isinstance(raw, str) else list(raw)
    words = (word for part in parts for word in part.replace("+", " ").split())
    return tuple(dict.fromkeys(words))


def unknown_scopes(scopes: Iterable[str]) -> list[str]:
    return [scope for scope in scopes if scope not in ALL_SCOPES]


def scope_covered(scope: str, granted: Iterable[str]) -> bool:
    """Whether `granted` includes `scope` itself, a parent (`read` for `read:statuses`, `admin:read` for
    `admin:read:reports`) or legacy `follow`."""
    held = granted if isinstance(granted, set | frozenset) else set(granted)
    if scope in held or ("follow" in held and scope in FOLLOW_SCOPES):
        return True
    parts = scope.split(":")
    return any(":".join(parts[:end]) in held for end in range(1, len(parts)))


def narrow_scopes(requested: str | Sequence[str] | None, allowed: Sequence[str]) -> tuple[str, ...]:
    """The scopes to grant: those requested (default `read`), each known and within `allowed`, else invalid_scope."""
    scopes = split_scopes(requested) or ("read",)
    if unknown_scopes(scopes) or not all(scope_covered(scope, allowed) for scope in scopes):
        raise oauth_error(400, "invalid_scope", _INVALID_SCOPE)
    return scopes


# Applications ----------------------------------------------------------------------------------------


def _valid_redirect_uri(uri: str) -> bool:
    if uri == OOB_REDIRECT:
        return True
    if len(uri) > MAX_URI_LENGTH or "#" in uri:
        return False
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if not scheme or scheme in FORBIDDEN_REDIRECT_SCHEMES:
        return False
    # Web redirects need a host; apps may use their own scheme (`com.example.app:/callback`).
    return bool(parts.netloc) if scheme in ("http", "https") else bool(parts.path or parts.netloc)


def parse_redirect_uris(values: Sequence[str]) -> list[str]:
    """`redirect_uris` as a list or as newline/space-separated text; each must be absolute or the oob marker."""
    uris = list(dict.fromkeys(uri for value in values for uri in value.split()))
    if not uris:
        raise validation_error("redirect_uris", "can't be blank")
    if len(uris) > MAX_REDIRECT_URIS:
        raise validation_error("redirect_uris", f"has too many items (maximum is {MAX_REDIRECT_URIS})")
    for uri in uris:
        if not _valid_redirect_uri(uri):
            raise validation_error("redirect_uris", "must be absolute URIs without a fragment")
    return uris


def _valid_website(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and len(url) <= MAX_URI_LENGTH


async def create_app(
    res: Resources, *, name: str, website: str | None, redirect_uris: Sequence[str], scopes: str | Sequence[str]
) -> tuple[asyncpg.Record, str]:
    """Register a client application; returns its row and the client secret (shown this once, kept hashed)."""
    name = name.strip()
    if not name:
        raise validation_error("client_name", "can't be blank")
    if len(name) > MAX_APP_NAME:
        raise validation_error("client_name", f"is too long (maximum is {MAX_APP_NAME} characters)")
    uris = parse_redirect_uris(redirect_uris)
    website = (website or "").strip() or None
    if website is not None and not _valid_website(website):
        raise validation_error("website", "must be an http(s) URL")
    app_scopes = split_scopes(scopes) or ("read",)
    unknown = unknown_scopes(app_scopes)
    if unknown:
        raise validation_error("scopes", f"contains unknown scopes: {' '.join(unknown)}")
    secret = token_store.new_secret()
    row = await app_store.insert_app(
        res.db,
        res.ids.next_id(),
        name=name,
        website=website,
        redirect_uris=uris,
        scopes=app_scopes,
        client_id=token_store.new_secret(),
        client_secret_hash=token_store.hash_secret(secret),
    )
    return row, secret


def application_entity(row: asyncpg.Record, client_secret: str | None = None) -> dict[str, Any]:
    """Mastodon's Application; with the secret, its CredentialApplication (only right after creation)."""
    entity: dict[str, Any] = {
        "id": str(row["id"]),
        "name": row["name"],
        "website": row["website"],
        "scopes": list(row["scopes"]),
        "redirect_uri": "\n".join(row["redirect_uris"]),
        "redirect_uris": list(row["redirect_uris"]),
        # Deprecated in Mastodon 4.3 but still sent; the same as the instance's configuration.vapid.public_key,
        # empty because Chirp offers no Web Push.
        "vapid_key": "",
    }
    if client_secret is not None:
        entity["client_id"] = row["client_id"]
        entity["client_secret"] = client_secret
        entity["client_secret_expires_at"] = 0
    return entity


async def authenticate_client(res: Resources, client_id: str | None, client_secret: str | None) -> asyncpg.Record:
    """The application whose id and secret these are, else 401 invalid_client."""
    row = await app_store.find_app_by_client_id(res.db, client_id) if client_id else None
    supplied = token_store.hash_secret(client_secret or "")
    if row is None or not client_secret or not hmac.compare_digest(supplied, bytes(row["client_secret_hash"])):
        # RFC 6749 §5.2: a 401 for a failed client names the scheme clients may authenticate with.
        raise oauth_error(401, "invalid_client", _INVALID_CLIENT, headers={"WWW-Authenticate": 'Basic realm="Chirp"'})
    return row


def find_redirect_uri(app: asyncpg.Record, redirect_uri: str | None) -> str:
    """The registered redirect URI the client named (the only one, when it names none)."""
    registered: list[str] = list(app["redirect_uris"])
    if redirect_uri is None and len(registered) == 1:
        return registered[0]
    if redirect_uri not in registered:
        raise oauth_error(400, "invalid_request", "The redirect URI included is not valid.")
    return redirect_uri


# Token grants ----------------------------------------------------------------------------------------


def token_entity(issued: IssuedToken) -> dict[str, Any]:
    """Mastodon's Token entity (RFC 6749 §5.1), with the refresh token."""
    return {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "scope": " ".join(issued.scopes),
        "created_at": int(issued.created_at.timestamp()),
        "refresh_token": issued.refresh_token,
    }


async def client_credentials_grant(res: Resources, app: asyncpg.Record, scope: str | None) -> IssuedToken:
    """A token for the application itself, acting for no account (registering accounts, public reads)."""
    scopes = narrow_scopes(scope, app["scopes"])
    return await token_store.issue_token(res.db, res.ids.next_id(), app_id=app["id"], account_id=None, scopes=scopes)


async def password_grant(
    res: Resources,
    app: asyncpg.Record,
    login: str | None,
    password: str | None,
    scope: str | None,
    *,
    ip: str | None = None,
) -> IssuedToken:
    if not login or not password:
        raise oauth_error(400, "invalid_request", "The username and password are required.")
    scopes = narrow_scopes(scope, app["scopes"])
    try:
        account_id = await account_domain.check_password(res.db, login, password)
    except account_domain.SignInBarred as exc:
        raise invalid_grant(str(exc)) from None
    if account_id is None:
        raise invalid_grant()
    await account_store.note_sign_in(res.db, account_id, ip)
    return await token_store.issue_token(
        res.db, res.ids.next_id(), app_id=app["id"], account_id=account_id, scopes=scopes
    )


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _pkce_ok(row: asyncpg.Record, verifier: str | None) -> bool:
    challenge = row["code_challenge"]
    if challenge is None:
        return verifier is None
    if verifier is None or not 43 <= len(verifier) <= 128:
        return False
    return hmac.compare_digest(pkce_challenge(verifier), challenge)


async def authorization_code_grant(
    res: Resources, app: asyncpg.Record, code: str | None, redirect_uri: str | None, code_verifier: str | None
) -> IssuedToken:
    """Exchange a code once. A second use revokes the token the first one got (RFC 6749 §4.1.2)."""
    if not code:
        raise oauth_error(400, "invalid_request", "The authorization code is required.")
    reused_token: int | None = None
    async with res.db.acquire() as conn, conn.transaction():
        row = await token_store.lock_code(conn, code)
        if row is None or row["app_id"] != app["id"]:
            raise invalid_grant()
        if row["used_at"] is None:
            if row["expired"] or (redirect_uri or row["redirect_uri"]) != row["redirect_uri"]:
                raise invalid_grant()
            if not _pkce_ok(row, code_verifier):
                raise invalid_grant("The code verifier does not match the code challenge.")
            issued = await token_store.issue_token(
                conn, res.ids.next_id(), app_id=app["id"], account_id=row["account_id"], scopes=row["scopes"]
            )
            await token_store.mark_code_used(conn, row["code_hash"], issued.token_id)
            return issued
        if row["token_id"] is not None:
            reused_token = row["token_id"]
            await token_store.revoke_token_id(conn, reused_token)
    # Raised once the transaction has committed, so the revocation for the reused code sticks.
    if reused_token is not None:
        await forget_revoked(res, [reused_token])
    raise invalid_grant()


# How long a code is kept past its expiry: a second use within it still revokes the token the first got.
CODE_KEPT_AFTER_EXPIRY_SECONDS = 86_400


async def purge_expired_codes(res: Resources) -> None:
    """Periodic housekeeping: forget authorization codes a day past their expiry."""
    while await token_store.purge_codes(res.db, expired_for_seconds=CODE_KEPT_AFTER_EXPIRY_SECONDS) > 0:
        pass


async def refresh_grant(
    res: Resources, app: asyncpg.Record, refresh_token: str | None, scope: str | None
) -> IssuedToken:
    """Rotate: the old access and refresh tokens stop working, a new pair with the same (or fewer) scopes starts."""
    if not refresh_token:
        raise oauth_error(400, "invalid_request", "The refresh token is required.")
    async with res.db.acquire() as conn, conn.transaction():
        old = await token_store.revoke_refresh_token(conn, refresh_token, app["id"])
        if old is None:
            raise invalid_grant()
        scopes = narrow_scopes(scope, old.scopes) if scope else old.scopes
        issued = await token_store.issue_token(
            conn, res.ids.next_id(), app_id=app["id"], account_id=old.account_id, scopes=scopes
        )
    await forget_revoked(res, [old.token_id])
    return issued


async def revoke(res: Resources, app: asyncpg.Record, token: str | None) -> None:
    """RFC 7009: unknown tokens are fine (200); another application's token is not this client's to revoke."""
    if not token:
        raise oauth_error(400, "invalid_request", "The token to revoke is required.")
    revoked = await token_store.revoke_for_app(res.db, token, app["id"])
    if revoked == []:
        raise oauth_error(403, "unauthorized_client", "You are not authorized to revoke this token")
    if revoked:
        await forget_revoked(res, revoked)


async def find_grant(res: Resources, token: str) -> TokenGrant | None:
    """What a live access token grants: from this process's token cache, else PostgreSQL (then cached)."""
    key = token_store.hash_secret(token)
    grant = res.tokens.get(key)
    if grant is not None:
        return grant
    generation = res.tokens.generation
    grant = await token_store.find_token(res.db, token)
    if grant is not None:
        res.tokens.put(key, grant, generation)
    return grant


async def forget_revoked(res: Resources, token_ids: Sequence[int]) -> None:
    """After the revoking transaction has committed: drop the tokens from this process's cache at once and
    tell every other API process to. If Valkey cannot take the message, the revocation still stands
    (PostgreSQL holds it) and other processes' caches let go of the token within CHIRP_TOKEN_CACHE_SECONDS."""
    res.tokens.evict_ids(token_ids)
    try:
        async with asyncio.timeout(PUBLISH_TIMEOUT):
            await token_store.publish_revoked(res.redis, token_ids)
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning("could not announce revoked tokens %s: %s", list(token_ids), exc)


# Authorization codes ---------------------------------------------------------------------------------


def check_code_challenge(challenge: str | None, method: str | None) -> tuple[str | None, str | None]:
    """The PKCE parameters of an authorization request: none, or an S256 challenge (plain is not accepted)."""
    if not challenge:
        if method:
            raise oauth_error(400, "invalid_request", "code_challenge_method without code_challenge.")
        return None, None
    if method != "S256":
        raise oauth_error(400, "invalid_request", "Only the S256 code_challenge_method is supported.")
    if not 43 <= len(challenge) <= 128:
        raise oauth_error(400, "invalid_request", "The code_challenge is malformed.")
    return challenge, method


async def create_authorization_code(
    res: Resources,
    app: asyncpg.Record,
    *,
    account_id: int,
    redirect_uri: str,
    scopes: Sequence[str],
    code_challenge: str | None,
    code_challenge_method: str | None,
) -> str:
    code = secrets.token_urlsafe(32)
    await token_store.insert_code(
        res.db,
        code,
        app_id=app["id"],
        account_id=account_id,
        redirect_uri=redirect_uri,
        scopes=scopes,
        code_challenge=code_challenge,
        code_challenge_method=code_challenge_method,
        ttl_seconds=CODE_TTL_SECONDS,
    )
    return code
