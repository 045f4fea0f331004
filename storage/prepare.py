"""Everything a fresh set of servers needs before Chirp serves from them: the schema, the media bucket, the indexes.

`chirp migrate`, `chirp run`, the tests and the benchmarks all prepare stores through this one function.
"""

from __future__ import annotations

import logging

from config import Settings
from storage.migrations import apply_migrations
from storage.objects import ensure_bucket
from storage.resources import open_meili, open_s3
from storage.search_indexes import ensure_indexes

log = logging.getLogger("chirp")


async def prepare_stores(settings: Settings) -> None:
    """Migrations, the media bucket, the search indexes: everything a fresh set of servers needs."""
    applied = await apply_migrations(settings.session_database_url)  # its lock holds a session
    log.info("database schema up to date (%d migrations applied now)", len(applied))
    async with open_s3(settings) as s3:
        if await ensure_bucket(s3, settings.s3_bucket):
            log.info("created bucket %s", settings.s3_bucket)
    async with open_meili(settings) as meili:
        for uid in await ensure_indexes(meili, settings):
            log.info("created search index %s", uid)
