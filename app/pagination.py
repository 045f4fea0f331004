"""The one pagination helper: Mastodon's id cursors (max_id, since_id, min_id, limit) and the Link header.

- max_id: older than this id; since_id: newer than this id, newest first;
- min_id: the page immediately newer than this id (queried oldest first, returned newest first).
Storage functions take a `Page`, put `page.where(column)` in their SQL and `page.order` in ORDER BY, then
hand rows back through `page.arrange`. Handlers send `link_header(...)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from yarl import URL

from app.http import Params


@dataclass(frozen=True)
class Page:
    limit: int = 20
    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None

    @property
    def lower(self) -> int | None:
        """The exclusive lower bound: min_id wins over since_id, as in Mastodon."""
        return self.min_id if self.min_id is not None else self.since_id

    @property
    def ascending(self) -> bool:
        return self.min_id is not None

    @property
    def order(self) -> str:
        """For ORDER BY: a literal, never user input."""
        return "ASC" if self.ascending else "DESC"

    def where(self, column: str, first_arg: int) -> tuple[str, list[int | None]]:
        """`column < $n AND column > $n+1` with the bounds as arguments; NULL bounds match everything."""
        clause = (
            f"(${first_arg}::bigint IS NULL OR {column} < ${first_arg}) "
            f"AND (${first_arg + 1}::bigint IS NULL OR {column} > ${first_arg + 1})"
        )
        return clause, [self.max_id, self.lower]

    def contains(self, item_id: int) -> bool:
        return (self.max_id is None or item_id < self.max_id) and (self.lower is None or item_id > self.lower)

    def arrange(self, rows: Sequence[Any]) -> list[Any]:
        """Rows fetched in `order`, returned newest first."""
        return list(reversed(rows)) if self.ascending else list(rows)


def page_params(params: Params, *, default_limit: int = 20, max_limit: int = 40) -> Page:
    return Page(
        limit=params.integer("limit", default=default_limit, low=1, high=max_limit, clamp=True),
        max_id=params.ident("max_id"),
        since_id=params.ident("since_id"),
        min_id=params.ident("min_id"),
    )


def link_header(request: web.Request, cursors: Sequence[int], page: Page) -> dict[str, str]:
    """`Link: <...max_id=oldest>; rel="next", <...min_id=newest>; rel="prev"` for a page's cursors.

    `cursors` are the ids the list is ordered by, newest first (a post id, or a like's or follow's id).
    """
    if not cursors:
        return {}
    base = URL(str(request.url)).with_query(
        {k: v for k, v in request.query.items() if k not in ("max_id", "min_id", "since_id")}
    )
    limit = str(page.limit)
    next_url = base.update_query(max_id=str(cursors[-1]), limit=limit)
    prev_url = base.update_query(min_id=str(cursors[0]), limit=limit)
    return {"Link": f'<{next_url}>; rel="next", <{prev_url}>; rel="prev"'}
