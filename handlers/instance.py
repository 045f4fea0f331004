"""What clients ask for when they start: the instance (v1 and v2), its documents (rules, about, privacy policy,
terms), its activity, peers and translation languages, its custom emojis, and its thumbnail."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from api.auth import optional_viewer
from api.http import json_response, public_origin
from api.keys import RESOURCES
from api.openapi import array, errors, nullable, obj, ok, operation, ref
from core.errors import ApiError
from domain import instance

routes = web.RouteTableDef()


def _addresses(request: web.Request) -> dict[str, str]:
    """The instance's domain and origin, and the streaming URL on the same host (CHIRP_PUBLIC_URL's when set)."""
    origin = public_origin(request)
    secure = request.secure or origin.startswith("https:")
    domain = urlsplit(origin).netloc
    return {"domain": domain, "origin": origin, "streaming": f"{'wss' if secure else 'ws'}://{domain}"}


async def instance_v1(request: web.Request) -> web.Response:
    await optional_viewer(request, None)  # a bad token is still a 401
    res = request.app[RESOURCES]
    stats = await instance.instance_stats(res)
    return json_response(instance.instance_v1(res.settings, stats, **_addresses(request)))


async def instance_v2(request: web.Request) -> web.Response:
    await optional_viewer(request, None)
    res = request.app[RESOURCES]
    stats = await instance.instance_stats(res)
    return json_response(instance.instance_v2(res.settings, stats, **_addresses(request)))


# Mastodon.py asks with a trailing slash: api/slashes.py brings it here.
routes.get("/api/v1/instance")(instance_v1)
routes.get("/api/v2/instance")(instance_v2)


@routes.get("/api/v1/instance/rules")
async def rules(request: web.Request) -> web.Response:
    """The server's rules: Chirp's operator sets none."""
    return json_response([])


@routes.get("/api/v1/instance/extended_description")
async def extended_description(request: web.Request) -> web.Response:
    return json_response(instance.extended_description(request.app[RESOURCES].settings))


@routes.get("/api/v1/instance/privacy_policy")
async def privacy_policy(request: web.Request) -> web.Response:
    return json_response(instance.privacy_policy(request.app[RESOURCES].settings))


@routes.get("/api/v1/instance/terms_of_service")
async def terms_of_service(request: web.Request) -> web.Response:
    """As Mastodon answers when the operator has published no terms."""
    raise ApiError(404, "This server has no terms of service")


@routes.get("/api/v1/instance/translation_languages")
async def translation_languages(request: web.Request) -> web.Response:
    """No translation service: no language translates to any other."""
    return json_response({})


@routes.get("/api/v1/instance/peers")
async def peers(request: web.Request) -> web.Response:
    """Chirp does not federate, so it knows no other servers."""
    return json_response([])


@routes.get("/api/v1/instance/activity")
async def activity(request: web.Request) -> web.Response:
    return json_response(await instance.weekly_activity(request.app[RESOURCES]))


@routes.get("/thumbnail.png")
async def thumbnail(request: web.Request) -> web.Response:
    headers = {"Cache-Control": "public, max-age=86400"}
    return web.Response(body=instance.thumbnail_png(), content_type="image/png", headers=headers)


@routes.get("/api/v1/custom_emojis")
async def custom_emojis(request: web.Request) -> web.Response:
    """Chirp has no custom emojis; clients fetch the list at start, so it answers with an empty one."""
    return json_response([])


# OpenAPI ---------------------------------------------------------------------------------------------

_STRING = {"type": "string"}
_INT = {"type": "integer"}
_BOOL = {"type": "boolean"}

_ACCESS = {"type": "string", "enum": ["public", "authenticated", "disabled"]}
_DOCUMENT = obj({"updated_at": {"type": "string", "format": "date-time"}, "content": {"type": "string"}})
_STATUSES = obj({"max_characters": _INT, "max_media_attachments": _INT, "characters_reserved_per_url": _INT})
_MEDIA = obj(
    {
        "supported_mime_types": {"type": "array", "items": _STRING},
        "description_limit": _INT,
        "image_size_limit": _INT,
        "image_matrix_limit": _INT,
        "video_size_limit": _INT,
        "video_frame_rate_limit": _INT,
        "video_matrix_limit": _INT,
    }
)
_POLLS = obj({"max_options": _INT, "max_characters_per_option": _INT, "min_expiration": _INT, "max_expiration": _INT})
_ACCOUNTS = obj({"max_featured_tags": _INT, "max_pinned_statuses": _INT})
_REACTIONS = obj(
    {
        "max_reactions": _INT,
        "names": {"type": "array", "items": _STRING, "description": "Chirp: the reactions a post accepts"},
    }
)

OPENAPI_COMPONENTS: dict[str, Any] = {
    "InstanceV1": obj(
        {
            "uri": _STRING,
            "title": _STRING,
            "short_description": _STRING,
            "description": _STRING,
            "email": _STRING,
            "version": {"type": "string", "description": "`4.5.0 (compatible; Chirp x.y.z)`"},
            "urls": obj({"streaming_api": _STRING}),
            "stats": obj({"user_count": _INT, "status_count": _INT, "domain_count": _INT}),
            "thumbnail": nullable(_STRING),
            "languages": array(_STRING),
            "registrations": _BOOL,
            "approval_required": _BOOL,
            "invites_enabled": _BOOL,
            "configuration": obj(
                {
                    "accounts": _ACCOUNTS,
                    "statuses": _STATUSES,
                    "media_attachments": _MEDIA,
                    "polls": _POLLS,
                    "reactions": _REACTIONS,
                }
            ),
            "contact_account": nullable(ref("Account")),
            "rules": array(obj({"id": _STRING, "text": _STRING})),
        },
        description="Mastodon's V1::Instance (deprecated by Mastodon, still read by many clients).",
    ),
    "Instance": obj(
        {
            "domain": _STRING,
            "title": _STRING,
            "version": _STRING,
            "source_url": _STRING,
            "description": _STRING,
            "usage": obj({"users": obj({"active_month": _INT})}),
            "thumbnail": obj(
                {"url": _STRING, "blurhash": nullable(_STRING), "versions": {"type": "object"}}, required=["url"]
            ),
            "icon": array(obj({"src": _STRING, "size": _STRING})),
            "languages": array(_STRING),
            "configuration": obj(
                {
                    "urls": obj(
                        {
                            "streaming": _STRING,
                            "status": nullable(_STRING),
                            "about": _STRING,
                            "privacy_policy": nullable(_STRING),
                            "terms_of_service": nullable(_STRING),
                        }
                    ),
                    "vapid": obj({"public_key": _STRING}),
                    "accounts": _ACCOUNTS,
                    "statuses": _STATUSES,
                    "media_attachments": _MEDIA,
                    "polls": _POLLS,
                    "reactions": _REACTIONS,
                    "translation": obj({"enabled": _BOOL}),
                    "limited_federation": _BOOL,
                    "timelines_access": obj(
                        {
                            name: obj({"local": _ACCESS, "remote": _ACCESS})
                            for name in ("live_feeds", "hashtag_feeds", "trending_link_feeds")
                        }
                    ),
                }
            ),
            "registrations": obj(
                {
                    "enabled": _BOOL,
                    "approval_required": _BOOL,
                    "reason_required": _BOOL,
                    "message": nullable(_STRING),
                    "min_age": nullable(_INT),
                    "url": nullable(_STRING),
                }
            ),
            "api_versions": obj({"mastodon": _INT}),
            "contact": obj({"email": _STRING, "account": nullable(ref("Account"))}),
            "rules": array(obj({"id": _STRING, "text": _STRING})),
        },
        description="Mastodon's Instance (v2).",
    ),
    "Rule": obj({"id": _STRING, "text": _STRING, "hint": _STRING}),
    "ExtendedDescription": _DOCUMENT,
    "PrivacyPolicy": _DOCUMENT,
}

_V1 = operation("Server information (v1)", {"200": ok(ref("InstanceV1")), **errors(401)}, tags=["instance"])
_V2 = operation("Server information", {"200": ok(ref("Instance")), **errors(401)}, tags=["instance"])

_TAGS = ["instance"]


def _get(summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    return {"get": operation(summary, responses, tags=_TAGS)}


_WEEK = obj({name: _STRING for name in ("week", "statuses", "logins", "registrations")})

OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/instance": {"get": _V1},
    "/api/v2/instance": {"get": _V2},
    "/api/v1/instance/rules": _get("The server's rules (none)", {"200": ok(array(ref("Rule")))}),
    "/api/v1/instance/extended_description": _get(
        "The longer description of the server", {"200": ok(ref("ExtendedDescription"))}
    ),
    "/api/v1/instance/privacy_policy": _get("What the server stores", {"200": ok(ref("PrivacyPolicy"))}),
    "/api/v1/instance/terms_of_service": _get("Terms of service (none are published)", errors(404)),
    "/api/v1/instance/translation_languages": _get(
        "Languages posts can be translated between (none: no translation service)",
        {"200": ok({"type": "object", "additionalProperties": array(_STRING)})},
    ),
    "/api/v1/instance/peers": _get(
        "Servers this one has seen (none: Chirp does not federate)", {"200": ok(array(_STRING))}
    ),
    "/api/v1/instance/activity": _get(
        "Posts, sign-ins and sign-ups per week, the last 12 weeks, this week first", {"200": ok(array(_WEEK))}
    ),
    "/thumbnail.png": _get(
        "The server's thumbnail picture",
        {"200": {"description": "A PNG", "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}},
    ),
    "/api/v1/custom_emojis": {
        "get": operation(
            "Custom emojis (none)", {"200": ok(array(obj({"shortcode": _STRING, "url": _STRING})))}, tags=["instance"]
        )
    },
}
