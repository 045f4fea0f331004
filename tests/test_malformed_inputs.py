"""No input can produce a 500: each malformed body or parameter the fuzzer found gets a 4xx naming the problem."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from conftest import TestUser, UserFactory
from oauth_flow import app_token, bearer, register_app

Client = TestClient[web.Request, web.Application]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def _refused(response: ClientResponse, status: int, *words: str) -> dict[str, Any]:
    body: dict[str, Any] = await response.json()
    assert response.status == status, body
    for word in words:
        assert word in body["error"], body
    return body


def _multipart(boundary: str, headers: bytes, value: bytes = b"hello") -> bytes:
    return (
        b"--" + boundary.encode() + b"\r\n" + headers + b"\r\n\r\n" + value + b"\r\n--" + boundary.encode() + b"--\r\n"
    )


@pytest.fixture
async def alice(make_user: UserFactory) -> TestUser:
    return await make_user("alice")


@pytest.mark.parametrize(
    "headers",
    [
        b'Content-Disposition: form-data; name="sta\x01tus"',
        b'Content-Disposition: form-data; name="st\xff\xfeatus"',
        b'Content-Disposition: form-data; name="status"\r\nX-\x00: 1',
        b"Content-Dispos\x7fition: form-data; name=status",
    ],
)
async def test_multipart_part_headers_with_control_or_non_ascii_bytes_are_a_4xx(
    client: Client, alice: TestUser, headers: bytes
) -> None:
    response = await client.post(
        "/api/v1/statuses",
        data=_multipart("XyZ", headers),
        headers={**alice.headers, "Content-Type": "multipart/form-data; boundary=XyZ"},
    )
    assert 400 <= response.status < 500, await response.text()
    assert "error" in await response.json()


async def test_multipart_without_a_boundary_is_a_400(client: Client, alice: TestUser) -> None:
    response = await client.post(
        "/api/v1/statuses",
        data=_multipart("XyZ", b'Content-Disposition: form-data; name="status"'),
        headers={**alice.headers, "Content-Type": "multipart/form-data"},
    )
    await _refused(response, 400, "multipart")


async def test_multipart_whose_boundary_never_appears_is_a_400(client: Client, alice: TestUser) -> None:
    response = await client.post(
        "/api/v1/statuses",
        data=_multipart("XyZ", b'Content-Disposition: form-data; name="status"'),
        headers={**alice.headers, "Content-Type": "multipart/form-data; boundary=Other"},
    )
    await _refused(response, 400, "multipart")


@pytest.mark.parametrize("depth", [33, 990, 1024])
async def test_json_nested_too_deep_is_a_400(client: Client, alice: TestUser, depth: int) -> None:
    body = '{"a":' * depth + "1" + "}" * depth
    response = await client.post(
        "/api/v1/statuses", data=body, headers={**alice.headers, "Content-Type": "application/json"}
    )
    await _refused(response, 400, "nests deeper than 32")


async def test_json_nested_within_the_limit_is_read(client: Client, alice: TestUser) -> None:
    body = '{"status": "deep enough", "a":' + '{"a":' * 30 + "1" + "}" * 31
    response = await client.post(
        "/api/v1/statuses", data=body, headers={**alice.headers, "Content-Type": "application/json"}
    )
    assert response.status == 200, await response.text()


@pytest.mark.parametrize("body", [b"status=\xff\xfe", b"status=%ff", b"status=caf%C3", b"st%ffatus=x"])
async def test_malformed_utf8_in_a_form_is_refused_not_replaced(client: Client, alice: TestUser, body: bytes) -> None:
    response = await client.post("/api/v1/statuses", data=body, headers={**alice.headers, **FORM})
    await _refused(response, 400, "not valid UTF-8")


async def test_malformed_utf8_in_a_query_string_is_refused(client: Client) -> None:
    response = await client.get("/api/v1/accounts/lookup?acct=%ff")
    await _refused(response, 400, "acct is not valid UTF-8")


async def test_utf8_in_a_form_is_still_read(client: Client, alice: TestUser) -> None:
    response = await client.post(
        "/api/v1/statuses", data=b"status=caf%C3%A9+%E2%9C%93", headers={**alice.headers, **FORM}
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["content"] == "<p>café ✓</p>"


async def test_nul_in_display_name_is_a_422_naming_the_field(client: Client, alice: TestUser) -> None:
    response = await client.patch(
        "/api/v1/accounts/update_credentials", json={"display_name": "Al\u0000ice"}, headers=alice.headers
    )
    await _refused(response, 422, "display_name", "not allowed")
    form = await client.patch(
        "/api/v1/accounts/update_credentials", data=b"display_name=Al%00ice", headers={**alice.headers, **FORM}
    )
    await _refused(form, 422, "display_name")


async def test_nul_in_the_sign_up_username_is_a_422(client: Client) -> None:
    app = await register_app(client)
    token = await app_token(client, app, " ".join(app.scopes))
    response = await client.post(
        "/api/v1/accounts",
        json={"username": "bob\u0000", "email": "bob@example.test", "password": "long enough pw", "agreement": True},
        headers=bearer(token),
    )
    await _refused(response, 422, "username")


async def test_nul_in_an_acct_lookup_is_a_422(client: Client) -> None:
    await _refused(await client.get("/api/v1/accounts/lookup?acct=al%00ice"), 422, "acct")


async def test_nul_in_status_text_is_a_422(client: Client, alice: TestUser) -> None:
    response = await client.post("/api/v1/statuses", json={"status": "a\u0000b"}, headers=alice.headers)
    await _refused(response, 422, "status")


async def test_a_lone_surrogate_is_refused(client: Client, alice: TestUser) -> None:
    # JSON can only spell one with an escape, which the parser refuses; UTF-8 cannot encode one at all.
    response = await client.post(
        "/api/v1/statuses",
        data=b'{"status": "a\\ud800b"}',
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    await _refused(response, 400, "JSON")
    form = await client.post("/api/v1/statuses", data=b"status=a%ED%A0%80b", headers={**alice.headers, **FORM})
    await _refused(form, 400, "status is not valid UTF-8")


async def test_a_nul_in_a_path_is_no_500(client: Client) -> None:
    response = await client.get("/api/v1/timelines/tag/a%00b")
    assert response.status < 500, await response.text()


@pytest.mark.parametrize("value", ["³", "٣", "1٣", "¹²"])
async def test_ids_are_ascii_digits_only(client: Client, alice: TestUser, value: str) -> None:
    response = await client.post(
        "/api/v1/statuses", json={"status": "x", "in_reply_to_id": value}, headers=alice.headers
    )
    await _refused(response, 422, "in_reply_to_id")
    media = await client.post(
        "/api/v1/media/upload", data={"command": "STATUS", "media_id": value}, headers=alice.headers
    )
    assert media.status in (400, 404, 422), await media.text()


@pytest.mark.parametrize("value", ["٣", "³", "3.5", "0x3"])
async def test_integers_are_ascii_digits_only(client: Client, alice: TestUser, value: str) -> None:
    response = await client.get("/api/v1/timelines/public", params={"limit": value})
    await _refused(response, 422, "limit")


async def test_segment_index_in_arabic_digits_is_refused(client: Client, alice: TestUser) -> None:
    init = await client.post(
        "/api/v1/media/upload",
        data={"command": "INIT", "total_bytes": "10", "media_type": "image/png"},
        headers=alice.headers,
    )
    assert init.status == 202, await init.text()
    media_id = (await init.json())["media_id_string"]
    for media_value in ("³", media_id):
        response = await client.post(
            "/api/v1/media/upload",
            data={"command": "APPEND", "media_id": media_value, "segment_index": "٣", "media_data": "AAAA"},
            headers=alice.headers,
        )
        body = await response.json()
        assert response.status == 422, body
        assert "media_id" in body["error"] or "segment_index" in body["error"], body


async def test_a_json_list_is_not_a_status(client: Client, alice: TestUser) -> None:
    response = await client.post("/api/v1/statuses", json={"status": ["one", "two"]}, headers=alice.headers)
    await _refused(response, 422, "status", "not a list")


async def test_lists_still_work_where_a_list_is_asked_for(
    client: Client, alice: TestUser, make_user: UserFactory
) -> None:
    bob = await make_user("bob")
    response = await client.get(
        "/api/v1/accounts/relationships", params=[("id[]", bob.id), ("id[]", alice.id)], headers=alice.headers
    )
    assert response.status == 200, await response.text()
    assert [r["id"] for r in await response.json()] == [bob.id, alice.id]
    posted = await client.post("/api/v1/statuses", json={"status": "no media", "media_ids": []}, headers=alice.headers)
    assert posted.status == 200, await posted.text()


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"grant_type=%ff", "application/x-www-form-urlencoded"),
        (b'{"grant_type": ["password", "client_credentials"]}', "application/json"),
        (b'{"grant_type": "password", "username": "a\\u0000"}', "application/json"),
    ],
)
async def test_oauth_errors_for_malformed_requests_have_rfc_6749s_shape(
    client: Client, data: bytes, content_type: str
) -> None:
    response = await client.post("/oauth/token", data=data, headers={"Content-Type": content_type})
    body = await response.json()
    assert response.status == 400, body
    assert body["error"] == "invalid_request", body
    assert isinstance(body["error_description"], str) and body["error_description"], body
