"""The authorization matrix, generated from the OpenAPI document the server serves: every operation that
declares OAuth security answers 401 with no token and with a malformed one, and 403 with a token holding every
scope but those it accepts (when it names any); each as a JSON `{"error": ...}`, and none a 5xx.

Generated, so an operation added with `scopes=` is checked without touching this file. The token lacking the
scope belongs to the owner of the objects in the path, so the answer can only be the scope's refusal.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from conftest import ClientFactory, UserFactory
from openapi_ops import fill, operations

from domain.oauth import ALL_SCOPES, scope_covered

Client = TestClient[web.Request, web.Application]
MALFORMED = ("Bearer not-a-token", "Bearer ", "Basic YWxpY2U6c2VjcmV0", "Bearer a\tb", "bearer")


def secured(document: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(method, path, the scopes any one of which it accepts) for each operation that needs a token."""
    found = []
    for method, path, op in operations(document):
        for requirement in op.get("security", []):
            if "OAuth2" in requirement:
                found.append((method, path, list(requirement["OAuth2"])))
    return found


def lacking(accepted: list[str]) -> tuple[str, ...]:
    """Every known scope that grants none of `accepted` (so `read:statuses` keeps all but read and itself)."""
    return tuple(scope for scope in ALL_SCOPES if not any(scope_covered(wanted, {scope}) for wanted in accepted))


async def _answer(client: Client, method: str, url: str, authorization: str | None) -> tuple[int, Any]:
    headers = {"Authorization": authorization} if authorization is not None else {}
    options: dict[str, Any] = {} if method == "get" else {"json": {}}
    async with client.request(method.upper(), url, headers=headers, **options) as response:
        if response.content_type != "application/json":
            return response.status, f"not JSON: {response.content_type} {(await response.read())[:120]!r}"
        return response.status, await response.json()


def _refusal(status: int, body: Any, expected: int) -> str | None:
    """None if (status, body) is the expected refusal, else what was wrong."""
    if status != expected:
        return f"{status} (wanted {expected}): {str(body)[:160]}"
    if not isinstance(body, dict) or not isinstance(body.get("error"), str) or not body["error"]:
        return f"{status} without a JSON error: {str(body)[:160]}"
    return None


async def test_every_secured_operation_refuses_a_missing_malformed_or_narrow_token(
    make_client: ClientFactory, make_user: UserFactory
) -> None:
    client = await make_client(rate_limit_enabled=False)
    alice = await make_user("alice")
    posted = await client.post("/api/v1/statuses", json={"status": "hello #tag"}, headers=alice.headers)
    assert posted.status == 200
    ids = {"statuses": (await posted.json())["id"], "accounts": alice.id}
    document = await (await client.get("/openapi.json")).json()
    operations_found = secured(document)
    assert len(operations_found) > 40  # the document declares its scopes; an empty matrix would prove nothing

    narrow_tokens: dict[tuple[str, ...], str] = {}
    failures: list[str] = []
    calls = 0
    for method, path, accepted in operations_found:
        url = fill(path, ids)
        scopes = lacking(accepted)
        if scopes not in narrow_tokens:
            narrow_tokens[scopes] = (await make_user(f"n{len(narrow_tokens)}", scopes=scopes)).token
        # The narrow token's owner must own the objects in the path: alice's posts, alice's account.
        attempts: list[tuple[str | None, int]] = [(None, 401), *((bad, 401) for bad in MALFORMED)]
        if accepted:  # an empty list: any token will do (apps/verify_credentials), so none is too narrow
            attempts.append((f"Bearer {narrow_tokens[scopes]}", 403))
        for authorization, expected in attempts:
            status, body = await _answer(client, method, url, authorization)
            calls += 1
            problem = _refusal(status, body, expected)
            if problem:
                failures.append(f"{method.upper()} {path} [{' '.join(accepted)}] {authorization!r}: {problem}")
    assert calls > 200, calls
    assert failures == [], "\n".join(failures)
