"""Logs that read well where they go: text lines on a terminal, one JSON object a line otherwise (a log
collector), each carrying the request id of the request that caused it. CHIRP_LOG_FORMAT=text|json forces one."""

from __future__ import annotations

import contextvars
import logging
import secrets
import sys
import time
from typing import Any, TextIO

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from api.client import client_address

access_log = logging.getLogger("chirp.access")

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        # Anything passed as `extra=` becomes a field of its own.
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        request_id = request_id_var.get()
        prefix = f"[{request_id}] " if request_id else ""
        line = f"{time.strftime('%H:%M:%S')} {record.levelname:<7} {record.name}: {prefix}{record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def chosen_format(fmt: str, stream: TextIO) -> str:
    """`json` or `text`: as configured, or for "auto" text on a terminal and JSON anywhere else."""
    if fmt != "auto":
        return fmt
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure_logging(level: str, fmt: str, stream: TextIO | None = None) -> None:
    """Send every log record to `stream` (stderr) in the format `fmt` (auto, json or text) chooses."""
    stream = sys.stderr if stream is None else stream
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if chosen_format(fmt, stream) == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log repeats what the request middleware logs with more context.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # The Meilisearch client logs every HTTP call it makes at info level.
    for noisy in ("httpx", "httpx2", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _clean_request_id(raw: str | None) -> str | None:
    if raw and len(raw) <= 64 and all(c.isalnum() or c in "-_." for c in raw):
        return raw
    return None


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Adopt the caller's X-Request-Id (from a proxy) or make one; echo it on the response."""
    request_id = _clean_request_id(request.headers.get("X-Request-Id")) or secrets.token_hex(8)
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:
            response.headers["X-Request-Id"] = request_id
        return response
    finally:
        if access_log.isEnabledFor(logging.INFO):  # below CHIRP_LOG_LEVEL, not even its fields are worked out
            access_log.info(
                "%s %s %s",
                request.method,
                request.path,
                status,
                extra={
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                    "client": client_address(request),
                },
            )
        request_id_var.reset(token)
