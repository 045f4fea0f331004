"""The one settings object: every tunable of Chirp, read from the environment.

Each field names its environment variable and its parser. `Settings.from_env()` validates everything at
start, so a bad value stops the process with a message naming the variable instead of failing later.
The defaults are the development stack's (`make run`): the embedded servers on their fixed ports, or on
the ports CHIRP_STACK_PORT_BASE moves them to.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any
from urllib.parse import urlsplit


class SettingsError(ValueError):
    """A setting has a bad value; the message names the environment variable."""


def _env(name: str, default: Any, parse: Callable[[str], Any]) -> Any:
    """Declare a field read from environment variable `name` with `parse`."""
    return field(default=default, metadata={"env": name, "parse": parse})


def _int_in(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"expected a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"expected a number from {low} to {high}, got {value}")
        return value

    return parse


def _float_in(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"expected a number from {low} to {high}, got {value}")
        return value

    return parse


def _url(*schemes: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        parts = urlsplit(raw)
        if parts.scheme not in schemes or not parts.hostname:
            raise ValueError(f"expected a {' or '.join(schemes)} URL with a host, got {raw!r}")
        return raw.rstrip("/") if parts.scheme.startswith("http") else raw

    return parse


def _urls(*schemes: str) -> Callable[[str], tuple[str, ...]]:
    one = _url(*schemes)

    def parse(raw: str) -> tuple[str, ...]:
        return tuple(one(part.strip()) for part in raw.split(",") if part.strip())

    return parse


def _text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _names(raw: str) -> tuple[str, ...]:
    names = tuple(part.strip().lower() for part in raw.split(",") if part.strip())
    if not names or any(not n.isidentifier() for n in names):
        raise ValueError(f"expected a comma-separated list of names, got {raw!r}")
    return names


def _rate(raw: str) -> tuple[int, int]:
    """`requests/seconds`, e.g. `300/300`."""
    count, slash, seconds = raw.strip().partition("/")
    try:
        parsed = (int(count), int(seconds))
    except ValueError:
        parsed = (0, 0)
    if not slash or not (1 <= parsed[0] <= 10_000_000 and 1 <= parsed[1] <= 86_400):
        raise ValueError(f"expected requests/seconds such as 300/300, got {raw!r}")
    return parsed


def _networks(raw: str) -> tuple[IPv4Network | IPv6Network, ...]:
    """Comma-separated CIDRs or addresses, e.g. `10.0.0.0/8, 192.168.1.7`; empty: none."""
    networks = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            networks.append(ip_network(part))
        except ValueError as exc:
            raise ValueError(f"expected comma-separated CIDRs such as 10.0.0.0/8, got {part!r} ({exc})") from None
    return tuple(networks)


MIB = 1024 * 1024

# The development stack's ports (`make run`); tests start their own servers on free ports. The classic
# layout below is the default; CHIRP_STACK_PORT_BASE=B moves the API and every embedded server together
# to B, B+1, ... (`dev_ports`), so one variable is enough on a machine where these are taken.
DEV_API_PORT = 8080
DEV_POSTGRES_PORT = 55432
DEV_VALKEY_PORT = 16379
DEV_MEILI_PORT = 17700
DEV_S3_PORT = 18333
CLASSIC_DEV_PORTS: dict[str, int] = {
    "api": DEV_API_PORT,
    "postgres": DEV_POSTGRES_PORT,
    "valkey": DEV_VALKEY_PORT,
    "meilisearch": DEV_MEILI_PORT,
    "s3": DEV_S3_PORT,
    # SeaweedFS's own services behind the S3 gateway (each also opens gRPC on its port + 10000).
    "s3_master": 19333,
    "s3_volume": 18080,
    "s3_filer": 18888,
}
PORT_BASE_ENV = "CHIRP_STACK_PORT_BASE"
SEAWEED_GRPC_OFFSET = 10000
# A base leaves room for its 8 consecutive ports and the SeaweedFS gRPC twins (port + 10000 <= 65535).
PORT_BASE_MIN = 1024
PORT_BASE_MAX = 65535 - SEAWEED_GRPC_OFFSET - (len(CLASSIC_DEV_PORTS) - 1)


def dev_ports(base: int = 0) -> dict[str, int]:
    """The development ports (name → number): the classic ones for base 0, else base, base+1, ... in order."""
    if not base:
        return dict(CLASSIC_DEV_PORTS)
    return {name: base + offset for offset, name in enumerate(CLASSIC_DEV_PORTS)}


def _dev_defaults(base: int) -> dict[str, Any]:
    """The defaults of the fields that point at the development stack, for a port base."""
    ports = dev_ports(base)
    return {
        "port": ports["api"],
        "database_url": f"postgresql://postgres@127.0.0.1:{ports['postgres']}/chirp",
        "redis_url": f"redis://127.0.0.1:{ports['valkey']}/0",
        "meili_url": f"http://127.0.0.1:{ports['meilisearch']}",
        "s3_endpoint": f"http://127.0.0.1:{ports['s3']}",
    }


_CLASSIC = _dev_defaults(0)


# The API's accept queue by default (CHIRP_LISTEN_BACKLOG); the benchmarks' bare servers listen alike.
LISTEN_BACKLOG = 4096


@dataclass(frozen=True)
class Settings:
    # The HTTP server.
    host: str = _env("CHIRP_HOST", "127.0.0.1", _text)
    port: int = _env("CHIRP_PORT", _CLASSIC["port"], _int_in(1, 65535))
    public_url: str = _env("CHIRP_PUBLIC_URL", "", _url("http", "https"))
    log_level: str = _env("CHIRP_LOG_LEVEL", "info", _choice("debug", "info", "warning", "error"))
    # "auto": text lines on a terminal, JSON lines otherwise (a log collector); or force one.
    log_format: str = _env("CHIRP_LOG_FORMAT", "auto", _choice("auto", "json", "text"))
    # This process's node id (its Snowflake node and streaming channel, 0-4095). Unset: each process leases
    # a free one at start; set: it leases exactly that one, refused while a live process holds it. The
    # lease lives this long unless the process's heartbeat renews it (storage/node_leases.py).
    node_id: int | None = _env("CHIRP_NODE_ID", None, _int_in(0, 4095))
    node_lease_seconds: float = _env("CHIRP_NODE_LEASE_SECONDS", 30.0, _float_in(3.0, 600.0))
    # Bodies of ordinary requests stay small; only the media upload routes take large ones.
    max_body_bytes: int = _env("CHIRP_MAX_BODY_BYTES", 1 * MIB, _int_in(1024, 64 * MIB))
    upload_max_body_bytes: int = _env("CHIRP_UPLOAD_MAX_BODY_BYTES", 6 * MIB, _int_in(MIB, 1024 * MIB))
    # On SIGTERM, /readyz fails this long before the port closes (balancers notice and stop sending new
    # requests), then in-flight requests get the shutdown timeout to finish.
    drain_seconds: float = _env("CHIRP_DRAIN_SECONDS", 5.0, _float_in(0.0, 600.0))
    shutdown_timeout: float = _env("CHIRP_SHUTDOWN_TIMEOUT", 10.0, _float_in(0.0, 600.0))
    # Connections the kernel holds for the API before it accepts them. aiohttp's 128 overflowed when
    # thousands of streams reconnected at once (a restart): the kernel dropped the rest, and their clients
    # waited on TCP retransmits for up to a minute. The kernel caps it at net.core.somaxconn (4096 here).
    listen_backlog: int = _env("CHIRP_LISTEN_BACKLOG", LISTEN_BACKLOG, _int_in(1, 65535))
    # The load balancers in front: their forwarding header is believed only from these peers, and
    # only the header they write (the other is ignored: a client could forge it). api/client.py.
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = _env("CHIRP_TRUSTED_PROXIES", (), _networks)
    proxy_header: str = _env("CHIRP_PROXY_HEADER", "x-forwarded-for", _choice("x-forwarded-for", "forwarded"))

    # The four stores. Set these to use existing servers (production); unset, `chirp run` starts embedded ones.
    # Moves the API and every embedded server of `make run` together (see dev_ports); 0: the classic ports.
    stack_port_base: int = _env(PORT_BASE_ENV, 0, _int_in(PORT_BASE_MIN, PORT_BASE_MAX))
    database_url: str = _env("DATABASE_URL", _CLASSIC["database_url"], _url("postgresql", "postgres"))
    database_pool_size: int = _env("CHIRP_DATABASE_POOL_SIZE", 10, _int_in(1, 500))
    # Streaming replicas (comma-separated URLs) for the reads that tolerate a little lag, with
    # read-your-writes for the writer (storage/read_replicas.py); empty: every read on DATABASE_URL.
    database_replica_urls: tuple[str, ...] = _env("DATABASE_REPLICA_URL", (), _urls("postgresql", "postgres"))
    # "transaction": DATABASE_URL is a PgBouncer in transaction mode (no prepared statements kept between
    # queries); what needs a session of its own (the worker's LISTEN, the migrations' advisory lock) then
    # connects to DATABASE_DIRECT_URL, PostgreSQL itself. Unset: DATABASE_URL for both.
    database_pooler: str = _env("CHIRP_DATABASE_POOLER", "session", _choice("session", "transaction"))
    database_direct_url: str = _env("DATABASE_DIRECT_URL", "", _url("postgresql", "postgres"))
    redis_url: str = _env("REDIS_URL", _CLASSIC["redis_url"], _url("redis", "rediss", "unix"))
    # A Valkey Cluster (REDIS_URL names any one node; the client finds the rest): storage/keys.py.
    valkey_cluster: bool = _env("CHIRP_VALKEY_CLUSTER", False, _bool)
    meili_url: str = _env("MEILI_URL", _CLASSIC["meili_url"], _url("http", "https"))
    meili_master_key: str = _env("MEILI_MASTER_KEY", "", lambda raw: raw)
    meili_index_prefix: str = _env("CHIRP_MEILI_INDEX_PREFIX", "chirp", _text)
    s3_endpoint: str = _env("S3_ENDPOINT", _CLASSIC["s3_endpoint"], _url("http", "https"))
    s3_access_key: str = _env("S3_ACCESS_KEY", "", lambda raw: raw)
    s3_secret_key: str = _env("S3_SECRET_KEY", "", lambda raw: raw)
    s3_region: str = _env("S3_REGION", "us-east-1", _text)
    s3_bucket: str = _env("S3_BUCKET", "chirp-media", _text)
    # Each API process caches access tokens this long (0: off), at most this many (storage/token_cache.py).
    token_cache_seconds: float = _env("CHIRP_TOKEN_CACHE_SECONDS", 60.0, _float_in(0.0, 3600.0))
    token_cache_size: int = _env("CHIRP_TOKEN_CACHE_SIZE", 20_000, _int_in(0, 10_000_000))
    # Each API process caches its readers' marks on the pages they read (storage/marks_cache.py) this long
    # (0: off), for at most this many readers.
    marks_cache_seconds: float = _env("CHIRP_MARKS_CACHE_SECONDS", 10.0, _float_in(0.0, 3600.0))
    marks_cache_size: int = _env("CHIRP_MARKS_CACHE_SIZE", 10_000, _int_in(0, 10_000_000))
    # How long /readyz waits for each dependency before calling it down.
    readiness_timeout: float = _env("CHIRP_READINESS_TIMEOUT", 1.0, _float_in(0.05, 30.0))
    # How long a search waits for Meilisearch before answering 503; private posts of at most this many
    # followed accounts (the most recently followed) are searchable by a follower (docs/search.md).
    search_timeout: float = _env("CHIRP_SEARCH_TIMEOUT", 0.8, _float_in(0.05, 30.0))
    search_following_cap: int = _env("CHIRP_SEARCH_FOLLOWING_CAP", 1000, _int_in(0, 10_000))

    # While a store is unreachable every route answers 503 with this Retry-After (docs/reliability.md).
    store_retry_after_seconds: int = _env("CHIRP_STORE_RETRY_AFTER_SECONDS", 5, _int_in(1, 3600))

    # The worker process.
    worker_concurrency: int = _env("CHIRP_WORKER_CONCURRENCY", 4, _int_in(1, 256))
    job_batch_size: int = _env("CHIRP_JOB_BATCH_SIZE", 100, _int_in(1, 10_000))
    job_max_attempts: int = _env("CHIRP_JOB_MAX_ATTEMPTS", 8, _int_in(1, 100))
    job_lease_seconds: float = _env("CHIRP_JOB_LEASE_SECONDS", 60.0, _float_in(1.0, 3600.0))
    job_poll_seconds: float = _env("CHIRP_JOB_POLL_SECONDS", 1.0, _float_in(0.01, 60.0))

    # Media uploads (docs/media.md). Size limits as Twitter's; uploads not finished within the TTL are removed.
    media_image_max_bytes: int = _env("CHIRP_MEDIA_IMAGE_MAX_BYTES", 5 * MIB, _int_in(1024, 1024 * MIB))
    media_gif_max_bytes: int = _env("CHIRP_MEDIA_GIF_MAX_BYTES", 15 * MIB, _int_in(1024, 1024 * MIB))
    media_video_max_bytes: int = _env("CHIRP_MEDIA_VIDEO_MAX_BYTES", 512 * MIB, _int_in(1024, 16 * 1024 * MIB))
    media_upload_ttl_seconds: int = _env("CHIRP_MEDIA_UPLOAD_TTL_SECONDS", 3600, _int_in(60, 7 * 86400))
    media_presign_seconds: int = _env("CHIRP_MEDIA_PRESIGN_SECONDS", 900, _int_in(60, 7 * 86400))
    # Direct uploads above this size get a multipart upload with one pre-signed URL per part.
    media_multipart_threshold_bytes: int = _env(
        "CHIRP_MEDIA_MULTIPART_THRESHOLD_BYTES", 16 * MIB, _int_in(MIB, 5 * 1024 * MIB)
    )
    # Mastodon's POST /api/v2/media processes still images up to this size during the request (200), else 202.
    media_sync_max_bytes: int = _env("CHIRP_MEDIA_SYNC_MAX_BYTES", 2 * MIB, _int_in(0, 1024 * MIB))
    # Images declaring more pixels than this are refused from their header, before any decoding (Mastodon's
    # limit: 7680x4320); images decode in at most this many processes at once per API or worker process.
    media_max_pixels: int = _env("CHIRP_MEDIA_MAX_PIXELS", 33_177_600, _int_in(1, 1_000_000_000))
    media_decode_processes: int = _env("CHIRP_MEDIA_DECODE_PROCESSES", 2, _int_in(1, 64))
    # Media URLs: "signed" (Chirp's permanent /media/... address, redirecting to a signed GET valid for
    # CHIRP_MEDIA_URL_SECONDS) or "public" (object paths under CHIRP_MEDIA_PUBLIC_URL).
    media_urls: str = _env("CHIRP_MEDIA_URLS", "signed", _choice("signed", "public"))
    media_public_url: str = _env("CHIRP_MEDIA_PUBLIC_URL", "", _url("http", "https"))
    media_url_seconds: int = _env("CHIRP_MEDIA_URL_SECONDS", 3600, _int_in(60, 7 * 86400))

    # The product.
    instance_title: str = _env("CHIRP_INSTANCE_TITLE", "Chirp", _text)
    post_max_chars: int = _env("CHIRP_POST_MAX_CHARS", 500, _int_in(1, 100_000))
    reactions: tuple[str, ...] = _env("CHIRP_REACTIONS", ("like", "love", "dislike", "laugh"), _names)
    timeline_size: int = _env("CHIRP_TIMELINE_SIZE", 800, _int_in(20, 100_000))
    fanout_max_followers: int = _env("CHIRP_FANOUT_MAX_FOLLOWERS", 10_000, _int_in(0, 100_000_000))
    timeline_ttl_days: int = _env("CHIRP_TIMELINE_TTL_DAYS", 30, _int_in(1, 3650))
    rate_limit_enabled: bool = _env("CHIRP_RATE_LIMIT", True, _bool)
    # Rate limits as (requests, window seconds), written "300/300"; Mastodon's defaults. Bench and tests raise them.
    rate_limit_token: tuple[int, int] = _env("CHIRP_RATE_LIMIT_TOKEN", (300, 300), _rate)
    rate_limit_ip: tuple[int, int] = _env("CHIRP_RATE_LIMIT_IP", (300, 300), _rate)
    rate_limit_sign_up: tuple[int, int] = _env("CHIRP_RATE_LIMIT_SIGN_UP", (5, 1800), _rate)
    rate_limit_sign_in: tuple[int, int] = _env("CHIRP_RATE_LIMIT_SIGN_IN", (25, 300), _rate)
    # Live streaming (docs/streaming.md): SSE heartbeat and websocket ping interval; a client whose unsent
    # data stays above the buffer bound this long is closed (1013); presence entries live this long
    # unless refreshed; a reconnecting client that missed more than the resume limit is told to reload.
    stream_heartbeat_seconds: float = _env("CHIRP_STREAM_HEARTBEAT_SECONDS", 15.0, _float_in(0.5, 30.0))
    stream_send_buffer_bytes: int = _env("CHIRP_STREAM_SEND_BUFFER_BYTES", 1 * MIB, _int_in(1024, 64 * MIB))
    stream_full_seconds: float = _env("CHIRP_STREAM_FULL_SECONDS", 5.0, _float_in(0.0, 300.0))
    stream_presence_ttl_seconds: float = _env("CHIRP_STREAM_PRESENCE_TTL_SECONDS", 60.0, _float_in(3.0, 3600.0))
    stream_resume_limit: int = _env("CHIRP_STREAM_RESUME_LIMIT", 400, _int_in(1, 10_000))
    # Streams per account and per access token on one API process (websockets and SSE together; over the
    # limit: websocket close 4429, SSE 429), and subscriptions on one websocket (over it: an error frame).
    stream_max_per_user: int = _env("CHIRP_STREAM_MAX_PER_USER", 50, _int_in(1, 100_000))
    stream_max_per_token: int = _env("CHIRP_STREAM_MAX_PER_TOKEN", 20, _int_in(1, 100_000))
    stream_max_subscriptions: int = _env("CHIRP_STREAM_MAX_SUBSCRIPTIONS", 100, _int_in(1, 100_000))
    # A request body that makes no progress for this long is answered 408 and its connection closed.
    body_timeout_seconds: float = _env("CHIRP_BODY_TIMEOUT_SECONDS", 30.0, _float_in(0.1, 3600.0))
    # A connection has this long from opening (and from each response's end) to finish a request's headers:
    # a client sending them byte by byte (slowloris) is closed after it, as is an idle keep-alive connection.
    header_timeout_seconds: float = _env("CHIRP_HEADER_TIMEOUT_SECONDS", 30.0, _float_in(0.1, 3600.0))
    # Where the server's source code is published (AGPL); the instance's own address when unset.
    source_url: str = _env("CHIRP_SOURCE_URL", "", _url("http", "https"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every field from `environ` (default: the process environment), then apply `overrides`.

        With a port base (CHIRP_STACK_PORT_BASE) the API port and the store addresses not given default
        to the moved development stack's."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            name = spec.metadata["env"]
            raw = environ.get(name)
            if raw is None:
                continue
            try:
                values[spec.name] = spec.metadata["parse"](raw)
            except ValueError as exc:
                raise SettingsError(f"{name}: {exc}") from None
        base = overrides.get("stack_port_base", values.get("stack_port_base", 0))
        if base:
            given = {spec.name for spec in dataclasses.fields(cls) if spec.metadata["env"] in environ}
            values.update({k: v for k, v in _dev_defaults(base).items() if k not in given})
        values.update(overrides)
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Rules that span fields; SettingsError names the variables."""
        if self.database_pooler == "transaction" and not self.database_direct_url:
            raise SettingsError(
                "DATABASE_DIRECT_URL: required with CHIRP_DATABASE_POOLER=transaction (LISTEN and the migrations' "
                "lock need a session on PostgreSQL itself, not on the pooler)"
            )
        if self.valkey_cluster:
            parts = urlsplit(self.redis_url)
            if parts.scheme == "unix":
                raise SettingsError("REDIS_URL: a Valkey Cluster is reached over TCP (redis:// or rediss://)")
            if parts.path.strip("/") not in ("", "0"):
                raise SettingsError("REDIS_URL: a Valkey Cluster has only database 0 (CHIRP_VALKEY_CLUSTER=true)")

    @classmethod
    def env_name(cls, field_name: str) -> str:
        return str(next(f for f in dataclasses.fields(cls) if f.name == field_name).metadata["env"])

    @property
    def session_database_url(self) -> str:
        """PostgreSQL itself, for what needs a session of its own (LISTEN, session advisory locks)."""
        return self.database_direct_url or self.database_url

    @property
    def base_url(self) -> str:
        """The address clients reach this server at (links, streaming URL, OAuth redirects)."""
        return self.public_url or f"http://{self.host}:{self.port}"

    def explicitly_set(self, environ: Mapping[str, str] | None = None) -> set[str]:
        """The store settings the environment names: those servers are used as they are, none started."""
        environ = os.environ if environ is None else environ
        return {f.name for f in dataclasses.fields(self) if f.metadata["env"] in environ}
