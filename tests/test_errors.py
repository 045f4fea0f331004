"""Every error is `{"error": "..."}` JSON with the right status: never HTML, never a traceback."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from api.http import json_response, read_params
from app.main import create_app
from config import Settings
from core.errors import ApiError


async def echo(request: web.Request) -> web.Response:
    params = await read_params(request)
    return json_response(
        {"name": params.text("name", max_length=10), "n": params.integer("n", default=0, low=0, high=5)}
    )


async def explode(request: web.Request) -> web.Response:
    raise RuntimeError("secret internals that must not leak")


async def conflict(request: web.Request) -> web.Response:
    raise ApiError(409, "Already taken", field="username")


@pytest.fixture
async def errors_client(aiohttp_client: Any, settings: Settings) -> TestClient[web.Request, web.Application]:
    app = create_app(Settings(**{**settings.__dict__, "max_body_bytes": 4096}))
    app.router.add_post("/test/echo", echo)
    app.router.add_get("/test/explode", explode)
    app.router.add_get("/test/conflict", conflict)
    client: TestClient[web.Request, web.Application] = await aiohttp_client(app)
    return client


async def expect_json_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    assert isinstance(body["error"], str) and body["error"]
    return body


async def test_unknown_route_is_a_json_404(errors_client: TestClient[web.Request, web.Application]) -> None:
    await expect_json_error(await errors_client.get("/no/such/thing"), 404)


async def test_wrong_method_is_a_json_405_with_allow(errors_client: TestClient[web.Request, web.Application]) -> None:
    response = await errors_client.delete("/healthz")
    await expect_json_error(response, 405)
    assert "GET" in response.headers["Allow"]


async def test_oversized_body_is_a_json_413(errors_client: TestClient[web.Request, web.Application]) -> None:
    response = await errors_client.post("/test/echo", data={"name": "x" * 10_000})
    await expect_json_error(response, 413)


async def test_unexpected_failure_is_a_json_500_without_details(
    errors_client: TestClient[web.Request, web.Application],
) -> None:
    response = await errors_client.get("/test/explode")
    body = await expect_json_error(response, 500)
    text = str(body)
    assert "secret internals" not in text and "Traceback" not in text
    assert response.headers["X-Request-Id"]


async def test_api_errors_carry_their_status_and_fields(
    errors_client: TestClient[web.Request, web.Application],
) -> None:
    body = await expect_json_error(await errors_client.get("/test/conflict"), 409)
    assert body == {"error": "Already taken", "field": "username"}


async def test_malformed_json_is_a_400(errors_client: TestClient[web.Request, web.Application]) -> None:
    response = await errors_client.post("/test/echo", data=b"{nope", headers={"Content-Type": "application/json"})
    await expect_json_error(response, 400)


async def test_validation_failure_names_the_field(errors_client: TestClient[web.Request, web.Application]) -> None:
    response = await errors_client.post("/test/echo", json={"name": "ok", "n": 99})
    body = await expect_json_error(response, 422)
    assert body["error"] == "Validation failed: n must be between 0 and 5"


async def test_parameters_arrive_the_same_way_from_json_form_and_query(
    errors_client: TestClient[web.Request, web.Application],
) -> None:
    as_json = await (await errors_client.post("/test/echo", json={"name": "ann", "n": 2})).json()
    as_form = await (await errors_client.post("/test/echo", data={"name": "ann", "n": "2"})).json()
    as_query = await (await errors_client.post("/test/echo?name=ann&n=2")).json()
    assert as_json == as_form == as_query == {"name": "ann", "n": 2}


async def test_request_id_is_echoed(errors_client: TestClient[web.Request, web.Application]) -> None:
    response = await errors_client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
