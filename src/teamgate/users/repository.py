"""The ``users`` table: every query on it. A user is one person (one email) across accounts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate.db import dialect_insert
from teamgate.models import users


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    name: str
    password_hash: str | None
    # Set while the address is unverified: the one account the password opens (see models).
    unverified_account_id: int | None
    last_account_id: int | None = None  # where the user last signed in or switched to


_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.name,
    users.c.password_hash,
    users.c.unverified_account_id,
    users.c.last_account_id,
)


async def by_email(conn: AsyncConnection, email: str) -> User | None:
    row = (await conn.execute(select(*_COLUMNS).where(users.c.email == email))).first()
    return User(*row) if row else None


async def create(
    conn: AsyncConnection,
    *,
    email: str,
    name: str,
    password_hash: str | None,
    at: int,
    unverified_account_id: int | None = None,
) -> int | None:
    """The new user's id, or None when a user with this email exists (or was just created by a
    concurrent transaction: PostgreSQL waits for it, then reports the conflict)."""
    user_id: int | None = (
        await conn.execute(
            dialect_insert(conn, users)
            .values(
                email=email,
                name=name,
                password_hash=password_hash,
                created_at=at,
                unverified_account_id=unverified_account_id,
            )
            .on_conflict_do_nothing(index_elements=["email"])
            .returning(users.c.id)
        )
    ).scalar_one_or_none()
    return user_id


async def by_id(conn: AsyncConnection, user_id: int) -> User:
    row = (await conn.execute(select(*_COLUMNS).where(users.c.id == user_id))).one()
    return User(*row)


async def set_password_hash(conn: AsyncConnection, user_id: int, password_hash: str) -> None:
    """The same password, hashed again (stronger parameters); nothing else changes."""
    await conn.execute(
        update(users).where(users.c.id == user_id).values(password_hash=password_hash)
    )


async def set_last_account(conn: AsyncConnection, user_id: int, account_id: int) -> None:
    await conn.execute(
        update(users).where(users.c.id == user_id).values(last_account_id=account_id)
    )


async def replace_password(conn: AsyncConnection, user_id: int, password_hash: str) -> None:
    """A password the operator set: the identity is vouched for, so it is verified too."""
    await conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(password_hash=password_hash, unverified_account_id=None)
    )
