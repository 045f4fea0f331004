"""The error middleware's sweep: every operation of /openapi.json gets every malformed input, and none a 5xx.

The bodies are those a fuzzer found 500s with (bad multipart, deep JSON, bad UTF-8), and every documented
parameter is sent NUL, a lone-surrogate escape, a non-ASCII digit, a list and a bad percent-escape. Every
answer must be JSON-shaped (`{"error": ...}` for errors) and below 500.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from conftest import ClientFactory, UserFactory
from openapi_ops import fill, operations

Client = TestClient[web.Request, web.Application]
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

MULTIPART = "multipart/form-data; boundary=XyZ"
_PART = b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--XyZ--\r\n'
_BODIES: list[tuple[str, bytes]] = [
    (MULTIPART, _PART.replace(b'name="a"', b'name="a\x01b"')),
    (MULTIPART, _PART.replace(b'name="a"', b'name="\xff\xfe"')),
    (MULTIPART, b"--XyZ\r\nX-\x00: \x80\r\n\r\nv\r\n--XyZ--\r\n"),
    ("multipart/form-data", _PART),
    ("multipart/form-data; boundary=Never", _PART),
    (JSON, ('{"a":' * 1000 + "1" + "}" * 1000).encode()),
    (JSON, ("[" * 1000 + "]" * 1000).encode()),
    (FORM, b"a=\xff\xfe&b=\x00"),
    (FORM, b"a=%ff&%fe=b"),
]


def _values(name: str) -> list[tuple[str, Any]]:
    """What each parameter is sent: as (content type, body)."""
    return [
        (JSON, {name: "a\u0000b"}),
        (JSON, {name: ["x", "y"]}),
        (JSON, {name: "³"}),
        (JSON, {name: {"deep": [1, {"x": None}]}}),
        (FORM, f"{name}=%ff".encode()),
        (FORM, f"{name}=a%00b".encode()),
        (FORM, f"{name}=%D9%A3".encode()),  # ٣
    ]


def _parameter_names(op: dict[str, Any]) -> list[str]:
    names = [p["name"] for p in op.get("parameters", []) if p.get("in") == "query"]
    for content in op.get("requestBody", {}).get("content", {}).values():
        names += list(content.get("schema", {}).get("properties", {}))
    return sorted(set(names)) or ["status"]


async def _send(client: Client, method: str, url: str, headers: dict[str, str], **kwargs: Any) -> tuple[int, str]:
    async with client.request(method, url, headers=headers, **kwargs) as response:
        if response.content_type == "text/event-stream" or response.status == 101:
            return response.status, ""
        text = (await response.read()).decode("utf-8", "replace")
        if response.status >= 400:
            # JSON, or for the pages people see in a browser (the OAuth form), an HTML page.
            assert response.content_type in ("application/json", "text/html"), f"{method} {url}: {text[:200]}"
            assert "Traceback" not in text
        return response.status, text[:200]


async def test_no_malformed_input_gives_any_operation_a_5xx(make_client: ClientFactory, make_user: UserFactory) -> None:
    client = await make_client(rate_limit_enabled=False)
    alice = await make_user("alice")
    posted = await client.post("/api/v1/statuses", json={"status": "hello #tag"}, headers=alice.headers)
    ids = {"statuses": (await posted.json())["id"], "accounts": alice.id}
    document = await (await client.get("/openapi.json")).json()
    failures: list[str] = []
    sent = 0
    for method, path, op in operations(document):
        url = fill(path, ids)
        names = _parameter_names(op)
        attempts: list[tuple[str, dict[str, Any]]] = []
        for name in names:
            attempts += [(f"{url}?{name}=%ff", {}), (f"{url}?{name}=a%00b", {}), (f"{url}?{name}=%C2%B3", {})]
            attempts += [(f"{url}?{name}[]=1&{name}[]=2", {})]
        if method != "get":
            attempts += [(url, {"data": body, "content_type": ct}) for ct, body in _BODIES]
            for name in names:
                for ct, body in _values(name):
                    attempts.append((url, {"json": body} if ct == JSON else {"data": body, "content_type": FORM}))
        for target, options in attempts:
            headers = dict(alice.headers)
            content_type = options.pop("content_type", None)
            if content_type:
                headers["Content-Type"] = content_type
            status, text = await _send(client, method.upper(), target, headers, **options)
            sent += 1
            if status >= 500:
                failures.append(f"{method.upper()} {target} {content_type or ''} -> {status} {text}")
    assert sent > 1000
    assert failures == [], "\n".join(failures[:40])
