"""Every HTTP route of the API, gathered from the handler modules."""

from __future__ import annotations

import functools

import orjson
from aiohttp import web

from api.openapi import Spec, build_document
from domain.instance import chirp_version
from domain.oauth import ALL_SCOPES
from handlers import (
    accounts,
    admin,  # moderation (issue 22)
    announcements,
    apps,
    bookmarks,
    conversations,
    discovery,
    edits,
    featured_tags,  # discovery (issue 24)
    filters,
    follows,
    health,
    instance,
    likes,
    lists,  # organizing (issue 24)
    markers,
    media,
    media_upload,
    notification_groups,
    notifications,
    oauth,
    openapi,
    people,  # discovery (issue 24)
    polls,
    reports,
    reposts,
    safety,
    scheduled,
    search,
    statuses,
    streaming,
    tags,  # organizing (issue 24)
    timelines,
    trends,  # discovery (issue 24)
    web_client,
)

# Each module exports `routes` and documents them in OPENAPI_PATHS (see app/openapi.py); add new ones here.
ROUTE_MODULES = (
    health,
    openapi,
    instance,
    discovery,
    announcements,
    apps,
    oauth,
    accounts,
    statuses,
    # issue 23 (conversations): edits, polls, direct messages, scheduled posts
    edits,
    conversations,
    polls,
    scheduled,
    likes,
    reposts,
    follows,
    media,
    media_upload,
    search,
    notification_groups,
    notifications,
    markers,
    streaming,
    timelines,
    # issue 22 (safety): blocks, mutes, notes, filters, reports
    safety,
    filters,
    reports,
    # issue 22 (moderation): the admin API for reports and accounts
    admin,
    # organizing (issue 24): bookmarks, pins, endorsements; lists; followed hashtags
    bookmarks,
    lists,
    tags,
    # discovery (issue 24): featured hashtags, people search, directory, suggestions, trends
    featured_tags,
    people,
    trends,
    web_client,
)


@functools.cache
def openapi_document() -> Spec:
    """The OpenAPI document of every route mounted here."""
    return build_document(ROUTE_MODULES, version=chirp_version(), scopes=ALL_SCOPES)


def setup_routes(app: web.Application) -> None:
    for module in ROUTE_MODULES:
        app.router.add_routes(module.routes)
    app[openapi.OPENAPI_DOCUMENT] = orjson.dumps(openapi_document())
