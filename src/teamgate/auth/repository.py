"""The ``sessions`` and ``api_keys`` tables: every query on them.

Both store only the SHA-256 of their secret. ``caller_of`` is the one read that joins them to
the membership they act as (one statement per request, on every authenticated call).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate.db import Database
from teamgate.models import api_keys, custom_roles, memberships, sessions, users
from teamgate.security import new_api_key, new_token, token_hash


@dataclass(frozen=True, slots=True)
class CallerRow:
    user_id: int
    email: str
    name: str
    account_id: int
    role: str
    base_role: str
    unverified_account_id: int | None


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    name: str
    prefix: str
    created_at: int


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A key just made: the plain key is here this once, and never stored."""

    key: str
    info: ApiKey


def _caller_query(kind: str) -> Select[Any]:
    base = func.coalesce(custom_roles.c.base_role, memberships.c.role)
    query = (
        select(
            users.c.id,
            users.c.email,
            users.c.name,
            memberships.c.account_id,
            memberships.c.role,
            base,
            users.c.unverified_account_id,
        )
        .select_from(memberships)
        .join(users, users.c.id == memberships.c.user_id)
        .outerjoin(
            custom_roles,
            (custom_roles.c.account_id == memberships.c.account_id)
            & (custom_roles.c.name == memberships.c.role),
        )
    )
    if kind == "api_key":
        return query.join(
            api_keys,
            (api_keys.c.account_id == memberships.c.account_id)
            & (api_keys.c.user_id == memberships.c.user_id),
        ).where(api_keys.c.key_hash == bindparam("secret_hash"))
    return query.join(
        sessions,
        (sessions.c.account_id == memberships.c.account_id)
        & (sessions.c.user_id == memberships.c.user_id),
    ).where(sessions.c.id_hash == bindparam("secret_hash"), sessions.c.expires_at > bindparam("at"))


# The account an API key or a session acts in, as SQL for the bare driver (``db.raw``): the
# whole of what some hot paths need to know of the caller (getTeamData joins it to the team).
ACCOUNT_OF = {
    "api_key": """
        SELECT m.account_id FROM api_keys k
        JOIN memberships m ON m.account_id = k.account_id AND m.user_id = k.user_id
        WHERE k.key_hash = :token
    """,
    "session": """
        SELECT m.account_id FROM sessions s
        JOIN memberships m ON m.account_id = s.account_id AND m.user_id = s.user_id
        WHERE s.id_hash = :token AND s.expires_at > :now
    """,
}


async def account_of(db: Database, kind: str, secret_hash: str, at: int) -> int | None:
    """The account an API key or session acts in, or None when it does not (or no longer)
    work: one indexed read on the bare driver."""
    row = await db.raw.fetchrow(ACCOUNT_OF[kind], {"token": secret_hash, "now": at})
    return int(row[0]) if row is not None else None


# Built once: every authenticated request runs one of them.
_CALLER_QUERIES = {kind: _caller_query(kind) for kind in ("api_key", "session")}


async def caller_of(
    conn: AsyncConnection, kind: str, secret_hash: str, at: int
) -> CallerRow | None:
    """The member an API key or session acts as, or None when it does not (or no longer) work."""
    query = _CALLER_QUERIES[kind]
    row = (await conn.execute(query, {"secret_hash": secret_hash, "at": at})).first()
    return CallerRow(*row) if row else None


async def create_session(
    conn: AsyncConnection, *, user_id: int, account_id: int, at: int, ttl: int
) -> str:
    """A new random session id (never reused across logins); only its hash is stored."""
    token = new_token()
    await conn.execute(
        insert(sessions).values(
            id_hash=token_hash(token),
            user_id=user_id,
            account_id=account_id,
            created_at=at,
            expires_at=at + ttl,
        )
    )
    return token


async def delete_session(conn: AsyncConnection, id_hash: str) -> None:
    await conn.execute(delete(sessions).where(sessions.c.id_hash == id_hash))


async def create_api_key(
    conn: AsyncConnection, *, account_id: int, user_id: int, name: str, at: int
) -> NewApiKey:
    key = new_api_key()
    prefix = key[:8]
    key_id: int = (
        await conn.execute(
            insert(api_keys)
            .values(
                account_id=account_id,
                user_id=user_id,
                name=name,
                key_hash=token_hash(key),
                prefix=prefix,
                created_at=at,
            )
            .returning(api_keys.c.id)
        )
    ).scalar_one()
    return NewApiKey(key, ApiKey(key_id, name, prefix, at))


async def api_keys_of(conn: AsyncConnection, account_id: int, user_id: int) -> list[ApiKey]:
    rows = await conn.execute(
        select(api_keys.c.id, api_keys.c.name, api_keys.c.prefix, api_keys.c.created_at)
        .where(api_keys.c.account_id == account_id, api_keys.c.user_id == user_id)
        .order_by(api_keys.c.id)
    )
    return [ApiKey(*row) for row in rows]


async def delete_api_keys_of_user(conn: AsyncConnection, user_id: int) -> None:
    """Delete every API key of a user, in every account."""
    await conn.execute(delete(api_keys).where(api_keys.c.user_id == user_id))


async def delete_sessions_of_user(conn: AsyncConnection, user_id: int) -> None:
    """End every session of a user, in every account."""
    await conn.execute(delete(sessions).where(sessions.c.user_id == user_id))


async def delete_api_key(
    conn: AsyncConnection, *, key_id: int, account_id: int, user_id: int
) -> bool:
    """Delete one of a member's own keys; False when they have no key with that id."""
    result = await conn.execute(
        delete(api_keys).where(
            api_keys.c.id == key_id,
            api_keys.c.account_id == account_id,
            api_keys.c.user_id == user_id,
        )
    )
    return bool(result.rowcount)


async def revoke_member(conn: AsyncConnection, account_id: int, user_id: int) -> None:
    """End every API key and session a member holds for one account."""
    for table in (api_keys, sessions):
        await conn.execute(
            delete(table).where(table.c.account_id == account_id, table.c.user_id == user_id)
        )
