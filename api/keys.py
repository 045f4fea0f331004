"""Typed keys for what the application holds: each resource is opened and closed in a cleanup_ctx."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web
from meilisearch_python_sdk import AsyncClient as MeiliClient

from config import Settings
from core.ids import IdGenerator
from realtime.hub import Hub
from storage.keys import Valkey
from storage.resources import Resources


class Lifecycle:
    """Where the process is in its life: `draining` from SIGTERM on, so readiness fails before it stops."""

    def __init__(self) -> None:
        self.draining = False


SETTINGS = web.AppKey("settings", Settings)
LIFECYCLE = web.AppKey("lifecycle", Lifecycle)
DATABASE = web.AppKey("database", asyncpg.Pool)
REPLICAS: web.AppKey[list[asyncpg.Pool]] = web.AppKey("replicas")
REDIS: web.AppKey[Valkey] = web.AppKey("redis")  # one Valkey or a Valkey Cluster
MEILI = web.AppKey("meili", MeiliClient)
S3 = web.AppKey("s3", Any)  # aiobotocore's S3 client has no importable class to name
IDS = web.AppKey("ids", IdGenerator)
# Everything above in one bundle, for the domain functions that take several of them.
RESOURCES = web.AppKey("resources", Resources)
# The process's pub/sub hub, opened after the stores it uses (`app.hub.hub_ctx`).
HUB = web.AppKey("hub", Hub)
