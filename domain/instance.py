"""The server as clients discover it: Mastodon's Instance entity (v1 and v2) and its limits.

Clients read `version` to decide which API features exist, so it names the Mastodon release whose API
Chirp follows, then Chirp's own version, as other compatible servers do.
"""

from __future__ import annotations

import functools
import html
import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata
from typing import Any

import orjson
from PIL import Image, ImageDraw
from redis.exceptions import RedisError

from config import Settings
from core.ids import id_at
from core.times import iso
from domain import polls
from domain.media import DESCRIPTION_MAX
from domain.media_processing import ACCEPTED_TYPES, IMAGE_MATRIX_LIMIT
from storage import accounts as account_store
from storage.resources import Resources

log = logging.getLogger("chirp.instance")

MASTODON_API_VERSION = "4.5.0"
MASTODON_API_LEVEL = 7  # `api_versions.mastodon` that Mastodon 4.5 reports
STATS_CACHE_KEY = "chirp:instance:stats"
STATS_CACHE_SECONDS = 60  # counting every account on each client start would not scale
ACTIVITY_CACHE_KEY = "chirp:instance:activity"
ACTIVITY_CACHE_SECONDS = 600
ACTIVITY_WEEKS = 12  # as Mastodon's /api/v1/instance/activity
THUMBNAIL_SIZE = (1200, 630)

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
    active_halfyear: int = 0  # a default: entries cached by an older process lack it for a minute


async def _cached(res: Resources, key: str) -> bytes | None:
    try:
        cached: bytes | str | None = await res.redis.get(key)
        return cached.encode() if isinstance(cached, str) else cached
    except (RedisError, OSError) as exc:
        log.warning("instance cache unavailable: %s", exc)
        return None


async def _cache(res: Resources, key: str, value: Any, seconds: int) -> None:
    try:
        await res.redis.set(key, orjson.dumps(value), ex=seconds)
    except (RedisError, OSError) as exc:
        log.warning("instance cache unavailable: %s", exc)


async def instance_stats(res: Resources) -> InstanceStats:
    """Counts for the instance entity, cached briefly in Valkey; straight from PostgreSQL when Valkey is down."""
    cached = await _cached(res, STATS_CACHE_KEY)
    if cached:
        return InstanceStats(**orjson.loads(cached))
    row = await account_store.account_stats(res.db)
    stats = InstanceStats(
        users=row["users"], active_month=row["active_month"], posts=row["posts"], active_halfyear=row["active_halfyear"]
    )
    await _cache(res, STATS_CACHE_KEY, stats.__dict__, STATS_CACHE_SECONDS)
    return stats


def _week_starts(now: datetime) -> list[datetime]:
    """Mondays 00:00 UTC of the last ACTIVITY_WEEKS weeks, this week first."""
    monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return [monday - timedelta(weeks=n) for n in range(ACTIVITY_WEEKS)]


async def weekly_activity(res: Resources) -> list[dict[str, str]]:
    """Mastodon's instance activity: posts, sign-ins (accounts given a token) and sign-ups per week, as
    strings. Counted by id ranges (ids begin with their creation time), cached for ten minutes."""
    cached = await _cached(res, ACTIVITY_CACHE_KEY)
    if cached:
        weeks: list[dict[str, str]] = orjson.loads(cached)
        return weeks
    starts = _week_starts(datetime.now(UTC))
    bounds = [(id_at(start), id_at(start + timedelta(weeks=1))) for start in starts]
    counts = await account_store.weekly_activity(res.db, bounds)
    weeks = [
        {
            "week": str(int(start.timestamp())),
            "statuses": str(row["statuses"]),
            "logins": str(row["logins"]),
            "registrations": str(row["registrations"]),
        }
        for start, row in zip(starts, counts, strict=True)
    ]
    await _cache(res, ACTIVITY_CACHE_KEY, weeks, ACTIVITY_CACHE_SECONDS)
    return weeks


