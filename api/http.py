"""Request and response helpers every handler uses: JSON out, parameters in.

Mastodon clients send parameters as a query string, form-encoded, multipart or JSON, with arrays as
`name[]`. `read_params` folds all of these into one `Params`, whose getters validate and raise the
422 that names the field.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from aiohttp import web

from api.keys import SETTINGS
from core.errors import ApiError, validation_error
from core.ids import parse_id

_TRUE = {"1", "true", "on", "yes", "t"}
_FALSE = {"0", "false", "off", "no", "f", ""}


def json_response(data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


def public_origin(request: web.Request) -> str:
    """`scheme://host[:port]` clients reach this server at: CHIRP_PUBLIC_URL when set, else what the request used."""
    public_url: str = request.app[SETTINGS].public_url
    return public_url or f"{request.scheme}://{request.host}"


def _flatten(prefix: str, value: Any, into: dict[str, list[Any]]) -> None:
    """JSON bodies nest (`{"source": {"privacy": ...}}`); forms write `source[privacy]`. Keep one form."""
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}[{key}]" if prefix else str(key), inner, into)
    elif isinstance(value, list):
        into.setdefault(prefix, []).extend(value)
    else:
        into.setdefault(prefix, []).append(value)


class Params:
    """Request parameters by name (`name[]` and `name` are the same), with validating getters."""

    def __init__(self, values: Mapping[str, list[Any]]) -> None:
        self._values: dict[str, list[Any]] = {}
        for key, items in values.items():
            name = key[:-2] if key.endswith("[]") else key
            self._values.setdefault(name, []).extend(items)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, Any]]) -> Params:
        values: dict[str, list[Any]] = {}
        for key, value in pairs:
            values.setdefault(key, []).append(value)
        return cls(values)

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def merged(self, other: Params) -> Params:
        """These parameters with `other`'s taking precedence."""
        return Params({**self._values, **other._values})

    def names(self) -> list[str]:
        """Every parameter name given (`a[]` as `a`), for families like `fields_attributes[0][name]`."""
        return list(self._values)

    def values(self, name: str) -> list[Any]:
        """Every value given for `name`, as sent (a JSON list of objects stays a list of dicts)."""
        return list(self._values.get(name, []))

    def raw(self, name: str) -> Any:
        items = self._values.get(name)
        return items[-1] if items else None

    def text(
        self, name: str, *, required: bool = False, default: str | None = None, max_length: int | None = None
    ) -> str | None:
        value = self.raw(name)
        if value is None:
            if required:
                raise validation_error(name, "can't be blank")
            return default
        if not isinstance(value, str):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise validation_error(name, "must be a string")
            value = str(value)
        if required and not value.strip():
            raise validation_error(name, "can't be blank")
        if max_length is not None and len(value) > max_length:
            raise validation_error(name, f"is too long (maximum is {max_length} characters)")
        return value

    def required_text(self, name: str, *, max_length: int | None = None) -> str:
        value = self.text(name, required=True, max_length=max_length)
        assert value is not None
        return value

    def strings(self, name: str, *, max_items: int = 100) -> list[str]:
        items = self._values.get(name, [])
        if len(items) > max_items:
            raise validation_error(name, f"has too many items (maximum is {max_items})")
        if any(not isinstance(item, str | int) or isinstance(item, bool) for item in items):
            raise validation_error(name, "must be a list of strings")
        return [str(item) for item in items if str(item) != ""]

    def integer(self, name: str, *, default: int, low: int, high: int, clamp: bool = False) -> int:
        value = self.raw(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise validation_error(name, "must be a whole number") from None
        if clamp:
            return min(max(number, low), high)
        if not low <= number <= high:
            raise validation_error(name, f"must be between {low} and {high}")
        return number

    def number(self, name: str, *, low: float, high: float) -> float | None:
        value = self.raw(name)
        if value is None or value == "":
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise validation_error(name, "must be a number") from None
        if not math.isfinite(number) or not low <= number <= high:
            raise validation_error(name, f"must be between {low:g} and {high:g}")
        return number

    def boolean(self, name: str, *, default: bool = False) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise validation_error(name, "must be true or false")

    def choice(self, name: str, choices: Iterable[str], *, default: str | None = None) -> str | None:
        allowed = tuple(choices)
        value = self.text(name)
        if value is None or value == "":
            return default
        if value not in allowed:
            raise validation_error(name, f"must be one of {', '.join(allowed)}")
        return value

    def ident(self, name: str, *, required: bool = False) -> int | None:
        """A Snowflake id parameter. A malformed one is a 422; whether it exists is the caller's 404."""
        value = self.raw(name)
        if value is None or value == "":
            if required:
                raise validation_error(name, "can't be blank")
            return None
        parsed = parse_id(value)
        if parsed is None:
            raise validation_error(name, "is not a valid id")
        return parsed

    def idents(self, name: str, *, max_items: int = 100) -> list[int]:
        out: list[int] = []
        for item in self.strings(name, max_items=max_items):
            parsed = parse_id(item)
            if parsed is None:
                raise validation_error(name, "contains an invalid id")
            out.append(parsed)
        return out


async def read_params(request: web.Request) -> Params:
    """Query string and body parameters of any encoding Mastodon clients use, body winning."""
    query = Params.from_pairs(request.query.items())
    if not request.body_exists:
        return query
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raise ApiError(400, "The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object")
        values: dict[str, list[Any]] = {}
        _flatten("", body, values)
        return query.merged(Params(values))
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        return query.merged(Params.from_pairs(form.items()))
    if not await request.read():
        return query
    raise ApiError(415, f"Unsupported content type {content_type!r}: send JSON or a form")
