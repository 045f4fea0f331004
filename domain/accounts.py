"""Accounts: registration, signing in, profile changes, and the account as the API shows it (Account entity)."""

from __future__ import annotations

import functools
import html
import io
import re
from collections.abc import Mapping
from typing import Any

import asyncpg
from PIL import Image, ImageDraw

from config import Settings
from core.errors import ApiError
from core.times import iso
from domain import passwords
from domain.event_kinds import EventKind
from domain.events import record_event
from storage import accounts as account_store
from storage import tokens as token_store
from storage.db import Executor
from storage.resources import Resources
from storage.tokens import IssuedToken

USERNAME_MAX = 30
DISPLAY_NAME_MAX = 30
NOTE_MAX = 500
# Mastodon's limits on profile fields (Account::DEFAULT_FIELDS_SIZE, the name and value lengths).
FIELDS_MAX = 4
FIELD_NAME_MAX = 255
FIELD_VALUE_MAX = 255
_LINK = re.compile(r"^https?://[^\s<>\"]+$")
# The role of an account without one (Mastodon's UserRole "everyone", id -99): no permissions.
EVERYONE_ROLE = {"id": "-99", "name": "", "permissions": "0", "color": "", "highlighted": False}
# Mastodon's permission bits (UserRole::FLAGS): an admin holds `administrator` (every permission); a
# moderator may view the dashboard and audit log and manage reports and users.
ADMINISTRATOR, VIEW_AUDIT_LOG, VIEW_DASHBOARD, MANAGE_REPORTS, MANAGE_USERS = 1, 1 << 2, 1 << 3, 1 << 4, 1 << 10
STAFF_ROLES: dict[str, dict[str, Any]] = {
    "admin": {"id": "3", "name": "Admin", "permissions": str(ADMINISTRATOR), "color": "", "highlighted": True},
    "moderator": {
        "id": "1",
        "name": "Moderator",
        "permissions": str(VIEW_AUDIT_LOG | VIEW_DASHBOARD | MANAGE_REPORTS | MANAGE_USERS),
        "color": "",
        "highlighted": True,
    },
}


def _highlighted_roles(role: str | None) -> list[dict[str, Any]]:
    staff = STAFF_ROLES.get(role or "")
    return [{key: staff[key] for key in ("id", "name", "color")}] if staff else []


def role_entity(role: str | None) -> dict[str, Any]:
    """Mastodon's Role of an account's `role` column (user, moderator, admin)."""
    return dict(STAFF_ROLES.get(role or "user", EVERYONE_ROLE))


EMAIL_MAX = 254
PRIVACY_CHOICES = ("public", "unlisted", "private")
_USERNAME = re.compile(r"^[A-Za-z0-9_]+$")
# Plausible, not RFC 5322: one @, no spaces, a dot in the domain.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
# Names a newcomer could use to pass for the server's staff.
RESERVED_USERNAMES = frozenset(
    {"admin", "administrator", "root", "support", "help", "staff", "moderator", "mod", "security",
     "abuse", "postmaster", "hostmaster", "webmaster", "noreply", "no_reply", "system", "chirp"}
)  # fmt: skip


