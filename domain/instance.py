"""The server as clients discover it: Mastodon's Instance entity (v1 and v2) and its limits.

Clients read `version` to decide which API features exist, so it names the Mastodon release whose API
Chirp follows, then Chirp's own version, as other compatible servers do.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import orjson
from redis.exceptions import RedisError

from config import Settings
from domain.media import DESCRIPTION_MAX
from domain.media_processing import ACCEPTED_TYPES, IMAGE_MATRIX_LIMIT
from storage import accounts as account_store
from storage.resources import Resources

log = logging.getLogger("chirp.instance")

MASTODON_API_VERSION = "4.5.0"
MASTODON_API_LEVEL = 7  # `api_versions.mastodon` that Mastodon 4.5 reports
STATS_CACHE_KEY = "chirp:instance:stats"
STATS_CACHE_SECONDS = 60  # counting every account on each client start would not scale

CHARACTERS_RESERVED_PER_URL = 23
MAX_MEDIA_ATTACHMENTS = 4
VIDEO_FRAME_RATE_LIMIT = 60


@functools.cache  # looking up package metadata scans sys.path: once per process is enough
def chirp_version() -> str:
    try:
        return metadata.version("chirp")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


def version_string() -> str:
    return f"{MASTODON_API_VERSION} (compatible; Chirp {chirp_version()})"


@dataclass(frozen=True)
class InstanceStats:
    users: int
    active_month: int
    posts: int


async def instance_stats(res: Resources) -> InstanceStats:
    """Counts for the instance entity, cached briefly in Valkey; straight from PostgreSQL when Valkey is down."""
    try:
        cached = await res.redis.get(STATS_CACHE_KEY)
    except (RedisError, OSError) as exc:
        log.warning("instance stats cache unavailable: %s", exc)
        cached = None
    if cached:
        return InstanceStats(**orjson.loads(cached))
    row = await account_store.account_stats(res.db)
    stats = InstanceStats(users=row["users"], active_month=row["active_month"], posts=row["posts"])
    try:
        await res.redis.set(STATS_CACHE_KEY, orjson.dumps(stats.__dict__), ex=STATS_CACHE_SECONDS)
    except (RedisError, OSError) as exc:
        log.warning("instance stats cache unavailable: %s", exc)
    return stats


def _media_configuration(settings: Settings) -> dict[str, Any]:
    """The limits the media pipeline really applies, so clients can check before uploading."""
    return {
        "supported_mime_types": [file_type.mime for file_type in ACCEPTED_TYPES],
        "description_limit": DESCRIPTION_MAX,
        "image_size_limit": settings.media_image_max_bytes,
        "image_matrix_limit": IMAGE_MATRIX_LIMIT,
        "video_size_limit": settings.media_video_max_bytes,
        "video_frame_rate_limit": VIDEO_FRAME_RATE_LIMIT,
        "video_matrix_limit": IMAGE_MATRIX_LIMIT,
    }


def _statuses_configuration(settings: Settings) -> dict[str, Any]:
    return {
        "max_characters": settings.post_max_chars,
        "max_media_attachments": MAX_MEDIA_ATTACHMENTS,
        "characters_reserved_per_url": CHARACTERS_RESERVED_PER_URL,
    }


def _polls_configuration() -> dict[str, Any]:
    # Mastodon's defaults: clients assume the block exists even where polls are not offered.
    return {"max_options": 4, "max_characters_per_option": 50, "min_expiration": 300, "max_expiration": 2_629_746}


def _reactions_configuration(settings: Settings) -> dict[str, Any]:
    """How many reactions one account may leave on a post (one of each), and their names: the names are
    Chirp's addition, so clients offer exactly the reactions `PUT .../reactions/:name` accepts."""
    return {"max_reactions": len(settings.reactions), "names": list(settings.reactions)}


def _accounts_configuration() -> dict[str, Any]:
    return {"max_featured_tags": 0, "max_pinned_statuses": 0}


def _description(settings: Settings) -> str:
    return f"{settings.instance_title}: a small, fast microblogging server"


def _contact_email(domain: str) -> str:
    return f"admin@{domain.split(':', 1)[0]}"


def instance_v1(
    settings: Settings, stats: InstanceStats, *, domain: str, origin: str, streaming: str
) -> dict[str, Any]:
    """GET /api/v1/instance (Mastodon's V1::Instance)."""
    return {
        "uri": domain,
        "title": settings.instance_title,
        "short_description": _description(settings),
        "description": _description(settings),
        "email": _contact_email(domain),
        "version": version_string(),
        "urls": {"streaming_api": streaming},
        "stats": {"user_count": stats.users, "status_count": stats.posts, "domain_count": 0},
        "thumbnail": f"{origin}/thumbnail.png",
        "languages": ["en"],
        "registrations": True,
        "approval_required": False,
        "invites_enabled": False,
        "configuration": {
            "accounts": _accounts_configuration(),
            "statuses": _statuses_configuration(settings),
            "media_attachments": _media_configuration(settings),
            "polls": _polls_configuration(),
            "reactions": _reactions_configuration(settings),
        },
        "contact_account": None,
        "rules": [],
    }


def instance_v2(
    settings: Settings, stats: InstanceStats, *, domain: str, origin: str, streaming: str
) -> dict[str, Any]:
    """GET /api/v2/instance (Mastodon's Instance)."""
    return {
        "domain": domain,
        "title": settings.instance_title,
        "version": version_string(),
        "source_url": settings.source_url or origin,
        "description": _description(settings),
        "usage": {"users": {"active_month": stats.active_month}},
        "thumbnail": {"url": f"{origin}/thumbnail.png"},
        "icon": [],
        "languages": ["en"],
        "configuration": {
            "urls": {"streaming": streaming, "status": None},
            "vapid": {"public_key": ""},
            "accounts": _accounts_configuration(),
            "statuses": _statuses_configuration(settings),
            "media_attachments": _media_configuration(settings),
            "polls": _polls_configuration(),
            "reactions": _reactions_configuration(settings),
            "translation": {"enabled": False},
            "limited_federation": False,
        },
        "registrations": {
            "enabled": True,
            "approval_required": False,
            "reason_required": False,
            "message": None,
            "min_age": None,
            "url": None,
        },
        "api_versions": {"mastodon": MASTODON_API_LEVEL},
        "contact": {"email": _contact_email(domain), "account": None},
        "rules": [],
    }
