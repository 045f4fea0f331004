"""Passwords: argon2id hashes, computed in a worker thread so the event loop never waits on them.

argon2 is deliberately slow (tens of milliseconds and 64 MiB per hash with the library's defaults); run on
the loop it would stall every other request of the process for that long.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 72  # Mastodon's limit; it also caps the work one request can ask for

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters
# Verified when the account does not exist, so "no such user" takes as long as "wrong password".
_DUMMY_HASH = _hasher.hash("chirp: not a password")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; a missing or unusable hash (an account without a password) never does."""
    return await asyncio.to_thread(_verify, password_hash, password)
