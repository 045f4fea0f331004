"""The operations of the served OpenAPI document, and their paths filled with real ids: for the tests that
send something to every operation (the malformed-input sweep, the authorization matrix)."""

from __future__ import annotations

import re
from typing import Any

METHODS = ("get", "post", "put", "patch", "delete")


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) for every operation; deletes last, so the ids stay useful."""
    ops = [
        (method, path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]
    return sorted(ops, key=lambda op: op[0] == "delete")


def fill(path: str, ids: dict[str, str]) -> str:
    """`path` with its `{id}` taken from `ids` by the area it follows (`/statuses/{id}`), and other
    parameters given plausible values."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "id":
            for area, real in ids.items():
                if f"/{area}/" in path:
                    return real
            return "1"
        known = {"username": "alice", "name": "like", "hashtag": "tag", "tag": "tag", "path": "public"}
        return {**known, "group_key": "ungrouped-1"}.get(name, "x")

    return re.sub(r"\{(\w+)\}", value, path)
