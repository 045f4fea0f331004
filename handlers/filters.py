"""Keyword filters: Mastodon's v2 filters (with keywords and posts) and the v1 filters mapped onto them.
HTTP only; matching is in domain/filters.py, where it applies in domain/visibility.py."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from api.auth import require_user
from api.http import Params, json_response, read_params
from api.keys import RESOURCES
from api.openapi import array, body, errors, obj, ok, operation, path
from api.params import path_id
from core.errors import ApiError, validation_error
from domain import filters as filter_domain
from domain.filters import KeywordChange
from domain.visibility import visible_post
from storage import filters as filter_store

routes = web.RouteTableDef()

_KEYWORD_KEY = re.compile(r"^keywords_attributes\[(\d{1,3})\]\[(id|keyword|whole_word|_destroy)\]$")
_TRUE = (True, "true", "1", 1, "on")


def _flag(value: Any) -> bool | None:
    return None if value is None else value in _TRUE


def _keyword_changes(params: Params) -> list[KeywordChange]:
    """`keywords_attributes` as a JSON list of objects, or form keys `keywords_attributes[i][keyword]`."""
    given: dict[int, dict[str, Any]] = {}
    for key in params.names():
        match = _KEYWORD_KEY.match(key)
        if match:
            given.setdefault(int(match.group(1)), {})[match.group(2)] = params.raw(key)
    items = [given[i] for i in sorted(given)] + params.values("keywords_attributes")
    changes = []
    for item in items:
        if not isinstance(item, dict):
            raise validation_error("keywords_attributes", "must be a list of objects with keyword and whole_word")
        raw_id, keyword = item.get("id"), item.get("keyword")
        if keyword is not None and not isinstance(keyword, str):
            raise validation_error("keywords_attributes", "keyword must be a string")
        if raw_id is not None and not str(raw_id).isdigit():
            raise validation_error("keywords_attributes", "id must be a filter keyword's id")
        changes.append(
            KeywordChange(
                keyword,
                _flag(item.get("whole_word")),
                int(raw_id) if raw_id else None,
                bool(_flag(item.get("_destroy"))),
            )
        )
    return changes


def _draft(params: Params) -> filter_domain.FilterDraft:
    context = params.strings("context", max_items=len(filter_domain.CONTEXTS) * 2) if "context" in params else None
    return filter_domain.FilterDraft(
        title=params.text("title", max_length=200),
        context=context,
        action=params.choice("filter_action", filter_domain.ACTIONS),
        expires_in=params.integer("expires_in", default=0, low=0, high=filter_domain.MAX_EXPIRES_IN)
        if params.raw("expires_in") not in (None, "")
        else None,
        change_expiry="expires_in" in params,
        keywords=_keyword_changes(params),
    )


@routes.get("/api/v2/filters")
async def list_filters(request: web.Request) -> web.Response:
    user = await require_user(request, "read:filters")
    return json_response(await filter_domain.list_filters(request.app[RESOURCES], user.account_id))


@routes.post("/api/v2/filters")
async def create_filter(request: web.Request) -> web.Response:
    user = await require_user(request, "write:filters")
    draft = _draft(await read_params(request))
    return json_response(await filter_domain.create_filter(request.app[RESOURCES], user.account_id, draft))


@routes.get(r"/api/v2/filters/{id:\d+}")
async def get_filter(request: web.Request) -> web.Response:
    user = await require_user(request, "read:filters")
    return json_response(await filter_domain.get_filter(request.app[RESOURCES], user.account_id, path_id(request)))


@routes.put(r"/api/v2/filters/{id:\d+}")
async def update_filter(request: web.Request) -> web.Response:
    user = await require_user(request, "write:filters")
    draft = _draft(await read_params(request))
    res = request.app[RESOURCES]
    return json_response(await filter_domain.update_filter(res, user.account_id, path_id(request), draft))


@routes.delete(r"/api/v2/filters/{id:\d+}")
async def delete_filter(request: web.Request) -> web.Response:
    user = await require_user(request, "write:filters")
    await filter_domain.delete_filter(request.app[RESOURCES], user.account_id, path_id(request))
    return json_response({})


@routes.get(r"/api/v2/filters/{id:\d+}/keywords")
async def filter_keywords(request: web.Request) -> web.Response:
    user = await require_user(request, "read:filters")
    entity = await filter_domain.get_filter(request.app[RESOURCES], user.account_id, path_id(request))
    return json_response(entity["keywords"])


@routes.post(r"/api/v2/filters/{id:\d+}/keywords")
async def add_keyword(request: web.Request) -> web.Response:
    user = await require_user(request, "write:filters")
    params = await read_params(request)
    keyword = params.required_text("keyword", max_length=filter_domain.KEYWORD_MAX)
    whole_word = params.boolean("whole_word", default=True)
    res = request.app[RESOURCES]
    return json_response(await filter_domain.add_keyword(res, user.account_id, path_id(request), keyword, whole_word))


@routes.get(r"/api/v2/filters/keywords/{id:\d+}")
async def get_keyword(request: web.Request) -> web.Response:
    user = await require_user(request, "read:filters")
    return json_response(await filter_domain.get_keyword(request.app[RESOURCES], user.account_id, path_id(request)))


@routes.put(r"/api/v2/filters/keywords/{id:\d+}")
async def update_keyword(request: web.Request) -> web.Response:
    user = await require_user(request, "write:filters")
    params = await read_params(request)
    keyword = params.text("keyword", max_length=filter_domain.KEYWORD_MAX)
    whole_word = params.boolean("whole_word") if "whole_word" in params else None
    res = request.app[RESOURCES]
    return json_response(
        await filter_domain.update_keyword(res, user.account_id, path_id(request), keyword, whole_word)
    )


@routes.delete(r"/api/v2/filters/keywords/{id:\d+}")
async def delete_keyword(request: web.Request) -> web.Response:
    user = await require_user(request, "write:filters")
    if not await filter_store.delete_keyword(request.app[RESOURCES].db, path_id(request), user.account_id):
        raise ApiError(404)  # none, or another user's: the same answer (Mastodon's RecordNotFound)
    return json_response({})


@routes.get(r"/api/v2/filters/{id:\d+}/statuses")
async def filter_statuses(request: web.Request) -> web.Response:
    user = await require_user(request, "read:filters")
    entity = await filter_domain.get_filter(request.app[RESOURCES], user.account_id, path_id(request))
    return json_response(entity["statuses"])


@routes.post(r"/api/v2/filters/{id:\d+}/statuses")
async def add_status(request: web.Request) -> web.Response:
    user = await require_user(request, "write:filters")
    params = await read_params(request)
    status_id = params.ident("status_id", required=True)
    assert status_id is not None
    res = request.app[RESOURCES]
    post = await visible_post(res, status_id, user.account_id)
    return json_response(await filter_domain.add_status(res, user.account_id, path_id(request), post.id))


@routes.get(r"/api/v2/filters/statuses/{id:\d+}")
async def get_status(request: web.Request) -> web.Response:
    user = await require_user(request, "read:filters")
    return json_response(await filter_domain.get_status(request.app[RESOURCES], user.account_id, path_id(request)))


@routes.delete(r"/api/v2/filters/statuses/{id:\d+}")
async def delete_status(request: web.Request) -> web.Response:
    user = await require_user(request, "write:filters")
    if not await filter_store.delete_status(request.app[RESOURCES].db, path_id(request), user.account_id):
        raise ApiError(404)  # none, or another user's: the same answer (Mastodon's RecordNotFound)
    return json_response({})


# v1 -----------------------------------------------------------------------------------------------------


@routes.get("/api/v1/filters")
async def list_v1(request: web.Request) -> web.Response:
    user = await require_user(request, "read:filters")
    filters = await filter_domain.list_filters(request.app[RESOURCES], user.account_id)
    return json_response(filter_domain.v1_entities(filters))


@routes.post("/api/v1/filters")
async def create_v1(request: web.Request) -> web.Response:
    user = await require_user(request, "write:filters")
    params = await read_params(request)
    created = await filter_domain.create_v1(
        request.app[RESOURCES],
        user.account_id,
        phrase=params.required_text("phrase", max_length=filter_domain.KEYWORD_MAX),
        context=filter_domain.check_context(params.strings("context", max_items=10), required=True),
        whole_word=params.boolean("whole_word", default=True),
        irreversible=params.boolean("irreversible"),
        expires_in=params.integer("expires_in", default=0, low=0, high=filter_domain.MAX_EXPIRES_IN),
    )
    return json_response(created)


@routes.get(r"/api/v1/filters/{id:\d+}")
async def get_v1(request: web.Request) -> web.Response:
    user = await require_user(request, "read:filters")
    return json_response(await filter_domain.v1_filter(request.app[RESOURCES], user.account_id, path_id(request)))


@routes.put(r"/api/v1/filters/{id:\d+}")
async def update_v1(request: web.Request) -> web.Response:
    user = await require_user(request, "write:filters")
    params = await read_params(request)
    updated = await filter_domain.update_v1(
        request.app[RESOURCES],
        user.account_id,
        path_id(request),
        phrase=params.text("phrase", max_length=filter_domain.KEYWORD_MAX),
        context=params.strings("context", max_items=10) if "context" in params else None,
        whole_word=params.boolean("whole_word") if "whole_word" in params else None,
        irreversible=params.boolean("irreversible") if "irreversible" in params else None,
        expires_in=params.integer("expires_in", default=0, low=0, high=filter_domain.MAX_EXPIRES_IN),
        change_expiry="expires_in" in params,
    )
    return json_response(updated)


@routes.delete(r"/api/v1/filters/{id:\d+}")
async def delete_v1(request: web.Request) -> web.Response:
    user = await require_user(request, "write:filters")
    await filter_domain.delete_v1(request.app[RESOURCES], user.account_id, path_id(request))
    return json_response({})


# OpenAPI ---------------------------------------------------------------------------------------------

_TAGS = ("filters",)
_ID = [path("id")]
_STRING = {"type": "string"}
_FILTER = obj(
    {
        "id": _STRING,
        "title": _STRING,
        "context": array({"type": "string", "enum": list(filter_domain.CONTEXTS)}),
        "expires_at": {"type": ["string", "null"]},
        "filter_action": {"type": "string", "enum": list(filter_domain.ACTIONS)},
        "keywords": array(obj({"id": _STRING, "keyword": _STRING, "whole_word": {"type": "boolean"}})),
        "statuses": array(obj({"id": _STRING, "status_id": _STRING})),
    },
    description="Mastodon's v2 Filter",
)
_V1 = obj(
    {"id": _STRING, "phrase": _STRING, "context": array(_STRING), "whole_word": {"type": "boolean"}},
    required=[],
    description="Mastodon's v1 Filter: one keyword of a v2 filter (its id is the keyword's)",
)
_BODY = body(
    obj(
        {
            "title": _STRING,
            "context": array(_STRING),
            "filter_action": _STRING,
            "expires_in": {"type": "integer"},
            "keywords_attributes": array(obj({"keyword": _STRING, "whole_word": {"type": "boolean"}}, required=[])),
        },
        required=[],
    )
)


def _op(
    summary: str,
    schema: dict[str, Any],
    *,
    write: bool,
    with_id: bool,
    has_body: bool = False,
    request: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`has_body`: a filter's body; `request`: another body."""
    return operation(
        summary,
        {"200": ok(schema), **errors(401, 403, 404, 422)},
        scopes=["write:filters" if write else "read:filters"],
        parameters=_ID if with_id else (),
        request_body=request or (_BODY if has_body else None),
        tags=_TAGS,
    )


