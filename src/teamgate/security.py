"""Secrets: password hashing (argon2id), random tokens and their SHA-256 lookup hashes."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import weakref

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

PASSWORD_MIN = 8
PASSWORD_MAX = 128
API_KEY_PREFIX = "tg_"

_hasher = PasswordHasher()  # argon2id, argon2-cffi's defaults (RFC 9106's low-memory profile)
_dummy_hash: str | None = None


def use_hasher(hasher: PasswordHasher) -> None:
    """Hash and verify passwords with ``hasher`` from now on.

    For tests only, which use argon2's cheapest parameters: the service never calls this and
    no setting leads here. Hashes made with other parameters still verify, and ``needs_rehash``
    sends them back to full strength at the next login under the default hasher.
    """
    global _hasher, _dummy_hash
    _hasher = hasher
    _dummy_hash = None


def _dummy() -> str:
    """Verified against when an email is unknown, so both failures cost the same time; made
    on first need by the hasher in use, so that it costs what a real verification costs."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hash


def password_problem(password: object) -> str | None:
    """Why a new password is refused, or None."""
    if not isinstance(password, str):
        return "Password is required"
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return f"Password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters"
    return None


# At most one hash per core at a time: each takes tens of MB and a core for tens of ms, so a
# burst of logins or acceptances queues here instead of exhausting memory and stalling all.
HASHING_AT_ONCE = os.cpu_count() or 1
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _hashing_slots() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    if loop not in _limiters:
        _limiters[loop] = anyio.CapacityLimiter(HASHING_AT_ONCE)
    return _limiters[loop]


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher.hash, password, limiter=_hashing_slots())


async def verify_password(stored_hash: str | None, password: object) -> bool:
    """Constant-work check; an absent hash or non-string password still costs one verification."""
    candidate = password if isinstance(password, str) and len(password) <= PASSWORD_MAX else ""

    def _verify() -> bool:
        try:
            return _hasher.verify(stored_hash or _dummy(), candidate) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await anyio.to_thread.run_sync(_verify, limiter=_hashing_slots())


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def new_token() -> str:
    return secrets.token_urlsafe(32)
