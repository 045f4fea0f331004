"""After every write request by a signed-in account, its marks leave every API process's marks cache
(storage/marks_cache.py): a like, a bookmark, a mute or a filter is in the writer's next page at once,
whichever process serves it. One place for all the writer's own writes, so none can be forgotten; the
changes made by someone else (a block, moderation) drop the marks where they are made.

A drop is broadcast, and every API process pays to hear it, so the busiest writes that never change their
writer's marks (a new post, an upload, a read marker) say so with `leaves_marks` and skip it. A write route
is dropped for unless it is declared so: a new one cannot be forgotten either.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler

from api.auth import known_viewer
from api.keys import RESOURCES
from api.read_your_writes import WRITES
from domain.cached_posts import forget_marks

RouteHandler = TypeVar("RouteHandler", bound=Callable[..., Awaitable[web.StreamResponse]])

_LEAVING_MARKS: set[Callable[..., object]] = set()


def leaves_marks(handler: RouteHandler) -> RouteHandler:
    """Declare that this write route never changes what its writer's marks say (`storage.timelines.ViewerMarks`):
    what it creates is new (a post, an upload) or is not a mark (a read marker). Goes under the route's decorator."""
    _LEAVING_MARKS.add(handler)
    return handler


def _changes_marks(request: web.Request) -> bool:
    return request.method in WRITES and request.match_info.handler not in _LEAVING_MARKS


@web.middleware
async def viewer_marks_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    finally:
        # Failed writes too: an error may come after a commit, and a drop costs only the next read's query.
        if _changes_marks(request):
            viewer = known_viewer(request)
            if viewer is not None and viewer.account_id is not None:
                await forget_marks(request.app[RESOURCES], [viewer.account_id])
