"""The errors a client should see, as plain exceptions: `ApiError` (a status and a message) and the 422s.

Any floor may raise them, so they know nothing of HTTP frameworks; `api.errors` renders them as the one
JSON error shape, `{"error": "..."}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REASONS = {
    400: "Bad request",
    401: "The access token is invalid",
    403: "This action is not allowed",
    404: "Record not found",
    405: "Method not allowed",
    408: "Request timeout",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class ApiError(Exception):
    """An error the client should see: status, message, optional extra fields and headers."""

    def __init__(
        self,
        status: int,
        message: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.status = status
        self.message = message or REASONS.get(status, "Error")
        self.headers = dict(headers or {})
        self.extra = extra
        super().__init__(f"{status} {self.message}")


class FieldInvalid(ApiError):
    """A 422 about one field, which keeps the field and the problem apart for callers that answer in a
    shape of their own (registration's `details`)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(422, f"Validation failed: {field} {problem}")
        self.field = field
        self.problem = problem


def validation_error(field: str, problem: str) -> FieldInvalid:
    """422 naming the field, in Mastodon's wording: `Validation failed: status is too long`."""
    return FieldInvalid(field, problem)
