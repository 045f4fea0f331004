"""Discovery as other software looks for a server: WebFinger (who `@alice@host` is), NodeInfo (what software
runs here and how busy it is) and host-meta (where WebFinger is). Chirp does not federate, so a WebFinger
answer links only the profile page and NodeInfo lists no protocols."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import quoteattr

import orjson
from aiohttp import web

from api.http import json_response, public_origin, read_params
from api.keys import RESOURCES
from api.openapi import array, errors, obj, ok, operation, path, query
from core.errors import ApiError, validation_error
from domain import instance
from storage import accounts as account_store

routes = web.RouteTableDef()

PROFILE_PAGE = "http://webfinger.net/rel/profile-page"
JRD = "application/jrd+json"


def _username(resource: str, request: web.Request) -> str | None:
    """The local username a WebFinger resource names (`acct:alice@host`, `alice@host`, or a profile URL),
    or None when it names someone elsewhere."""
    origin = public_origin(request)
    domain = urlsplit(origin).netloc.lower()
    if resource.startswith(("http://", "https://")):
        parts = urlsplit(resource)
        if parts.netloc.lower() != domain or not parts.path.startswith("/@"):
            return None
        return parts.path[2:].rstrip("/") or None
    account = resource.removeprefix("acct:").lstrip("@")
    username, at, host = account.partition("@")
    if not username or (at and host.lower() != domain):
        return None
    return username


@routes.get("/.well-known/webfinger")
async def webfinger(request: web.Request) -> web.Response:
    params = await read_params(request)
    resource = (params.text("resource", max_length=500) or "").strip()
    if not resource:
        raise validation_error("resource", "can't be blank")
    username = _username(resource, request)
    row = await account_store.find_by_username(request.app[RESOURCES].db, username) if username else None
    if row is None:
        raise ApiError(404, "Record not found")
    origin = public_origin(request)
    profile = f"{origin}/@{row['username']}"
    document = {
        "subject": f"acct:{row['username']}@{urlsplit(origin).netloc}",
        "aliases": [profile],
        "links": [{"rel": PROFILE_PAGE, "type": "text/html", "href": profile}],
    }
    return web.Response(body=orjson.dumps(document), content_type=JRD)


@routes.get("/.well-known/nodeinfo")
async def nodeinfo_links(request: web.Request) -> web.Response:
    origin = public_origin(request)
    links = [
        {"rel": instance.nodeinfo_schema(version), "href": f"{origin}/nodeinfo/{version}"}
        for version in instance.NODEINFO_VERSIONS
    ]
    return json_response({"links": links})


@routes.get(r"/nodeinfo/{version:2\.[01]}")
async def nodeinfo(request: web.Request) -> web.Response:
    version = request.match_info["version"]
    res = request.app[RESOURCES]
    stats = await instance.instance_stats(res)
    document = instance.nodeinfo(res.settings, stats, version, origin=public_origin(request))
    content_type = f'application/json; profile="{instance.nodeinfo_schema(version)}#"'
    return web.Response(body=orjson.dumps(document), headers={"Content-Type": content_type})


@routes.get("/.well-known/host-meta")
async def host_meta(request: web.Request) -> web.Response:
    """XRD, or JSON with `?format=json` (as Mastodon offers both)."""
    template = f"{public_origin(request)}/.well-known/webfinger?resource={{uri}}"
    if request.query.get("format") == "json":
        return web.Response(body=orjson.dumps({"links": [{"rel": "lrdd", "template": template}]}), content_type=JRD)
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n'
        f'  <Link rel="lrdd" template={quoteattr(template)}/>\n'
        "</XRD>\n"
    )
    return web.Response(text=xml, content_type="application/xrd+xml")


# OpenAPI ---------------------------------------------------------------------------------------------

_TAGS = ["discovery"]
_STRING = {"type": "string"}
_LINK = obj({"rel": _STRING, "type": _STRING, "href": _STRING}, required=["rel"])

OPENAPI_COMPONENTS: dict[str, Any] = {
    "WebFinger": obj({"subject": _STRING, "aliases": array(_STRING), "links": array(_LINK)}),
    "NodeInfo": obj(
        {
            "version": _STRING,
            "software": obj({"name": _STRING, "version": _STRING}, required=["name", "version"]),
            "protocols": array(_STRING),
            "services": obj({"outbound": array(_STRING), "inbound": array(_STRING)}),
            "usage": obj(
                {
                    "users": obj(
                        {
                            "total": {"type": "integer"},
                            "activeMonth": {"type": "integer"},
                            "activeHalfyear": {"type": "integer"},
                        }
                    ),
                    "localPosts": {"type": "integer"},
                }
            ),
            "openRegistrations": {"type": "boolean"},
            "metadata": {"type": "object"},
        },
        description="NodeInfo 2.0/2.1 (nodeinfo.diaspora.software); no protocols: Chirp does not federate.",
    ),
}


def _json(schema: dict[str, Any], kind: str = JRD) -> dict[str, Any]:
    return {"description": "OK", "content": {kind: {"schema": schema}}}


OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/.well-known/webfinger": {
        "get": operation(
            "Who a local account is, by `acct:user@host` or profile URL",
            {"200": _json({"$ref": "#/components/schemas/WebFinger"}), **errors(404, 422)},
            parameters=[query("resource", _STRING, required=True, description="acct:user@host")],
            tags=_TAGS,
        )
    },
    "/.well-known/nodeinfo": {
        "get": operation(
            "Where the NodeInfo documents are",
            {"200": ok(obj({"links": array(obj({"rel": _STRING, "href": _STRING}))}))},
            tags=_TAGS,
        )
    },
    "/nodeinfo/{version}": {
        "get": operation(
            "NodeInfo 2.0 or 2.1",
            {"200": _json({"$ref": "#/components/schemas/NodeInfo"}, "application/json"), **errors(404)},
            parameters=[path("version", "2.0 or 2.1")],
            tags=_TAGS,
        )
    },
    "/.well-known/host-meta": {
        "get": operation(
            "Where WebFinger is (XRD; JSON with format=json)",
            {
                "200": {
                    "description": "XRD, or JRD with format=json",
                    "content": {
                        "application/xrd+xml": {"schema": _STRING},
                        JRD: {"schema": {"type": "object", "properties": {"links": {"type": "array"}}}},
                    },
                }
            },
            parameters=[query("format", {"type": "string", "enum": ["json"]})],
            tags=_TAGS,
        )
    },
}