_EMPTY = obj({}, required=[])
_KEYWORD = obj({"id": _STRING, "keyword": _STRING, "whole_word": {"type": "boolean"}})
_STATUS = obj({"id": _STRING, "status_id": _STRING})

OPENAPI_COMPONENTS: dict[str, Any] = {}
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v2/filters": {
        "get": _op("Your live filters", array(_FILTER), write=False, with_id=False),
        "post": _op("Create a filter (unknown contexts are a 422)", _FILTER, write=True, with_id=False, has_body=True),
    },
    "/api/v2/filters/{id}": {
        "get": _op("One filter", _FILTER, write=False, with_id=True),
        "put": _op("Change a filter and its keywords", _FILTER, write=True, with_id=True, has_body=True),
        "delete": _op("Delete a filter", _EMPTY, write=True, with_id=True),
    },
    "/api/v2/filters/{id}/keywords": {
        "get": _op("A filter's keywords", array(_KEYWORD), write=False, with_id=True),
        "post": _op("Add a keyword", _KEYWORD, write=True, with_id=True),
    },
    "/api/v2/filters/keywords/{id}": {
        "get": _op("One keyword of a filter", _KEYWORD, write=False, with_id=True),
        "put": _op(
            "Change a keyword (what is not given stays)",
            _KEYWORD,
            write=True,
            with_id=True,
            request=body(obj({"keyword": _STRING, "whole_word": {"type": "boolean"}}, required=[])),
        ),
        "delete": _op("Delete a keyword", _EMPTY, write=True, with_id=True),
    },
    "/api/v2/filters/{id}/statuses": {
        "get": _op("A filter's posts", array(_STATUS), write=False, with_id=True),
        "post": _op("Add a post to a filter", _STATUS, write=True, with_id=True),
    },
    "/api/v2/filters/statuses/{id}": {
        "get": _op("One post of a filter", _STATUS, write=False, with_id=True),
        "delete": _op("Take a post out of a filter", _EMPTY, write=True, with_id=True),
    },
    "/api/v1/filters": {
        "get": _op("Your filters, v1 (a keyword each)", array(_V1), write=False, with_id=False),
        "post": _op("Create a v1 filter (a v2 filter with one keyword)", _V1, write=True, with_id=False),
    },
    "/api/v1/filters/{id}": {
        "get": _op("One v1 filter", _V1, write=False, with_id=True),
        "put": _op("Change a v1 filter", _V1, write=True, with_id=True),
        "delete": _op("Delete a v1 filter", _EMPTY, write=True, with_id=True),
    },
}
