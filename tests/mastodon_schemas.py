"""Mastodon's entities as JSON Schema (tests/schemas/mastodon, see its README): check a response body is
what a Mastodon client expects, independently of the OpenAPI document Chirp writes about itself."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parent / "schemas" / "mastodon"
BASE = "https://schemas.chirp.invalid/mastodon/"


@functools.cache
def _registry() -> Registry:
    resources = []
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def entity_names() -> list[str]:
    return sorted(path.stem for path in SCHEMAS.glob("*.json"))


def problems(entity: str, body: Any) -> list[str]:
    """What is wrong with `body` as Mastodon's `entity` (empty when nothing)."""
    validator = Draft202012Validator({"$ref": f"{BASE}{entity}.json"}, registry=_registry())
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)]


def assert_mastodon(entity: str, body: Any) -> Any:
    """`body` (or each item of a list) is a valid Mastodon `entity`; returns it."""
    items = body if isinstance(body, list) else [body]
    for item in items:
        found = problems(entity, item)
        assert not found, f"not a Mastodon {entity}: {found[:5]}"
    return body
