"""Accounts: registration, the signed-in user's own account and preferences, and looking accounts up."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from api.auth import optional_viewer, require_user, require_viewer
from api.http import Params, json_response, public_origin, read_params
from api.keys import RESOURCES
from api.openapi import array, body, errors, nullable, obj, ok, operation, path, query, ref
from core.errors import ApiError, FieldInvalid, validation_error
from core.ids import parse_id
from domain import accounts as account_domain
from domain import follow_requests as request_domain
from domain.oauth import token_entity
from storage import accounts as account_store
from storage.resources import Resources

routes = web.RouteTableDef()

_LANGUAGE = re.compile(r"^[a-z]{2,3}$")

# Static paths first: `/api/v1/accounts/{id}` only matches digits, so other modules' routes under
# /api/v1/accounts/ (relationships, search, ...) never reach it.


@routes.post("/api/v1/accounts")
async def register(request: web.Request) -> web.Response:
    """Sign up with an application's token; answers with a token for the new account."""
    viewer = await require_viewer(request, "write:accounts")
    username, email, password, agreement = _registration(await read_params(request))
    issued = await account_domain.register_account(
        request.app[RESOURCES],
        app_id=viewer.app_id,
        scopes=tuple(sorted(viewer.scopes)),
        username=username,
        email=email,
        password=password,
        agreement=agreement,
    )
    return json_response(token_entity(issued), headers={"Cache-Control": "no-store"})


def _registration(params: Params) -> tuple[str, str, str, bool]:
    """The sign-up fields; a field the parser refuses (a NUL, a list) is answered as every registration
    problem is, in Mastodon's shape with `details` (one 422 naming each refused field)."""
    errors = account_domain.FieldErrors()
    texts: dict[str, str] = {}
    for name in ("username", "email", "password"):
        try:
            texts[name] = params.text(name) or ""
        except FieldInvalid as exc:
            errors.add(exc.field, "ERR_INVALID", exc.problem)
    agreement = False
    try:
        agreement = params.boolean("agreement")
    except FieldInvalid as exc:
        errors.add(exc.field, "ERR_INVALID", exc.problem)
    errors.raise_if_any()
    return texts["username"], texts["email"], texts["password"], agreement


@routes.get("/api/v1/accounts/verify_credentials")
async def verify_credentials(request: web.Request) -> web.Response:
    user = await require_user(request, ("read:accounts", "profile"))
    res = request.app[RESOURCES]
    row = await account_store.get_credential_account(res.db, user.account_id)
    if row is None:
        raise ApiError(401, "The access token is invalid")
    return await _credential_account(res, row)


async def _credential_account(res: Resources, row: Mapping[str, Any]) -> web.Response:
    waiting = await request_domain.pending_count(res, int(row["id"]))
    return json_response(account_domain.credential_account_entity(row, res.settings, follow_requests_count=waiting))


_FIELD_KEY = re.compile(r"^fields_attributes\[(\d{1,3})\]\[(name|value)\]$")


