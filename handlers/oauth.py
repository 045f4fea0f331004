"""OAuth 2 endpoints: tokens, revocation, the sign-in page of the authorization-code flow, and RFC 8414 metadata.

The sign-in page is plain server-rendered HTML: every value is escaped, there is no script, and the form
carries a CSRF token that must equal the one in a SameSite=Strict, HttpOnly cookie set with the form
(double submit), so another site cannot post it in the user's browser. It wears the web client's stylesheet
(web/style.css, with web/sign-in.css for its layout), says which app asks, and what each scope lets it do.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import unquote, urlencode

import asyncpg
from aiohttp import web

from api.client import client_address
from api.http import Params, json_response, public_origin, read_params
from api.keys import RESOURCES
from api.openapi import array, body, error_response, obj, ok, operation, query, ref
from core.errors import ApiError
from domain import accounts as account_domain
from domain import oauth
from handlers import web_client
from storage import accounts as account_store
from storage import apps as app_store

routes = web.RouteTableDef()

CSRF_COOKIE = "chirp_oauth_csrf"
CSRF_MAX_AGE = 1800
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _client_credentials(request: web.Request, params: Params) -> tuple[str | None, str | None]:
    """client_id and client_secret from HTTP Basic (RFC 6749 §2.3.1) or from the request body."""
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic" and encoded:
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise oauth.oauth_error(401, "invalid_client", "Malformed HTTP Basic credentials.") from None
        client_id, _, client_secret = decoded.partition(":")
        return unquote(client_id), unquote(client_secret)
    return params.text("client_id"), params.text("client_secret")


_SINGLE_VALUED = (
    "grant_type",
    "client_id",
    "client_secret",
    "username",
    "password",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "token",
)


async def _oauth_params(request: web.Request) -> Params:
    """The parameters of a token or revoke request; a malformed request is RFC 6749's `invalid_request`."""
    try:
        params = await read_params(request)
        for name in _SINGLE_VALUED:
            params.text(name)
    except ApiError as exc:
        if "error_description" in exc.extra or exc.status == 413:
            raise
        raise oauth.oauth_error(400, "invalid_request", exc.message) from None
    return params


@routes.post("/oauth/token")
async def token(request: web.Request) -> web.Response:
    params = await _oauth_params(request)
    grant_type = params.text("grant_type")
    if not grant_type:
        raise oauth.oauth_error(400, "invalid_request", "The grant_type parameter is required.")
    if grant_type not in oauth.GRANT_TYPES:
        raise oauth.oauth_error(400, "unsupported_grant_type", f"The grant type {grant_type!r} is not supported.")
    res = request.app[RESOURCES]
    app = await oauth.authenticate_client(res, *_client_credentials(request, params))
    scope = " ".join(params.strings("scope")) or None
    if grant_type == "client_credentials":
        issued = await oauth.client_credentials_grant(res, app, scope)
    elif grant_type == "password":
        issued = await oauth.password_grant(
            res, app, params.text("username"), params.text("password"), scope, ip=client_address(request)
        )
    elif grant_type == "authorization_code":
        issued = await oauth.authorization_code_grant(
            res, app, params.text("code"), params.text("redirect_uri"), params.text("code_verifier")
        )
    else:
        issued = await oauth.refresh_grant(res, app, params.text("refresh_token"), scope)
    return json_response(oauth.token_entity(issued), headers=_NO_STORE)


@routes.post("/oauth/revoke")
async def revoke(request: web.Request) -> web.Response:
    params = await _oauth_params(request)
    res = request.app[RESOURCES]
    app = await oauth.authenticate_client(res, *_client_credentials(request, params))
    await oauth.revoke(res, app, params.text("token"))
    return json_response({})


