"""Request and response helpers every handler uses: JSON out, parameters in.

Mastodon clients send parameters as a query string, form-encoded, multipart or JSON, with arrays as
`name[]`. `read_params` folds all of these into one `Params`, whose getters validate and raise the
422 that names the field.

Every way in is strict, because PostgreSQL stores what comes out: percent-escapes and raw bytes must be
UTF-8 (a 400 naming the field, never a U+FFFD standing in for them), text may hold no NUL or lone
surrogate (422), numbers and ids are ASCII digits only (`³` and `٣` are not 3), a JSON body nests at most
`MAX_JSON_DEPTH` levels (400), a malformed multipart body is a 400, and a list is not a single value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from api.keys import SETTINGS
from core.errors import ApiError, validation_error
from core.ids import parse_id

_TRUE = {"1", "true", "on", "yes", "t"}
_FALSE = {"0", "false", "off", "no", "f", ""}
MAX_JSON_DEPTH = 32
MAX_FORM_FIELDS = 1000
# What PostgreSQL's text columns cannot hold: NUL, and UTF-16 surrogates that pair with nothing.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_INTEGER = re.compile(r"[+-]?[0-9]+")


def json_response(data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


def json_documents_response(documents: Sequence[bytes], *, headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON array of documents already encoded (cached entities), joined as they are: the bytes
    `json_response([orjson.Fragment(d) for d in documents])` writes, without a Fragment per document."""
    return web.Response(body=b"[" + b",".join(documents) + b"]", content_type="application/json", headers=headers)


def public_origin(request: web.Request) -> str:
    """`scheme://host[:port]` clients reach this server at: CHIRP_PUBLIC_URL when set, else what the request used."""
    public_url: str = request.app[SETTINGS].public_url
    return public_url or f"{request.scheme}://{request.host}"


def _flatten(prefix: str, value: Any, into: dict[str, list[Any]], depth: int = 1) -> None:
    """JSON bodies nest (`{"source": {"privacy": ...}}`); forms write `source[privacy]`. Keep one form.

    A JSON list is kept under `name[]`, as a form writes it, so that a getter of one value can refuse it."""
    if depth > MAX_JSON_DEPTH:
        raise ApiError(400, f"The request body nests deeper than {MAX_JSON_DEPTH} levels (at {prefix})")
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}[{key}]" if prefix else str(key), inner, into, depth + 1)
    elif isinstance(value, list):
        if any(isinstance(item, dict | list) for item in value):
            _check_depth(prefix, value, depth)
        into.setdefault(prefix if prefix.endswith("[]") else f"{prefix}[]", []).extend(value)
    else:
        into.setdefault(prefix, []).append(value)


def _check_depth(prefix: str, value: Any, depth: int) -> None:
    """Lists of objects are kept whole; they too must not nest without end."""
    if depth > MAX_JSON_DEPTH:
        raise ApiError(400, f"The request body nests deeper than {MAX_JSON_DEPTH} levels (at {prefix})")
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        if isinstance(item, dict | list):
            _check_depth(prefix, item, depth + 1)


def decode_text(name: str, raw: bytes) -> str:
    """Bytes a client sent for `name` as text: UTF-8 or a 400 naming the field, never replaced."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, f"{name or 'A parameter name'} is not valid UTF-8") from None


def parse_urlencoded(raw: bytes) -> list[tuple[str, str]]:
    """`a=1&b=%C3%A9` (a form body or a query string) as pairs; `+` is a space; escapes must make UTF-8."""
    pairs: list[tuple[str, str]] = []
    for piece in raw.split(b"&"):
        if not piece:
            continue
        if len(pairs) >= MAX_FORM_FIELDS:
            raise ApiError(413, f"Too many parameters (the limit is {MAX_FORM_FIELDS})")
        key, _, value = piece.partition(b"=")
        name = decode_text("", unquote_to_bytes(key.replace(b"+", b" ")))
        pairs.append((name, decode_text(name, unquote_to_bytes(value.replace(b"+", b" ")))))
    return pairs


def storable(name: str, value: str) -> str:
    """`value`, when PostgreSQL can store it; a 422 naming the field when it holds NUL or a lone surrogate."""
    if _UNSTORABLE.search(value):
        raise validation_error(name, "contains a character that is not allowed (NUL or a lone surrogate)")
    return value


def whole_number(value: Any) -> int | None:
    """An integer from a JSON number or from ASCII digits (with a sign); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()) and len(value.strip()) <= 20:
        return int(value.strip())
    return None


