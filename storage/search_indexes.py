"""The Meilisearch indexes: their names and their creation."""

from __future__ import annotations

from meilisearch_python_sdk import AsyncClient
from meilisearch_python_sdk.errors import MeilisearchApiError

from config import Settings


def posts_index(settings: Settings) -> str:
    return f"{settings.meili_index_prefix}_posts"


def accounts_index(settings: Settings) -> str:
    return f"{settings.meili_index_prefix}_accounts"


async def ensure_indexes(meili: AsyncClient, settings: Settings) -> list[str]:
    """Create the indexes that do not exist yet; returns the names created."""
    created: list[str] = []
    for uid in (posts_index(settings), accounts_index(settings)):
        try:
            await meili.get_index(uid)
        except MeilisearchApiError as exc:
            if exc.code != "index_not_found":
                raise
            await meili.create_index(uid, primary_key="id", wait=True)
            created.append(uid)
    return created
