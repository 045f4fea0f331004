"""Meilisearch indexes of one test's own: settings with a fresh index prefix, the indexes made, and every
index under that prefix (the live ones and their rebuilds) removed afterwards, so tests that search never
see each other's documents."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

from config import Settings
from storage.resources import open_meili
from storage.search_indexes import ALL_INDEXES, ensure_indexes, index_name


@contextlib.asynccontextmanager
async def fresh_search_indexes(settings: Settings, **overrides: Any) -> AsyncIterator[Settings]:
    """`settings` with indexes of their own (rate limits off, and `overrides`), removed on the way out."""
    scoped = dataclasses.replace(
        settings, meili_index_prefix=f"t{uuid.uuid4().hex[:12]}", rate_limit_enabled=False, **overrides
    )
    async with open_meili(scoped) as meili:
        await ensure_indexes(meili, scoped)
    try:
        yield scoped
    finally:
        async with open_meili(scoped) as meili:
            for spec in ALL_INDEXES:
                for rebuild in (False, True):
                    with contextlib.suppress(Exception):
                        await meili.index(index_name(scoped, spec, rebuild=rebuild)).delete()
