"""GET /openapi.json: a valid OpenAPI 3.1 document that matches the live router in both directions, and
whose schemas the live responses satisfy."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from aiohttp import web
from jsonschema import Draft202012Validator
from oauth_flow import Client, app_token, bearer, register_app, sign_up
from openapi_spec_validator import validate

from api.openapi import build_document
from handlers.routes import openapi_document

METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}


def routed_operations(app: web.Application) -> set[tuple[str, str]]:
    """(method, path) of every route, with paths in OpenAPI's `{id}` form (HEAD is implied by GET)."""
    operations = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "*") or route.resource is None:
            continue
        operations.add((route.method.lower(), route.resource.canonical))
    return operations


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item if method in METHODS}


async def test_the_document_is_valid_openapi_3_1(client: Client) -> None:
    response = await client.get("/openapi.json")
    document = await response.json()
    assert response.status == 200
    assert document["openapi"] == "3.1.0"
    validate(document)  # raises on any structural problem or dangling $ref


async def test_every_route_is_documented_and_every_documented_operation_is_routed(client: Client) -> None:
    document = await (await client.get("/openapi.json")).json()
    routed = routed_operations(client.app)
    documented = documented_operations(document)
    assert routed - documented == set(), "routes without a spec: declare them in their module's OPENAPI_PATHS"
    assert documented - routed == set(), "specs without a route"
    for method, path in documented:
        operation = document["paths"][path][method]
        assert operation["responses"], f"{method.upper()} {path} documents no responses"
        assert operation["summary"]


def test_modules_may_not_document_the_same_operation_twice() -> None:
    first, second = ModuleType("first"), ModuleType("second")
    for module in (first, second):
        setattr(module, "OPENAPI_PATHS", {"/x": {"get": {"responses": {"200": {"description": "OK"}}}}})  # noqa: B010
    with pytest.raises(ValueError, match="documented twice"):
        build_document([first, second], version="0", scopes=())


# Live responses against their documented schemas -----------------------------------------------------


def response_schema(document: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    responses = document["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} does not document {status}"
    schema: dict[str, Any] = responses[str(status)]["content"]["application/json"]["schema"]
    return schema


async def assert_conforms(document: dict[str, Any], method: str, path: str, response: Any) -> None:
    """The response's JSON body satisfies the schema its operation documents for its status."""
    body = await response.json()
    schema = {**response_schema(document, method, path, response.status), "components": document["components"]}
    errors = sorted(Draft202012Validator(schema).iter_errors(body), key=str)
    assert not errors, f"{method.upper()} {path} {response.status}: {errors[0].message} at {list(errors[0].path)}"


async def test_live_responses_match_their_documented_schemas(client: Client) -> None:
    document = openapi_document()
    created = await client.post("/api/v1/apps", json={"client_name": "Spec", "redirect_uris": ["https://a.example/cb"]})
    await assert_conforms(document, "post", "/api/v1/apps", created)
    app = await register_app(client)
    token = await sign_up(client, app, "alice")
    user = bearer(token["access_token"])
    app_bearer = bearer(await app_token(client, app))
    me = await (await client.get("/api/v1/accounts/verify_credentials", headers=user)).json()
    creds = app.credentials()
    checks: list[tuple[str, str, Any]] = [
        ("get", "/api/v1/instance", client.get("/api/v1/instance")),
        ("get", "/api/v2/instance", client.get("/api/v2/instance")),
        ("get", "/api/v1/custom_emojis", client.get("/api/v1/custom_emojis")),
        ("get", "/api/v1/instance/rules", client.get("/api/v1/instance/rules")),
        ("get", "/api/v1/instance/extended_description", client.get("/api/v1/instance/extended_description")),
        ("get", "/api/v1/instance/privacy_policy", client.get("/api/v1/instance/privacy_policy")),
        ("get", "/api/v1/instance/terms_of_service", client.get("/api/v1/instance/terms_of_service")),
        ("get", "/api/v1/instance/translation_languages", client.get("/api/v1/instance/translation_languages")),
        ("get", "/api/v1/instance/peers", client.get("/api/v1/instance/peers")),
        ("get", "/api/v1/instance/activity", client.get("/api/v1/instance/activity")),
        ("get", "/.well-known/nodeinfo", client.get("/.well-known/nodeinfo")),
        ("get", "/api/v1/announcements", client.get("/api/v1/announcements", headers=user)),
        ("get", "/.well-known/oauth-authorization-server", client.get("/.well-known/oauth-authorization-server")),
        ("get", "/api/v1/apps/verify_credentials", client.get("/api/v1/apps/verify_credentials", headers=app_bearer)),
        ("get", "/api/v1/accounts/verify_credentials", client.get("/api/v1/accounts/verify_credentials", headers=user)),
        ("get", "/api/v1/accounts/verify_credentials", client.get("/api/v1/accounts/verify_credentials")),
        ("patch", "/api/v1/accounts/update_credentials",
         client.patch("/api/v1/accounts/update_credentials", json={"note": "hi"}, headers=user)),
        ("patch", "/api/v1/accounts/update_credentials",
         client.patch("/api/v1/accounts/update_credentials", json={"note": "x" * 501}, headers=user)),
        ("get", "/api/v1/accounts/{id}", client.get(f"/api/v1/accounts/{me['id']}")),
        ("get", "/api/v1/accounts/{id}", client.get("/api/v1/accounts/1")),
        ("get", "/api/v1/accounts/lookup", client.get("/api/v1/accounts/lookup", params={"acct": "alice"})),
        ("get", "/api/v1/preferences", client.get("/api/v1/preferences", headers=user)),
        ("post", "/api/v1/accounts", client.post("/api/v1/accounts", json={"username": "alice"}, headers=app_bearer)),
        ("post", "/oauth/token", client.post("/oauth/token", data={**creds, "grant_type": "client_credentials"})),
        ("post", "/oauth/token", client.post("/oauth/token", data={**creds, "grant_type": "password"})),
        ("post", "/oauth/token", client.post("/oauth/token", data={"client_id": "x", "grant_type": "password"})),
        ("post", "/oauth/revoke", client.post("/oauth/revoke", data={**creds, "token": "unknown"})),
        ("get", "/healthz", client.get("/healthz")),
        ("get", "/readyz", client.get("/readyz")),
    ]  # fmt: skip
    for method, path, request in checks:
        await assert_conforms(document, method, path, await request)


async def test_refresh_and_password_tokens_match_the_token_schema(client: Client) -> None:
    document = openapi_document()
    app = await register_app(client)
    token = await sign_up(client, app, "alice")
    for grant in (
        {"grant_type": "password", "username": "alice", "password": "correct horse battery"},
        {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
    ):
        response = await client.post("/oauth/token", data={**app.credentials(), **grant})
        assert response.status == 200
        await assert_conforms(document, "post", "/oauth/token", response)
