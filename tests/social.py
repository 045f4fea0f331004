"""Helpers for the social-core tests (posts, likes, reposts, follows): requests and direct checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from conftest import TestUser

from domain import events
from domain.event_kinds import decode_event
from storage.resources import Resources

Client = TestClient[web.Request, web.Application]
User = TestUser  # under a name pytest does not try to collect as a test class


async def expect(response: Any, status: int) -> Any:
    """The JSON body, after checking the status (showing the body when it is wrong)."""
    body = await response.json()
    assert response.status == status, body
    return body


async def post_status(client: Client, user: TestUser, status: str = "hello", **params: Any) -> dict[str, Any]:
    """Post as `user` (JSON body) and return the created Status."""
    response = await client.post("/api/v1/statuses", json={"status": status, **params}, headers=user.headers)
    body: dict[str, Any] = await expect(response, 200)
    return body


async def follow(client: Client, user: TestUser, target: TestUser) -> dict[str, Any]:
    body: dict[str, Any] = await expect(
        await client.post(f"/api/v1/accounts/{target.id}/follow", headers=user.headers), 200
    )
    return body


async def get_status(client: Client, status_id: str, user: TestUser | None = None) -> Any:
    return await client.get(f"/api/v1/statuses/{status_id}", headers=user.headers if user else {})


async def account_counts(res: Resources, user: TestUser) -> dict[str, int]:
    row = await res.db.fetchrow(
        "SELECT followers_count, following_count, posts_count FROM accounts WHERE id = $1", user.account_id
    )
    assert row is not None
    return dict(row)


async def post_counts(res: Resources, status_id: str) -> dict[str, int]:
    row = await res.db.fetchrow(
        "SELECT replies_count, reposts_count, likes_count, quotes_count FROM posts WHERE id = $1", int(status_id)
    )
    assert row is not None
    return dict(row)


def link_cursor(response: Any, rel: str, name: str) -> str:
    """A cursor parameter (`max_id`, `min_id`) from the Link header's `rel` link."""
    link = str(response.headers["Link"])
    for part in link.split(","):
        url, _, params = part.strip().partition(";")
        if f'rel="{rel}"' in params:
            query = url.strip("<> ").split("?", 1)[1]
            for pair in query.split("&"):
                key, _, value = pair.partition("=")
                if key == name:
                    return value
    raise AssertionError(f"no {name} in the {rel} link of {link}")


@contextmanager
def subscribed(monkeypatch: pytest.MonkeyPatch, queue: str, *kinds: str) -> Iterator[None]:
    """Route the event kinds to a test queue for the duration, so recorded events become job rows."""
    for kind in kinds:
        monkeypatch.setitem(events.EVENT_QUEUES, kind, (queue,))
    yield


async def record_event(conn: asyncpg.Connection, kind: str, payload: dict[str, Any]) -> None:
    """Record an event named by its text, as a write would (for changes a test made directly in SQL). The
    kind must be an EventKind (ValueError if not); the payload is taken as the kind's, unchecked."""
    await events.record_event(conn, *decode_event(kind, payload))


async def recorded(res: Resources, queue: str, kind: str | None = None) -> list[dict[str, Any]]:
    """Payloads of the events recorded to `queue` (optionally of one kind), oldest first."""
    rows = await res.db.fetch(
        "SELECT kind, payload FROM jobs WHERE queue = $1 AND ($2::text IS NULL OR kind = $2) ORDER BY id", queue, kind
    )
    return [{"kind": row["kind"], **row["payload"]} for row in rows]


async def assert_documented(method: str, path: str, response: Any) -> Any:
    """The response's JSON body satisfies the schema GET /openapi.json documents for it; the body."""
    from jsonschema import Draft202012Validator

    from handlers.routes import openapi_document

    document = openapi_document()
    body = await response.json()
    responses = document["paths"][path][method]["responses"]
    assert str(response.status) in responses, f"{method.upper()} {path} does not document {response.status}"
    schema = {**responses[str(response.status)]["content"]["application/json"]["schema"], **document}
    problems = sorted(Draft202012Validator(schema).iter_errors(body), key=str)
    assert not problems, f"{method.upper()} {path}: {problems[0].message} at {list(problems[0].path)}"
    return body
