"""OpenAPI 3.1 building blocks. Each handlers module documents its own routes next to them:

    OPENAPI_PATHS = {"/api/v1/accounts/{id}": {"get": operation("View an account", ok(ref("Account")), ...)}}
    OPENAPI_COMPONENTS = {"Account": {...JSON Schema...}}

`build_document` merges every module's declarations into `GET /openapi.json`; tests/test_openapi.py checks
the result against the live router in both directions, so a route without a spec (or a spec without a
route) fails the build.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType
from typing import Any

from core.errors import REASONS

Spec = dict[str, Any]

FORM_TYPES = ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")

BASE_COMPONENTS: Spec = {
    "Error": {
        "type": "object",
        "properties": {"error": {"type": "string"}},
        "required": ["error"],
        "description": "Every failure: a message, sometimes with more fields (e.g. OAuth's error_description).",
    },
}


def ref(name: str) -> Spec:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Spec) -> Spec:
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: Spec, *, required: Iterable[str] | None = None, **extra: Any) -> Spec:
    """An object schema; every property is required unless `required` names fewer."""
    names = list(properties) if required is None else list(required)
    return {"type": "object", "properties": properties, "required": names, **extra}


def array(items: Spec) -> Spec:
    return {"type": "array", "items": items}


def ok(schema: Spec | None = None, description: str = "OK", *, headers: Spec | None = None) -> Spec:
    """A response with a JSON body (or none); most often the 200."""
    response: Spec = {"description": description}
    if schema is not None:
        response["content"] = {"application/json": {"schema": schema}}
    if headers:
        response["headers"] = headers
    return response


def error_response(description: str) -> Spec:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


def errors(*statuses: int) -> Spec:
    """Standard error responses by status, described by the reason the error middleware uses."""
    return {str(status): error_response(REASONS.get(status, "Error")) for status in statuses}


def body(schema: Spec, *, required: bool = True) -> Spec:
    """A request body accepted as JSON, a form or multipart alike (as `read_params` reads them)."""
    return {"required": required, "content": {kind: {"schema": schema} for kind in FORM_TYPES}}


def query(name: str, schema: Spec, *, required: bool = False, description: str = "") -> Spec:
    param: Spec = {"name": name, "in": "query", "required": required, "schema": schema}
    if description:
        param["description"] = description
    return param


def path(name: str = "id", description: str = "A Snowflake id, as a string of digits") -> Spec:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}


def operation(
    summary: str,
    responses: Spec,
    *,
    scopes: Iterable[str] | None = None,
    request_body: Spec | None = None,
    parameters: Iterable[Spec] = (),
    tags: Iterable[str] = (),
    description: str = "",
) -> Spec:
    """One operation. `scopes` None means public; a list means an OAuth token holding one of those scopes."""
    op: Spec = {"summary": summary, "responses": responses}
    if description:
        op["description"] = description
    if tags:
        op["tags"] = list(tags)
    params = list(parameters)
    if params:
        op["parameters"] = params
    if request_body is not None:
        op["requestBody"] = request_body
    if scopes is not None:
        op["security"] = [{"OAuth2": list(scopes)}]
    return op


def _kit_responses(route: str, op: Spec) -> Spec:
    """The answers the HTTP kit gives any operation of this shape, whatever its handler documents: the
    parameter parser's 400/422 (malformed bodies, bad UTF-8, refused characters), the body limits' 408/413,
    a path id's 404, the token check's 401/403, the rate limit's 429 and a store outage's 503."""
    statuses = [429, 503]
    if op.get("parameters") or op.get("requestBody") or "{" in route:
        statuses += [400, 422]
    if op.get("requestBody"):
        statuses += [408, 413]
    if "{" in route:
        statuses.append(404)
    if op.get("security"):
        statuses += [401, 403]
    return errors(*sorted(statuses))


def with_kit_responses(route: str, item: Spec) -> Spec:
    """`item` with every operation's kit responses added where the operation does not document its own."""
    return {
        method: {**op, "responses": _kit_responses(route, op) | op["responses"]}
        if isinstance(op, dict) and "responses" in op
        else op
        for method, op in item.items()
    }


def build_document(modules: Iterable[ModuleType], *, version: str, scopes: Iterable[str]) -> Spec:
    """Every module's OPENAPI_PATHS and OPENAPI_COMPONENTS in one OpenAPI 3.1 document; clashes are errors."""
    paths: Spec = {}
    schemas: Spec = dict(BASE_COMPONENTS)
    for module in modules:
        for route, item in getattr(module, "OPENAPI_PATHS", {}).items():
            existing = paths.setdefault(route, {})
            clash = set(existing) & set(item)
            if clash:
                raise ValueError(f"{module.__name__}: {route} {sorted(clash)} is documented twice")
            existing.update(item)
        for name, schema in getattr(module, "OPENAPI_COMPONENTS", {}).items():
            if name in schemas and schemas[name] != schema:
                raise ValueError(f"{module.__name__}: component {name} is defined twice, differently")
            schemas[name] = schema
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Chirp API",
            "version": version,
            "description": "Chirp's HTTP API: the Mastodon client API where the features overlap.",
        },
        "paths": {route: with_kit_responses(route, item) for route, item in sorted(paths.items())},
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "OAuth2": {
                    "type": "oauth2",
                    "description": "Bearer tokens from /oauth/token; `write` covers `write:*` and so on.",
                    "flows": {
                        "authorizationCode": {
                            "authorizationUrl": "/oauth/authorize",
                            "tokenUrl": "/oauth/token",
                            "refreshUrl": "/oauth/token",
                            "scopes": {scope: scope for scope in scopes},
                        },
                        "password": {"tokenUrl": "/oauth/token", "scopes": {scope: scope for scope in scopes}},
                        "clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {scope: scope for scope in scopes}},
                    },
                }
            },
        },
    }
