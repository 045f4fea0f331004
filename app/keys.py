"""Typed keys for what the application holds: each resource is opened and closed in a cleanup_ctx."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web
from meilisearch_python_sdk import AsyncClient as MeiliClient
from redis.asyncio import Redis

from app.ids import IdGenerator
from app.resources import Resources
from config import Settings

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", asyncpg.Pool)
REDIS = web.AppKey("redis", Redis)
MEILI = web.AppKey("meili", MeiliClient)
S3 = web.AppKey("s3", Any)  # aiobotocore's S3 client has no importable class to name
IDS = web.AppKey("ids", IdGenerator)
# Everything above in one bundle, for the domain functions that take several of them.
RESOURCES = web.AppKey("resources", Resources)
