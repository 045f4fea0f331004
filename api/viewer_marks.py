"""After every write request by a signed-in account, its marks leave every API process's marks cache
(storage/marks_cache.py): a like, a bookmark, a mute or a filter is in the writer's next page at once,
whichever process serves it. One place for all the writer's own writes, so none can be forgotten; the
changes made by someone else (a block, moderation) drop the marks where they are made."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from api.auth import known_viewer
from api.keys import RESOURCES
from api.read_your_writes import WRITES
from domain.cached_posts import forget_marks


@web.middleware
async def viewer_marks_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    finally:
        # Failed writes too: an error may come after a commit, and a drop costs only the next read's query.
        if request.method in WRITES:
            viewer = known_viewer(request)
            if viewer is not None and viewer.account_id is not None:
                await forget_marks(request.app[RESOURCES], [viewer.account_id])
