"""A `Page` from a request's cursors, and the `Link` header that points to the next and previous pages."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from aiohttp import web
from yarl import URL

from api.http import Params, public_origin
from core.pagination import Page


def page_params(params: Params, *, default_limit: int = 20, max_limit: int = 40) -> Page:
    return Page(
        limit=params.integer("limit", default=default_limit, low=1, high=max_limit, clamp=True),
        max_id=params.ident("max_id"),
        since_id=params.ident("since_id"),
        min_id=params.ident("min_id"),
    )


def link_header(request: web.Request, cursors: Sequence[int], page: Page) -> dict[str, str]:
    """`Link: <...max_id=oldest>; rel="next", <...min_id=newest>; rel="prev"` for a page's cursors.

    `cursors` are the ids the list is ordered by, newest first (a post id, or a like's or follow's id). The
    links are on the address clients reach the server at (CHIRP_PUBLIC_URL when set, behind a proxy).
    """
    if not cursors:
        return {}
    kept = {k: v for k, v in request.query.items() if k not in ("max_id", "min_id", "since_id")}
    base = _base_url(public_origin(request), request.rel_url.raw_path, tuple(kept.items()))
    limit = str(page.limit)
    next_url = base.update_query(max_id=str(cursors[-1]), limit=limit)
    prev_url = base.update_query(min_id=str(cursors[0]), limit=limit)
    return {"Link": f'<{next_url}>; rel="next", <{prev_url}>; rel="prev"'}


@functools.lru_cache(maxsize=1024)
def _base_url(origin: str, raw_path: str, query: tuple[tuple[str, str], ...]) -> URL:
    """A list's address without its cursors: the same for every page a client reads of it (URLs are
    immutable), so it is parsed and encoded once, not per page."""
    return URL(f"{origin}{raw_path}", encoded=True).with_query(dict(query))


def offset_link_header(request: web.Request, *, offset: int, limit: int, returned: int) -> dict[str, str]:
    """`Link` for lists paged by `offset` (search, trends, the directory, as Mastodon's): `next` when the
    page came back full, `prev` when it did not start at the top."""
    base = URL(f"{public_origin(request)}{request.rel_url.raw_path}", encoded=True).with_query(
        {k: v for k, v in request.query.items() if k not in ("offset", "limit")}
    )
    links = []
    if returned >= limit:
        links.append(f'<{base.update_query(offset=str(offset + limit), limit=str(limit))}>; rel="next"')
    if offset > 0:
        links.append(f'<{base.update_query(offset=str(max(offset - limit, 0)), limit=str(limit))}>; rel="prev"')
    return {"Link": ", ".join(links)} if links else {}
