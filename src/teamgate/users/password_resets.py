"""The ``password_resets`` table: every query on it, and the links' tokens.

A token is ``<nonce>.<mac>``: a random nonce stored in its row, and an HMAC of it under the
server's signing key. The table alone opens nothing; the row decides whether a token still
works (unused, unexpired, and the newest for its user).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate.models import password_resets

RESET_TTL_SECONDS = 3600
_PURPOSE = b"teamgate password reset:"


@dataclass(frozen=True, slots=True)
class PasswordReset:
    id: int
    user_id: int
    nonce: str
    expires_at: int


def token_for(key: bytes, nonce: str) -> str:
    mac = hmac.new(key, _PURPOSE + nonce.encode(), hashlib.sha256).digest()
    return f"{nonce}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def nonce_of(key: bytes, token: object) -> str | None:
    """The nonce of a well-made token signed with ``key``; None for anything else."""
    if not isinstance(token, str) or len(token) > 200 or token.count(".") != 1:
        return None
    nonce = token.split(".", 1)[0]
    if not nonce or not hmac.compare_digest(token_for(key, nonce), token):
        return None
    return nonce


async def create(conn: AsyncConnection, user_id: int, at: int) -> int:
    """A new link for the user; the older ones they had stop working (marked used, never
    deleted: a row id is never reused, so the emails queued for them cannot point at this one)."""
    await conn.execute(
        update(password_resets)
        .where(password_resets.c.user_id == user_id, password_resets.c.used_at.is_(None))
        .values(used_at=at)
    )
    reset_id: int = (
        await conn.execute(
            insert(password_resets)
            .values(
                user_id=user_id,
                nonce=secrets.token_urlsafe(24),
                created_at=at,
                expires_at=at + RESET_TTL_SECONDS,
            )
            .returning(password_resets.c.id)
        )
    ).scalar_one()
    return reset_id


async def pending(conn: AsyncConnection, reset_id: int, at: int) -> PasswordReset | None:
    """The link if it can still be used."""
    c = password_resets.c
    row = (
        await conn.execute(
            select(c.id, c.user_id, c.nonce, c.expires_at).where(
                c.id == reset_id, c.used_at.is_(None), c.expires_at > at
            )
        )
    ).first()
    return PasswordReset(*row) if row else None


async def consume(conn: AsyncConnection, nonce: str, at: int) -> int | None:
    """Use the link, once: its user's id, or None when it was used, replaced or expired."""
    c = password_resets.c
    user_id: int | None = (
        await conn.execute(
            update(password_resets)
            .where(c.nonce == nonce, c.used_at.is_(None), c.expires_at > at)
            .values(used_at=at)
            .returning(c.user_id)
        )
    ).scalar_one_or_none()
    return user_id