class Params:
    """Request parameters by name (`name[]` and `name` are the same), with validating getters."""

    def __init__(self, values: Mapping[str, list[Any]], lists: Iterable[str] = ()) -> None:
        self._values: dict[str, list[Any]] = {}
        self._lists = set(lists)  # names sent as lists (`name[]`, a JSON array): not single values
        for key, items in values.items():
            name = key[:-2] if key.endswith("[]") else key
            if name != key:
                self._lists.add(name)
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
        lists = (self._lists - other._values.keys()) | other._lists
        return Params({**self._values, **other._values}, lists)

    def names(self) -> list[str]:
        """Every parameter name given (`a[]` as `a`), for families like `fields_attributes[0][name]`."""
        return list(self._values)

    def values(self, name: str) -> list[Any]:
        """Every value given for `name`, as sent (a JSON list of objects stays a list of dicts)."""
        return list(self._values.get(name, []))

    def raw(self, name: str) -> Any:
        """The one value of `name` (the last, when a query repeats it); a list sent for it is a 422."""
        items = self._values.get(name)
        if not items:
            return None
        if name in self._lists:
            raise validation_error(name, "must be a single value, not a list")
        return items[-1]

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
        storable(name, value)
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
        return [storable(name, str(item)) for item in items if str(item) != ""]

    def integer(self, name: str, *, default: int, low: int, high: int, clamp: bool = False) -> int:
        value = self.raw(name)
        if value is None or value == "":
            return default
        number = whole_number(value)
        if number is None:
            raise validation_error(name, "must be a whole number")
        if clamp:
            return min(max(number, low), high)
        if not low <= number <= high:
            raise validation_error(name, f"must be between {low} and {high}")
        return number

    def number(self, name: str, *, low: float, high: float) -> float | None:
        value = self.raw(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or (isinstance(value, str) and not value.isascii()):
            raise validation_error(name, "must be a number")
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


def query_params(request: web.Request) -> Params:
    """The query string's parameters, decoded strictly (aiohttp's `request.query` replaces bad UTF-8)."""
    return Params.from_pairs(parse_urlencoded(request.rel_url.raw_query_string.encode("latin-1")))


async def read_params(request: web.Request) -> Params:
    """Query string and body parameters of any encoding Mastodon clients use, body winning."""
    query = query_params(request)
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
    if content_type == "application/x-www-form-urlencoded":
        return query.merged(Params.from_pairs(parse_urlencoded(await request.read())))
    if content_type == "multipart/form-data":
        return query.merged(Params.from_pairs(await _multipart_pairs(request)))
    if not await request.read():
        return query
    raise ApiError(415, f"Unsupported content type {content_type!r}: send JSON or a form")


def _malformed_multipart(problem: object) -> ApiError:
    return ApiError(400, f"The multipart/form-data body is malformed: {problem}"[:300])


async def _multipart_pairs(request: web.Request) -> list[tuple[str, Any]]:
    """The fields of a multipart body (text, or bytes for parts that are not text), within the body limit."""
    limit = request.client_max_size
    pairs: list[tuple[str, Any]] = []
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise _malformed_multipart("nested multipart parts are not supported")
            if not part.name:
                raise _malformed_multipart("a part has no name")
            if len(pairs) >= MAX_FORM_FIELDS:
                raise ApiError(413, f"Too many parameters (the limit is {MAX_FORM_FIELDS})")
            raw = bytearray()
            while chunk := await part.read_chunk():
                if 0 < limit < request.content.total_bytes:
                    raise web.HTTPRequestEntityTooLarge(limit, request.content.total_bytes)
                raw.extend(chunk)
            data = b"".join([piece async for piece in part.decode_iter(bytes(raw))])
            content_type = part.headers.get("Content-Type")
            if content_type is None or content_type.startswith("text/"):
                pairs.append((part.name, decode_text(part.name, data)))
            else:
                pairs.append((part.name, data))
    except (ValueError, LookupError, RuntimeError, AssertionError, HttpProcessingError) as exc:
        raise _malformed_multipart(exc) from None
    return pairs
