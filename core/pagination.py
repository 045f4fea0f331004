"""A page of a list by Mastodon's id cursors (max_id, since_id, min_id, limit), for the SQL that reads it.

- max_id: older than this id; since_id: newer than this id, newest first;
- min_id: the page immediately newer than this id (queried oldest first, returned newest first).
Storage functions take a `Page`, put `page.where(column)` in their SQL and `page.order` in ORDER BY, then
hand rows back through `page.arrange`. `api.pagination` reads a `Page` from a request and writes the Link header.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


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