def _field_text(value: Any, where: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise validation_error(where, "must be a string")
    text = str(value).strip()
    if len(text) > limit:
        raise validation_error(where, f"is too long (maximum is {limit} characters)")
    return text


def _fields_attributes(params: Params) -> list[dict[str, str]] | None:
    """Profile fields from `fields_attributes[i][name|value]` (forms, JSON objects keyed by index) or a
    JSON list of {name, value}; None when not given. Pairs left wholly blank are dropped, as in Mastodon."""
    given: dict[int, dict[str, Any]] = {}
    for key in params.names():
        match = _FIELD_KEY.match(key)
        if match:
            given.setdefault(int(match.group(1)), {})[match.group(2)] = params.raw(key)
    listed = params.values("fields_attributes")
    if not given and not listed:
        return None if "fields_attributes" not in params else []
    for index, item in enumerate(listed, start=len(given)):
        if not isinstance(item, dict):
            raise validation_error("fields_attributes", "must be a list of objects with name and value")
        given[index] = item
    fields: list[dict[str, str]] = []
    for index in sorted(given):
        item = given[index]
        where = f"fields_attributes[{index}]"
        name = _field_text(item.get("name"), f"{where}[name]", account_domain.FIELD_NAME_MAX)
        value = _field_text(item.get("value"), f"{where}[value]", account_domain.FIELD_VALUE_MAX)
        if not name and not value:
            continue
        if not name:
            raise validation_error(f"{where}[name]", "can't be blank")
        fields.append({"name": name, "value": value})
    if len(fields) > account_domain.FIELDS_MAX:
        raise validation_error("fields_attributes", f"has too many fields (maximum is {account_domain.FIELDS_MAX})")
    return fields


def _profile_changes(params: Params) -> dict[str, Any]:
    """The profile fields present in the request, validated; absent ones stay as they are."""
    changes: dict[str, Any] = {}
    if "display_name" in params:
        display_name = params.text("display_name") or ""
        if len(display_name.strip()) > account_domain.DISPLAY_NAME_MAX:
            raise validation_error(
                "display_name", f"is too long (maximum is {account_domain.DISPLAY_NAME_MAX} characters)"
            )
        changes["display_name"] = display_name.strip()
    if "note" in params:
        changes["note"] = params.text("note", max_length=account_domain.NOTE_MAX) or ""
    fields = _fields_attributes(params)
    if fields is not None:
        changes["fields"] = fields
    for flag in ("bot", "locked", "discoverable"):
        if flag in params:
            changes[flag] = params.boolean(flag)
    if "source[privacy]" in params:
        changes["default_privacy"] = params.choice("source[privacy]", account_domain.PRIVACY_CHOICES, default="public")
    if "source[sensitive]" in params:
        changes["default_sensitive"] = params.boolean("source[sensitive]")
    if "source[language]" in params:
        language = (params.text("source[language]") or "").strip().lower() or None
        if language is not None and not _LANGUAGE.match(language):
            raise validation_error("source[language]", "must be an ISO 639 language code")
        changes["default_language"] = language
    return changes


@routes.patch("/api/v1/accounts/update_credentials")
async def update_credentials(request: web.Request) -> web.Response:
    user = await require_user(request, "write:accounts")
    changes = _profile_changes(await read_params(request))
    res = request.app[RESOURCES]
    row = await account_domain.update_profile(res, user.account_id, changes)
    if changes.get("locked") is False:
        await request_domain.authorize_all(res, user.account_id)
    return await _credential_account(res, row)


@routes.get("/api/v1/accounts/lookup")
async def lookup(request: web.Request) -> web.Response:
    """An account by `acct`: `alice`, `@alice` or `alice@this.domain` (Chirp does not federate)."""
    await optional_viewer(request, "read:accounts")
    params = await read_params(request)
    acct = params.required_text("acct", max_length=300).strip().lstrip("@")
    username, _, domain = acct.partition("@")
    origin = urlsplit(public_origin(request))
    if domain and domain.lower() not in {origin.netloc.lower(), (origin.hostname or "").lower()}:
        raise ApiError(404)
    res = request.app[RESOURCES]
    row = await account_store.find_by_username(res.db, username)
    if row is None:
        raise ApiError(404)
    return json_response(account_domain.account_entity(row, res.settings))


@routes.get(r"/api/v1/accounts/{id:\d+}")
async def get_account(request: web.Request) -> web.Response:
    viewer = await optional_viewer(request, "read:accounts")
    account_id = parse_id(request.match_info["id"])
    res = request.app[RESOURCES]
    reader = await res.reader(viewer.account_id if viewer else None)  # a profile tolerates a little lag
    row = await account_store.get_account(reader, account_id) if account_id is not None else None
    if row is None:
        raise ApiError(404)
    return json_response(account_domain.account_entity(row, res.settings))


@routes.get("/api/v1/preferences")
async def preferences(request: web.Request) -> web.Response:
    user = await require_user(request, "read:accounts")
    row = await account_store.get_credential_account(request.app[RESOURCES].db, user.account_id)
    if row is None:
        raise ApiError(401, "The access token is invalid")
    return json_response(account_domain.preferences_entity(row))


@routes.get("/avatars/original/missing.png")
@routes.get("/headers/original/missing.png")
async def default_image(request: web.Request) -> web.Response:
    """The picture an account without its own avatar or header shows (its entity links here)."""
    kind = request.path.split("/", 2)[1]
    headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    return web.Response(body=account_domain.default_image(kind), content_type="image/png", headers=headers)


# OpenAPI ---------------------------------------------------------------------------------------------

_STRING = {"type": "string"}
_BOOL = {"type": "boolean"}
_INT = {"type": "integer"}
_URL = {"type": "string", "format": "uri"}

_ACCOUNT_PROPERTIES: dict[str, Any] = {
    "id": _STRING,
    "username": _STRING,
    "acct": _STRING,
    "display_name": _STRING,
    "locked": _BOOL,
    "bot": _BOOL,
    "group": _BOOL,
    "discoverable": nullable(_BOOL),
    "indexable": _BOOL,
    "noindex": nullable(_BOOL),
    "created_at": {"type": "string", "format": "date-time"},
    "note": {"type": "string", "description": "HTML"},
    "url": _URL,
    "uri": _URL,
    "avatar": _URL,
    "avatar_static": _URL,
    "header": _URL,
    "header_static": _URL,
    "followers_count": _INT,
    "following_count": _INT,
    "statuses_count": _INT,
    "last_status_at": nullable({"type": "string", "format": "date"}),
    "emojis": array({"type": "object"}),
    "fields": array(ref("Field")),
    "roles": array({"type": "object"}),
}

OPENAPI_COMPONENTS: dict[str, Any] = {
    "Field": obj(
        {
            "name": _STRING,
            "value": {"type": "string", "description": "HTML (plain text in source)"},
            "verified_at": nullable({"type": "string", "format": "date-time"}),
        }
    ),
    "Role": obj(
        {"id": _STRING, "name": _STRING, "permissions": _STRING, "color": _STRING, "highlighted": _BOOL},
        description="Mastodon's Role; Chirp accounts all have the role of everyone (id -99, no permissions).",
    ),
    "Account": obj(_ACCOUNT_PROPERTIES, description="Mastodon's Account entity."),
    "CredentialAccount": obj(
        {
            **_ACCOUNT_PROPERTIES,
            "source": obj(
                {
                    "privacy": {"type": "string", "enum": list(account_domain.PRIVACY_CHOICES)},
                    "sensitive": _BOOL,
                    "language": nullable(_STRING),
                    "note": {"type": "string", "description": "the bio as plain text"},
                    "fields": array(ref("Field")),
                    "follow_requests_count": _INT,
                    "discoverable": nullable(_BOOL),
                    "hide_collections": nullable(_BOOL),
                    "indexable": _BOOL,
                    "attribution_domains": array(_STRING),
                }
            ),
            "role": ref("Role"),
        },
        description="The signed-in user's own Account, with `source`.",
    ),
    "Token": obj(
        {
            "access_token": _STRING,
            "token_type": {"type": "string", "const": "Bearer"},
            "scope": {"type": "string", "description": "space-separated scopes"},
            "created_at": {"type": "integer", "description": "UNIX time"},
            "refresh_token": _STRING,
        }
    ),
    "RegistrationError": obj(
        {
            "error": _STRING,
            "details": {
                "type": "object",
                "additionalProperties": array(obj({"error": _STRING, "description": _STRING})),
                "description": "per field: ERR_BLANK, ERR_INVALID, ERR_TAKEN, ERR_RESERVED, ERR_TOO_SHORT, ...",
            },
        }
    ),
    "Preferences": obj(
        {
            "posting:default:visibility": {"type": "string", "enum": list(account_domain.PRIVACY_CHOICES)},
            "posting:default:sensitive": _BOOL,
            "posting:default:language": nullable(_STRING),
            "reading:expand:media": {"type": "string", "enum": ["default", "show_all", "hide_all"]},
            "reading:expand:spoilers": _BOOL,
            "reading:autoplay:gifs": _BOOL,
        }
    ),
}

_REGISTRATION_BODY = obj(
    {
        "username": {"type": "string", "pattern": "^[A-Za-z0-9_]{1,30}$"},
        "email": {"type": "string", "format": "email"},
        "password": {"type": "string", "minLength": 8, "maxLength": 72},
        "agreement": _BOOL,
        "locale": _STRING,
        "reason": _STRING,
    },
    required=["username", "email", "password", "agreement"],
)

_PROFILE_BODY = obj(
    {
        "display_name": {"type": "string", "maxLength": account_domain.DISPLAY_NAME_MAX},
        "note": {"type": "string", "maxLength": account_domain.NOTE_MAX},
        "bot": _BOOL,
        "locked": _BOOL,
        "discoverable": _BOOL,
        "source[privacy]": {"type": "string", "enum": list(account_domain.PRIVACY_CHOICES)},
        "source[sensitive]": _BOOL,
        "source[language]": _STRING,
        "fields_attributes[0][name]": {"type": "string", "maxLength": account_domain.FIELD_NAME_MAX},
        "fields_attributes[0][value]": {"type": "string", "maxLength": account_domain.FIELD_VALUE_MAX},
        "fields_attributes": array(obj({"name": _STRING, "value": _STRING}, required=["name"])),
    },
    required=[],
    description=(
        "JSON may nest `source` as an object instead of `source[...]` keys. Profile fields (at most "
        f"{account_domain.FIELDS_MAX}) as `fields_attributes[i][name]`/`[value]` (i = 0..3) or a JSON list; "
        "the fields given replace all of them."
    ),
)

_TAGS = ("accounts",)


def _default_image(what: str) -> dict[str, Any]:
    png = {"image/png": {"schema": {"type": "string", "format": "binary"}}}
    return {"get": operation(f"The default {what} (PNG)", {"200": {"description": "PNG", "content": png}}, tags=_TAGS)}


OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/avatars/original/missing.png": _default_image("avatar"),
    "/headers/original/missing.png": _default_image("header"),
    "/api/v1/accounts": {
        "post": operation(
            "Register an account",
            {
                "200": ok(ref("Token"), "A token for the new account"),
                "422": {
                    "description": "Validation failed",
                    "content": {"application/json": {"schema": ref("RegistrationError")}},
                },
                **errors(401, 403, 429),
            },
            scopes=["write:accounts"],
            request_body=body(_REGISTRATION_BODY),
            tags=_TAGS,
            description="Needs an application token (client_credentials). Limited per IP address.",
        )
    },
    "/api/v1/accounts/verify_credentials": {
        "get": operation(
            "The signed-in user's account",
            {"200": ok(ref("CredentialAccount")), **errors(401, 403, 422)},
            scopes=["read:accounts", "profile"],
            tags=_TAGS,
        )
    },
    "/api/v1/accounts/update_credentials": {
        "patch": operation(
            "Update the signed-in user's profile",
            {"200": ok(ref("CredentialAccount")), **errors(401, 403, 422)},
            scopes=["write:accounts"],
            request_body=body(_PROFILE_BODY, required=False),
            tags=_TAGS,
        )
    },
    "/api/v1/accounts/lookup": {
        "get": operation(
            "Find an account by its acct",
            {"200": ok(ref("Account")), **errors(401, 403, 404, 422)},
            parameters=[query("acct", _STRING, required=True, description="username, @username or username@domain")],
            tags=_TAGS,
        )
    },
    "/api/v1/accounts/{id}": {
        "get": operation(
            "View an account",
            {"200": ok(ref("Account")), **errors(401, 403, 404)},
            parameters=[path("id")],
            tags=_TAGS,
        )
    },
    "/api/v1/preferences": {
        "get": operation(
            "The signed-in user's preferences",
            {"200": ok(ref("Preferences")), **errors(401, 403, 422)},
            scopes=["read:accounts"],
            tags=_TAGS,
        )
    },
}