@routes.get("/.well-known/oauth-authorization-server")
async def authorization_server_metadata(request: web.Request) -> web.Response:
    """RFC 8414 metadata; Mastodon.py reads grant_types_supported to decide whether password sign-in exists."""
    origin = public_origin(request)
    return json_response(
        {
            "issuer": f"{origin}/",
            "service_documentation": "https://docs.joinmastodon.org/",
            "authorization_endpoint": f"{origin}/oauth/authorize",
            "token_endpoint": f"{origin}/oauth/token",
            "revocation_endpoint": f"{origin}/oauth/revoke",
            "app_registration_endpoint": f"{origin}/api/v1/apps",
            "scopes_supported": list(oauth.ALL_SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": list(oauth.GRANT_TYPES),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
        }
    )


# The sign-in page ------------------------------------------------------------------------------------

_PAGE_HEADERS = {
    # No form-action: Chromium applies it to the redirect that follows the form, which goes to the app.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
STYLESHEETS = ("style.css", "sign-in.css")  # files of web/, served by the web client's asset route

# Each scope in words, for the person deciding whether to allow it.
SCOPE_WORDS: dict[str, str] = {
    "read": "See everything in your account: your timelines, posts, likes, follows, notifications and profile",
    "write": "Act as you: post, reply, like, repost, follow, upload media and change your profile",
    "follow": "See and change whom you follow, block and mute",
    "push": "Send you notifications through your device's push service",
    "profile": "See your profile (username, name and picture), and nothing else",
    "read:accounts": "See your profile and other people's",
    "read:blocks": "See whom you block",
    "read:bookmarks": "See your bookmarks",
    "read:favourites": "See the posts you like",
    "read:filters": "See your filters",
    "read:follows": "See whom you follow",
    "read:lists": "See your lists",
    "read:mutes": "See whom you mute",
    "read:notifications": "See your notifications",
    "read:search": "Search as you",
    "read:statuses": "See posts, including private ones shown to you",
    "write:accounts": "Change your profile and settings",
    "write:blocks": "Block and unblock people",
    "write:bookmarks": "Bookmark posts",
    "write:conversations": "Mute and delete your conversations",
    "write:favourites": "Like posts and react to them",
    "write:filters": "Create and change filters",
    "write:follows": "Follow and unfollow people",
    "write:lists": "Create and change lists",
    "write:media": "Upload pictures and videos",
    "write:mutes": "Mute and unmute people",
    "write:notifications": "Dismiss your notifications",
    "write:reports": "Report people and posts",
    "write:statuses": "Post, reply, repost and delete your posts",
    "admin:read": "See the server's reports and accounts as a moderator (if you are one)",
    "admin:write": "Act as a moderator: resolve reports, warn, limit, suspend and reinstate accounts",
    "admin:read:accounts": "See accounts as a moderator",
    "admin:read:reports": "See reports as a moderator",
    "admin:write:accounts": "Warn, limit, suspend and reinstate accounts",
    "admin:write:reports": "Assign, resolve and reopen reports",
    # Mastodon's other admin scopes: accepted, though Chirp (which does not federate) has nothing behind them.
    **{
        f"admin:{mode}:{name}": f"{'See' if mode == 'read' else 'Change'} the server's {name.replace('_', ' ')}"
        for mode in ("read", "write")
        for name in ("domain_allows", "domain_blocks", "ip_blocks", "email_domain_blocks", "canonical_email_blocks")
    },
}


def scope_list(scopes: tuple[str, ...]) -> str:
    """The scopes as a list in words, each with its name for those who know them."""
    items = "".join(
        f"<li>{escape(SCOPE_WORDS.get(scope, scope))} <code>{escape(scope)}</code></li>" for scope in scopes
    )
    return f'<ul class="scopes">{items}</ul>'


def _stylesheets() -> str:
    """The web client's stylesheets and icon, at their content-hashed addresses."""
    version = web_client.bundle().version
    links = "".join(f'<link rel="stylesheet" href="/assets/{version}/{name}">' for name in STYLESHEETS)
    return f'{links}<link rel="icon" href="/assets/{version}/icon.svg" type="image/svg+xml">'


def _page(
    title: str, content: str, *, status: int = 200, cookie: str | None = None, secure: bool = False
) -> web.Response:
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>{_stylesheets()}</head>"
        '<body><main class="sign-in">'
        '<p class="brand"><span class="brand-mark" aria-hidden="true">✦</span><span class="brand-name">Chirp</span></p>'
        f"<h1>{escape(title)}</h1>{content}</main></body></html>"
    )
    response = web.Response(text=html, status=status, content_type="text/html", headers=_PAGE_HEADERS)
    if cookie is not None:
        response.set_cookie(
            CSRF_COOKIE,
            cookie,
            max_age=CSRF_MAX_AGE,
            path="/oauth/authorize",
            httponly=True,
            samesite="Strict",
            secure=secure,
        )
    return response


@dataclass(frozen=True)
class AuthorizationRequest:
    """An authorization request whose client and redirect URI check out (errors before that are shown, not sent)."""

    app: asyncpg.Record
    redirect_uri: str
    scope: str
    state: str
    code_challenge: str
    code_challenge_method: str
    response_type: str

    def hidden_fields(self) -> str:
        fields = {
            "client_id": self.app["client_id"],
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": self.state,
            "code_challenge": self.code_challenge,
            "code_challenge_method": self.code_challenge_method,
            "response_type": self.response_type,
        }
        return "".join(f'<input type="hidden" name="{name}" value="{escape(value)}">' for name, value in fields.items())


class PageError(Exception):
    """A problem to show on the page itself, because the redirect URI cannot be trusted with it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def _authorization_request(request: web.Request, params: Params) -> AuthorizationRequest:
    res = request.app[RESOURCES]
    client_id = params.text("client_id") or ""
    app = await app_store.find_app_by_client_id(res.db, client_id) if client_id else None
    if app is None:
        raise PageError("This application is not known here. Check the link you followed.")
    try:
        redirect_uri = oauth.find_redirect_uri(app, params.text("redirect_uri"))
    except ApiError:
        raise PageError("The redirect URI does not match the ones this application registered.") from None
    return AuthorizationRequest(
        app=app,
        redirect_uri=redirect_uri,
        scope=" ".join(params.strings("scope")) or "read",
        state=params.text("state") or "",
        code_challenge=params.text("code_challenge") or "",
        code_challenge_method=params.text("code_challenge_method") or "",
        response_type=params.text("response_type") or "",
    )


def _validated_grant(auth: AuthorizationRequest) -> tuple[tuple[str, ...], str | None, str | None]:
    """Scopes and PKCE parameters of a request, or the OAuth error (raised) to send back to the client."""
    if auth.response_type != "code":
        raise oauth.oauth_error(400, "unsupported_response_type", "Only response_type=code is supported.")
    scopes = oauth.narrow_scopes(auth.scope, auth.app["scopes"])
    challenge, method = oauth.check_code_challenge(auth.code_challenge or None, auth.code_challenge_method or None)
    return scopes, challenge, method


def _redirect_with(auth: AuthorizationRequest, values: dict[str, str]) -> web.Response:
    """Send the result to the client: a redirect, or for the oob URI a page showing it."""
    if auth.state:
        values = {**values, "state": auth.state}
    if auth.redirect_uri == oauth.OOB_REDIRECT:
        if "code" in values:
            content = (
                f'<p class="lead">You allowed <strong>{escape(auth.app["name"])}</strong> to use your account. '
                "Copy this code and paste it into the application to finish signing in.</p>"
                '<div class="field"><label for="code">Authorization code</label>'
                f'<input id="code" class="code" readonly value="{escape(values["code"])}" autofocus></div>'
                "<p>The code works once, within ten minutes. You can close this page afterwards.</p>"
            )
            return _page("Your authorization code", content)
        return _page(
            "Authorization failed",
            f'<p class="form-error" role="alert">{escape(values.get("error_description", ""))}</p>',
            status=400,
        )
    separator = "&" if "?" in auth.redirect_uri else "?"
    location = f"{auth.redirect_uri}{separator}{urlencode(values)}"
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


def _error_redirect(auth: AuthorizationRequest, error: ApiError) -> web.Response:
    return _redirect_with(
        auth, {"error": error.message, "error_description": str(error.extra.get("error_description", ""))}
    )


def _sign_in_form(
    request: web.Request, auth: AuthorizationRequest, scopes: tuple[str, ...], *, error: str = ""
) -> web.Response:
    csrf = secrets.token_urlsafe(32)
    notice = f'<p class="form-error" role="alert">{escape(error)}</p>' if error else ""
    name = escape(auth.app["name"])
    content = (
        f'<p class="lead"><strong class="app-name">{name}</strong> wants to use your account.</p>'
        f'<section aria-labelledby="scopes-title"><h2 id="scopes-title">If you allow it, {name} can:</h2>'
        f"{scope_list(scopes)}</section>"
        '<form method="post" action="/oauth/authorize">'
        f'<input type="hidden" name="csrf_token" value="{csrf}">{auth.hidden_fields()}'
        '<div class="field"><label for="username">Username or e-mail address</label>'
        '<input id="username" name="username" autocomplete="username" required autofocus></div>'
        '<div class="field"><label for="password">Password</label>'
        '<input id="password" name="password" type="password" autocomplete="current-password" required></div>'
        f"{notice}"
        '<div class="actions">'
        '<button type="submit" class="primary big" name="decision" value="approve">Sign in and allow</button>'
        '<button type="submit" class="link-button" name="decision" value="deny" formnovalidate>'
        "Cancel: do not allow</button>"
        "</div></form>"
    )
    secure = request.secure or public_origin(request).startswith("https:")
    title = f"Sign in to {request.app[RESOURCES].settings.instance_title}"
    return _page(title, content, status=401 if error else 200, cookie=csrf, secure=secure)


@routes.get("/oauth/authorize")
async def authorize_form(request: web.Request) -> web.Response:
    params = await read_params(request)
    try:
        auth = await _authorization_request(request, params)
    except PageError as exc:
        return _page("Cannot authorize", f'<p class="form-error" role="alert">{escape(exc.message)}</p>', status=400)
    try:
        scopes, _, _ = _validated_grant(auth)
    except ApiError as exc:
        return _error_redirect(auth, exc)
    return _sign_in_form(request, auth, scopes)


def _csrf_ok(request: web.Request, params: Params) -> bool:
    sent = params.text("csrf_token") or ""
    kept = request.cookies.get(CSRF_COOKIE, "")
    return bool(sent) and hmac.compare_digest(sent.encode(), kept.encode())


@routes.post("/oauth/authorize")
async def authorize(request: web.Request) -> web.Response:
    params = await read_params(request)
    try:
        auth = await _authorization_request(request, params)
    except PageError as exc:
        return _page("Cannot authorize", f'<p class="form-error" role="alert">{escape(exc.message)}</p>', status=400)
    if not _csrf_ok(request, params):
        return _page(
            "Cannot authorize",
            '<p class="form-error" role="alert">This sign-in form has expired or did not come from this site. '
            "Go back to the application and start again.</p>",
            status=403,
        )
    try:
        scopes, challenge, method = _validated_grant(auth)
    except ApiError as exc:
        return _error_redirect(auth, exc)
    if params.text("decision") == "deny":
        return _error_redirect(auth, oauth.oauth_error(400, "access_denied", "The user denied the request."))
    res = request.app[RESOURCES]
    try:
        account_id = await account_domain.check_password(
            res.db, params.text("username") or "", params.text("password") or ""
        )
    except account_domain.SignInBarred as exc:
        return _sign_in_form(request, auth, scopes, error=f"{exc}.")
    if account_id is None:
        return _sign_in_form(request, auth, scopes, error="That username or password is not right.")
    await account_store.note_sign_in(res.db, account_id, client_address(request))
    code = await oauth.create_authorization_code(
        res,
        auth.app,
        account_id=account_id,
        redirect_uri=auth.redirect_uri,
        scopes=scopes,
        code_challenge=challenge,
        code_challenge_method=method,
    )
    return _redirect_with(auth, {"code": code})


# OpenAPI ---------------------------------------------------------------------------------------------

_STRING = {"type": "string"}
_OAUTH_ERROR = {
    "description": "An OAuth error (RFC 6749 §5.2)",
    "content": {"application/json": {"schema": ref("OAuthError")}},
}
_CLIENT_FIELDS: dict[str, Any] = {
    "client_id": _STRING,
    "client_secret": {"type": "string", "description": "or send both with HTTP Basic authentication"},
}
_AUTHORIZE_QUERY = [
    query("response_type", {"type": "string", "const": "code"}, required=True),
    query("client_id", _STRING, required=True),
    query("redirect_uri", _STRING, required=True),
    query("scope", _STRING, description="space-separated; default `read`"),
    query("state", _STRING),
    query("code_challenge", _STRING, description="PKCE (RFC 7636), S256 only"),
    query("code_challenge_method", {"type": "string", "const": "S256"}),
]
_HTML = {"text/html": {"schema": {"type": "string"}}}
_OAUTH_ERRORS = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "invalid_scope",
    "unauthorized_client",
    "unsupported_grant_type",
    "unsupported_response_type",
    "access_denied",
]

OPENAPI_COMPONENTS: dict[str, Any] = {
    "OAuthError": obj(
        {
            "error": {"type": "string", "enum": _OAUTH_ERRORS},
            "error_description": _STRING,
        }
    ),
    "AuthorizationServerMetadata": obj(
        {
            "issuer": _STRING,
            "service_documentation": _STRING,
            "authorization_endpoint": _STRING,
            "token_endpoint": _STRING,
            "revocation_endpoint": _STRING,
            "app_registration_endpoint": _STRING,
            "scopes_supported": array(_STRING),
            "response_types_supported": array(_STRING),
            "response_modes_supported": array(_STRING),
            "grant_types_supported": array(_STRING),
            "token_endpoint_auth_methods_supported": array(_STRING),
            "revocation_endpoint_auth_methods_supported": array(_STRING),
            "code_challenge_methods_supported": array(_STRING),
        }
    ),
}

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/oauth/token": {
        "post": operation(
            "Obtain a token",
            {
                "200": ok(ref("Token")),
                "400": _OAUTH_ERROR,
                "401": _OAUTH_ERROR,
                "429": error_response("Too many requests"),
            },
            request_body=body(
                obj(
                    {
                        "grant_type": {"type": "string", "enum": list(oauth.GRANT_TYPES)},
                        **_CLIENT_FIELDS,
                        "scope": {"type": "string", "description": "space-separated; default `read`"},
                        "username": {"type": "string", "description": "password grant: username or e-mail"},
                        "password": _STRING,
                        "code": _STRING,
                        "redirect_uri": _STRING,
                        "code_verifier": _STRING,
                        "refresh_token": _STRING,
                    },
                    required=["grant_type"],
                )
            ),
            tags=["oauth"],
            description="The refresh_token grant rotates: the old access and refresh tokens stop working.",
        )
    },
    "/oauth/revoke": {
        "post": operation(
            "Revoke a token",
            {"200": ok(obj({}), "Revoked, or unknown"), "400": _OAUTH_ERROR, "401": _OAUTH_ERROR, "403": _OAUTH_ERROR},
            request_body=body(obj({**_CLIENT_FIELDS, "token": _STRING}, required=["token"])),
            tags=["oauth"],
        )
    },
    "/oauth/authorize": {
        "get": operation(
            "The sign-in page of the authorization-code flow",
            {
                "200": {"description": "The sign-in form", "content": _HTML},
                "302": {"description": "An OAuth error sent back to the redirect URI"},
                "400": {"description": "Unknown client or redirect URI", "content": _HTML},
            },
            parameters=_AUTHORIZE_QUERY,
            tags=["oauth"],
        ),
        "post": operation(
            "Sign in and authorize",
            {
                "200": {"description": "The code, for the out-of-band redirect URI", "content": _HTML},
                "302": {"description": "Redirect to the redirect URI with `code` (and `state`), or an error"},
                "400": {"description": "Unknown client or redirect URI", "content": _HTML},
                "401": {"description": "Wrong username or password: the form again", "content": _HTML},
                "403": {"description": "Missing or wrong CSRF token", "content": _HTML},
                "429": error_response("Too many requests"),
            },
            request_body={
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": obj(
                            {
                                "csrf_token": _STRING,
                                "username": _STRING,
                                "password": _STRING,
                                "decision": {"type": "string", "enum": ["approve", "deny"]},
                                **{p["name"]: p["schema"] for p in _AUTHORIZE_QUERY},
                            },
                            required=["csrf_token", "client_id"],
                        )
                    }
                },
            },
            tags=["oauth"],
        ),
    },
    "/.well-known/oauth-authorization-server": {
        "get": operation(
            "OAuth authorization server metadata (RFC 8414)",
            {"200": ok(ref("AuthorizationServerMetadata"))},
            tags=["oauth"],
        )
    },
}
