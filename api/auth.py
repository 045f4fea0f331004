"""Who is asking: bearer-token authentication and OAuth scope checks, called explicitly by each handler.

    viewer = await require_user(request, "write:statuses")   # 401 without a user token, 403 without the scope
    viewer = await optional_viewer(request)                  # None when signed out

A scope is granted by itself or by its parent (`write` grants `write:statuses`); the legacy `follow`
scope grants what Mastodon lets it: the follows, blocks and mutes sub-scopes. `profile` grants only
itself (verify_credentials accepts it: `require_user(request, ("read:accounts", "profile"))`).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from api.keys import RESOURCES
from core.errors import ApiError
from domain.oauth import find_grant, scope_covered


@dataclass(frozen=True)
class Viewer:
    """An authenticated caller: a user (account_id set) or an application acting as itself."""

    token_id: int
    account_id: int | None
    app_id: int | None
    scopes: frozenset[str]

    def has_scope(self, scope: str) -> bool:
        return scope_covered(scope, self.scopes)


# The caller, worked out once per request (several checks in one handler cost one token lookup).
_VIEWER_KEY: web.RequestKey[Viewer | None] = web.RequestKey("chirp.viewer")


def bearer_token(request: web.Request) -> str | None:
    """The token from `Authorization: Bearer`, or the `access_token` query parameter (streaming clients)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    token = request.query.get("access_token")
    return token or None


def known_viewer(request: web.Request) -> Viewer | None:
    """The caller, if the request has been authenticated already (None otherwise, or without a token)."""
    return request.get(_VIEWER_KEY)


async def authenticate(request: web.Request, token: str | None = None) -> Viewer | None:
    """The caller behind the request's token; None without a token. 401 for a token that is not valid."""
    if _VIEWER_KEY in request:
        return request[_VIEWER_KEY]
    token = token or bearer_token(request)
    viewer: Viewer | None = None
    if token is not None:
        grant = await find_grant(request.app[RESOURCES], token)
        if grant is None:
            raise ApiError(401, "The access token is invalid")
        viewer = Viewer(grant.token_id, grant.account_id, grant.app_id, frozenset(grant.scopes))
    request[_VIEWER_KEY] = viewer
    return viewer


# One scope, or a tuple of scopes any one of which will do (`("read:accounts", "profile")`).
ScopeRule = str | tuple[str, ...] | None


def _check_scope(viewer: Viewer, scope: ScopeRule) -> None:
    if scope is None:
        return
    wanted = (scope,) if isinstance(scope, str) else scope
    if not any(viewer.has_scope(one) for one in wanted):
        raise ApiError(403, "This action is outside the authorized scopes")


async def require_viewer(request: web.Request, scope: ScopeRule = None) -> Viewer:
    """Any valid token, a user's or an application's."""
    viewer = await authenticate(request)
    if viewer is None:
        raise ApiError(401, "The access token is invalid")
    _check_scope(viewer, scope)
    return viewer


@dataclass(frozen=True)
class User(Viewer):
    account_id: int


async def require_user(request: web.Request, scope: ScopeRule = None) -> User:
    """A token acting for a signed-in account, holding `scope`."""
    viewer = await require_viewer(request)
    if viewer.account_id is None:
        raise ApiError(422, "This method requires an authenticated user")
    _check_scope(viewer, scope)
    return User(viewer.token_id, viewer.account_id, viewer.app_id, viewer.scopes)


async def optional_viewer(request: web.Request, scope: ScopeRule = "read") -> Viewer | None:
    """The signed-in caller when there is one, else None; a present but bad token is still a 401."""
    viewer = await authenticate(request)
    if viewer is not None:
        _check_scope(viewer, scope)
    return viewer