@functools.cache
def thumbnail_png() -> bytes:
    """The instance's thumbnail (clients show it on server pickers): the web client's accent colour with a
    white speech bubble, drawn once per process."""
    width, height = THUMBNAIL_SIZE
    image = Image.new("RGB", THUMBNAIL_SIZE, (29, 95, 168))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((width // 2 - 170, height // 2 - 130, width // 2 + 170, height // 2 + 90), 60, fill="white")
    draw.polygon(
        [(width // 2 - 80, height // 2 + 80), (width // 2 - 130, height // 2 + 160), (width // 2, height // 2 + 85)],
        fill="white",
    )
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


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
    return polls.configuration()  # Mastodon's defaults, which check_poll enforces


def _reactions_configuration(settings: Settings) -> dict[str, Any]:
    """How many reactions one account may leave on a post (one of each), and their names: the names are
    Chirp's addition, so clients offer exactly the reactions `PUT .../reactions/:name` accepts."""
    return {"max_reactions": len(settings.reactions), "names": list(settings.reactions)}


def _accounts_configuration() -> dict[str, Any]:
    return {"max_featured_tags": 10, "max_pinned_statuses": 0}


def _description(settings: Settings) -> str:
    return f"{settings.instance_title}: a small, fast microblogging server"


def _contact_email(domain: str) -> str:
    return f"admin@{domain.split(':', 1)[0]}"


# Where clients link to the server's own pages (the web client has none of these; the API documents do).
def _page_urls(origin: str) -> dict[str, Any]:
    return {
        "about": f"{origin}/api/v1/instance/extended_description",
        "privacy_policy": f"{origin}/api/v1/instance/privacy_policy",
        "terms_of_service": None,  # Chirp has none: GET /api/v1/instance/terms_of_service is a 404
    }


_LOADED_AT = datetime.now(UTC)  # the documents below come from the settings this process read


def extended_description(settings: Settings) -> dict[str, Any]:
    """Mastodon's ExtendedDescription: the longer "about" text."""
    return {"updated_at": iso(_LOADED_AT), "content": f"<p>{html.escape(_description(settings))}</p>"}


_PRIVACY_POLICY = (
    "<p>{title} keeps what it needs to run your account and nothing else.</p>"
    "<ul>"
    "<li><strong>Your account</strong>: username, email address, a hash of your password (never the password), "
    "your profile and preferences.</li>"
    "<li><strong>What you post</strong>: posts, media you upload (photo location data is removed), likes, "
    "reactions, reposts and follows. Public posts are visible to anyone; private ones to your followers; "
    "direct ones to the people they mention.</li>"
    "<li><strong>Sign-ins</strong>: the applications you authorize and their access tokens, until you revoke "
    "them.</li>"
    "<li><strong>Rate limiting</strong>: request counts per token or IP address, kept only for the current "
    "window (minutes).</li>"
    "</ul>"
    "<p>Nothing is shared with other servers: this server does not federate.</p>"
)


def privacy_policy(settings: Settings) -> dict[str, Any]:
    """Mastodon's PrivacyPolicy: what this server stores, in plain words."""
    return {
        "updated_at": iso(_LOADED_AT),
        "content": _PRIVACY_POLICY.format(title=html.escape(settings.instance_title)),
    }


def _timelines_access() -> dict[str, Any]:
    """Who may read which feeds (Mastodon 4.5): Chirp's public and hashtag timelines are open to anyone;
    it has no trending links."""
    return {
        "live_feeds": {"local": "public", "remote": "public"},
        "hashtag_feeds": {"local": "public", "remote": "public"},
        "trending_link_feeds": {"local": "disabled", "remote": "disabled"},
    }


NODEINFO_VERSIONS = ("2.0", "2.1")


def nodeinfo_schema(version: str) -> str:
    return f"http://nodeinfo.diaspora.software/ns/schema/{version}"


def nodeinfo(settings: Settings, stats: InstanceStats, version: str, *, origin: str) -> dict[str, Any]:
    """NodeInfo 2.0 or 2.1: what software this is and how busy. `protocols` is empty: Chirp does not federate."""
    software: dict[str, Any] = {"name": "chirp", "version": chirp_version()}
    if version == "2.1":
        software["repository"] = settings.source_url or origin
        software["homepage"] = origin
    return {
        "version": version,
        "software": software,
        "protocols": [],
        "services": {"outbound": [], "inbound": []},
        "usage": {
            "users": {"total": stats.users, "activeMonth": stats.active_month, "activeHalfyear": stats.active_halfyear},
            "localPosts": stats.posts,
        },
        "openRegistrations": True,
        "metadata": {"nodeName": settings.instance_title, "nodeDescription": _description(settings)},
    }


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
        "thumbnail": {"url": f"{origin}/thumbnail.png", "blurhash": None, "versions": {}},
        "icon": [],
        "languages": ["en"],
        "configuration": {
            "urls": {"streaming": streaming, "status": None, **_page_urls(origin)},
            "vapid": {"public_key": ""},
            "accounts": _accounts_configuration(),
            "statuses": _statuses_configuration(settings),
            "media_attachments": _media_configuration(settings),
            "polls": _polls_configuration(),
            "reactions": _reactions_configuration(settings),
            "translation": {"enabled": False},
            "limited_federation": False,
            "timelines_access": _timelines_access(),
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