def bio_html(note: str) -> str:
    """A plain-text bio as the HTML Mastodon clients expect: escaped, paragraphs and line breaks kept."""
    if not note:
        return ""
    paragraphs = [p for p in note.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


def field_value_html(value: str) -> str:
    """A profile field's value as Mastodon shows it: escaped, and a link when it is one URL."""
    escaped = html.escape(value)
    if _LINK.match(value):
        return f'<a href="{escaped}" target="_blank" rel="nofollow noopener me">{escaped}</a>'
    return escaped


def profile_fields(row: Mapping[str, Any], *, source: bool = False) -> list[dict[str, Any]]:
    """The account's fields as entities: values rendered, or as written for `source`. Chirp verifies no
    links, so `verified_at` is null."""
    return [
        {
            "name": field["name"],
            "value": field["value"] if source else field_value_html(field["value"]),
            "verified_at": None,
        }
        for field in row.get("fields") or []
    ]


# The pictures every account shows until it has its own (Mastodon's `missing.png` URLs), drawn once.
DEFAULT_IMAGE_SIZES = {"avatars": (400, 400), "headers": (1500, 500)}
_BACKGROUND = (217, 225, 232)
_FIGURE = (155, 174, 200)


@functools.cache
def default_image(kind: str) -> bytes:
    """The default avatar (a head-and-shoulders silhouette) or header (plain), as PNG; `kind` is a key of
    DEFAULT_IMAGE_SIZES."""
    width, height = DEFAULT_IMAGE_SIZES[kind]
    image = Image.new("RGB", (width, height), _BACKGROUND)
    if kind == "avatars":
        draw = ImageDraw.Draw(image)
        draw.ellipse((125, 70, 275, 220), fill=_FIGURE)  # head
        draw.ellipse((60, 240, 340, 520), fill=_FIGURE)  # shoulders, cut by the bottom edge
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def account_entity(row: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    base = settings.base_url
    username = row["username"]
    avatar = f"{base}/avatars/original/missing.png"
    header = f"{base}/headers/original/missing.png"
    return {
        "id": str(row["id"]),
        "username": username,
        "acct": username,
        "display_name": row["display_name"],
        "locked": row["locked"],
        "bot": row["bot"],
        "group": row["is_group"],
        # .get: rows selected by SQL written before the column existed still render.
        "discoverable": bool(row.get("discoverable", True)),
        "indexable": True,
        "noindex": False,
        "created_at": iso(row["created_at"]),
        "note": bio_html(row["note"]),
        "url": f"{base}/@{username}",
        "uri": f"{base}/users/{username}",
        "avatar": avatar,
        "avatar_static": avatar,
        "header": header,
        "header_static": header,
        "followers_count": row["followers_count"],
        "following_count": row["following_count"],
        "statuses_count": row["posts_count"],
        "last_status_at": row["last_post_at"].date().isoformat() if row["last_post_at"] else None,
        "emojis": [],
        "fields": profile_fields(row),
        # Highlighted roles are shown on the profile (Mastodon's AccountRole: id, name, color).
        "roles": _highlighted_roles(row.get("role")),
        **({"suspended": True} if row.get("suspended_at") else {}),
        **({"limited": True} if row.get("silenced_at") else {}),
    }


def credential_account_entity(
    row: Mapping[str, Any], settings: Settings, *, follow_requests_count: int = 0
) -> dict[str, Any]:
    """The signed-in user's own account: the Account plus `source`, the plain-text originals and defaults."""
    entity = account_entity(row, settings)
    entity["source"] = {
        "privacy": row["default_privacy"],
        "sensitive": row["default_sensitive"],
        "language": row["default_language"],
        "note": row["note"],
        "fields": profile_fields(row, source=True),
        "follow_requests_count": follow_requests_count,
        "discoverable": bool(row.get("discoverable", True)),
        "hide_collections": False,
        "indexable": entity["indexable"],
        "attribution_domains": [],
    }
    entity["role"] = role_entity(row.get("role"))
    return entity


def preferences_entity(row: Mapping[str, Any]) -> dict[str, Any]:
    """Mastodon's Preferences: the posting defaults the account keeps, and the reading defaults Chirp uses."""
    return {
        "posting:default:visibility": row["default_privacy"],
        "posting:default:sensitive": row["default_sensitive"],
        "posting:default:language": row["default_language"],
        "reading:expand:media": "default",
        "reading:expand:spoilers": False,
        "reading:autoplay:gifs": False,
    }


# Registration ----------------------------------------------------------------------------------------


class FieldErrors:
    """Every problem with a registration at once, in Mastodon's shape:
    `{"error": "Validation failed: ...", "details": {"username": [{"error": "ERR_TAKEN", "description": ...}]}}`.
    """

    def __init__(self) -> None:
        self.details: dict[str, list[dict[str, str]]] = {}

    def add(self, field: str, code: str, description: str) -> None:
        self.details.setdefault(field, []).append({"error": code, "description": description})

    def raise_if_any(self) -> None:
        if not self.details:
            return
        problems = ", ".join(f"{field} {e['description']}" for field, errors in self.details.items() for e in errors)
        raise ApiError(422, f"Validation failed: {problems}", details=self.details)


def _check_username(username: str, errors: FieldErrors) -> None:
    if not username:
        errors.add("username", "ERR_BLANK", "can't be blank")
    elif len(username) > USERNAME_MAX:
        errors.add("username", "ERR_TOO_LONG", f"is too long (maximum is {USERNAME_MAX} characters)")
    elif not _USERNAME.match(username):
        errors.add("username", "ERR_INVALID", "must contain only letters, numbers and underscores")
    elif username.lower() in RESERVED_USERNAMES:
        errors.add("username", "ERR_RESERVED", "is reserved")


def _check_email(email: str, errors: FieldErrors) -> None:
    if not email:
        errors.add("email", "ERR_BLANK", "can't be blank")
    elif len(email) > EMAIL_MAX or not _EMAIL.match(email):
        errors.add("email", "ERR_INVALID", "is invalid")


def _check_password(password: str, errors: FieldErrors) -> None:
    if not password:
        errors.add("password", "ERR_BLANK", "can't be blank")
    elif len(password) < passwords.MIN_LENGTH:
        errors.add("password", "ERR_TOO_SHORT", f"is too short (minimum is {passwords.MIN_LENGTH} characters)")
    elif len(password) > passwords.MAX_LENGTH:
        errors.add("password", "ERR_TOO_LONG", f"is too long (maximum is {passwords.MAX_LENGTH} characters)")


async def register_account(
    res: Resources,
    *,
    app_id: int | None,
    scopes: tuple[str, ...],
    username: str,
    email: str,
    password: str,
    agreement: bool,
) -> IssuedToken:
    """Create an account and a token for it, for the application that registered it, with that app token's scopes."""
    username, email = username.strip(), email.strip()
    errors = FieldErrors()
    _check_username(username, errors)
    _check_email(email, errors)
    _check_password(password, errors)
    if not agreement:
        errors.add("agreement", "ERR_ACCEPTED", "must be accepted")
    if "username" not in errors.details or "email" not in errors.details:
        username_taken, email_taken = await account_store.taken(res.db, username, email)
        if username_taken and "username" not in errors.details:
            errors.add("username", "ERR_TAKEN", "has already been taken")
        if email_taken and "email" not in errors.details:
            errors.add("email", "ERR_TAKEN", "has already been taken")
    errors.raise_if_any()
    password_hash = await passwords.hash_password(password)
    account_id = res.ids.next_id()
    try:
        async with res.db.acquire() as conn, conn.transaction():
            await account_store.insert_account(
                conn, account_id, username=username, email=email, password_hash=password_hash
            )
            issued = await token_store.issue_token(
                conn, res.ids.next_id(), app_id=app_id, account_id=account_id, scopes=scopes
            )
            await record_event(conn, EventKind.ACCOUNT_CREATED, {"account_id": account_id})
    except asyncpg.UniqueViolationError as exc:
        # Someone took the name (or address) between the check above and the insert.
        field = "email" if "email" in (exc.constraint_name or "") else "username"
        errors.add(field, "ERR_TAKEN", "has already been taken")
        errors.raise_if_any()
        raise
    return issued


# Signing in and profile changes ----------------------------------------------------------------------


# What a suspended or disabled account is told when it tries to sign in (Mastodon's words).
SIGN_IN_BARRED = "Your login is currently disabled"


class SignInBarred(Exception):
    """The password is right, but moderation keeps this account from signing in (suspended or disabled)."""


async def check_password(db: Executor, login: str, password: str) -> int | None:
    """The id of the account `login` (username or e-mail) names when `password` is right, else None.
    SignInBarred when it is right but the account is suspended or disabled (every way of signing in asks
    here, so none lets such an account in)."""
    row = await account_store.find_login(db, login.strip())
    ok = await passwords.verify_password(row["password_hash"] if row else None, password)
    if row is None or not ok:
        return None
    if row["barred"]:
        raise SignInBarred(SIGN_IN_BARRED)
    return int(row["id"])


async def update_profile(res: Resources, account_id: int, changes: Mapping[str, Any]) -> asyncpg.Record:
    """Apply profile changes in one transaction, recording `account.updated` for the indexers."""
    async with res.db.acquire() as conn, conn.transaction():
        row = await account_store.update_profile(conn, account_id, changes)
        if row is None:
            raise ApiError(404)
        await record_event(conn, EventKind.ACCOUNT_UPDATED, {"account_id": account_id})
    return row
