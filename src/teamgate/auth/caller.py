"""Who is calling: an API key or a session, resolved to a user acting in one account."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request

from teamgate.context import get_context
from teamgate.db import Database, now
from teamgate.errors import AppError, Forbidden, Unauthorized
from teamgate.http import is_json_content_type, refuse_foreign_origin
from teamgate.models import accounts, api_keys, custom_roles, memberships, sessions, users
from teamgate.roles import Action, Role, permits
from teamgate.security import token_hash

SESSION_COOKIE = "teamgate_session"


@dataclass(frozen=True, slots=True)
class Credential:
    kind: Literal["api_key", "session"]
    token_hash: str


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: int
    email: str
    name: str
    account_id: int
    role: str
    base_role: Role
    credential: Credential

    def require(self, action: Action) -> None:
        if not permits(self.base_role, action):
            raise Forbidden.for_role(self.role)

    def require_session(self) -> None:
        if self.credential.kind != "session":  # API keys cannot create, list or delete API keys
            raise Forbidden.for_role(self.role)


async def credential(request: Request) -> Credential:
    """The credential a request carries, with the CSRF rules for cookie-authenticated calls."""
    key = request.headers.get("x-api-key")
    if key is not None:
        return Credential("api_key", token_hash(key.strip()))
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise Unauthorized()
    refuse_foreign_origin(request, get_context(request).settings.public_origins)
    if not is_json_content_type(request.headers.get("content-type")):
        raise AppError("Content-Type must be application/json", 415)
    return Credential("session", token_hash(cookie))


CredentialDep = Annotated[Credential, Depends(credential)]


def _caller_query(cred: Credential) -> Select[Any]:
    base = func.coalesce(custom_roles.c.base_role, memberships.c.role)
    query = (
        select(
            users.c.id,
            users.c.email,
            users.c.name,
            memberships.c.account_id,
            memberships.c.role,
            base,
        )
        .select_from(memberships)
        .join(users, users.c.id == memberships.c.user_id)
        .outerjoin(
            custom_roles,
            (custom_roles.c.account_id == memberships.c.account_id)
            & (custom_roles.c.name == memberships.c.role),
        )
    )
    if cred.kind == "api_key":
        return query.join(
            api_keys,
            (api_keys.c.account_id == memberships.c.account_id)
            & (api_keys.c.user_id == memberships.c.user_id),
        ).where(api_keys.c.key_hash == cred.token_hash)
    return query.join(
        sessions,
        (sessions.c.account_id == memberships.c.account_id)
        & (sessions.c.user_id == memberships.c.user_id),
    ).where(sessions.c.id_hash == cred.token_hash, sessions.c.expires_at > now())


async def resolve(conn: AsyncConnection, cred: Credential) -> Caller:
    """The caller as the database says now; 401 when the credential no longer works."""
    row = (await conn.execute(_caller_query(cred))).first()
    if row is None:
        raise Unauthorized()
    return Caller(row[0], row[1], row[2], row[3], row[4], Role(row[5]), cred)


@asynccontextmanager
async def acting(
    db: Database, cred: Credential, action: Action
) -> AsyncIterator[tuple[AsyncConnection, Caller]]:
    """One write transaction, as a caller re-read under their account's lock and allowed
    ``action``: the way every write that acts on an account starts."""
    async with db.write() as conn:
        caller = await resolve_locked(conn, cred)
        caller.require(action)
        yield conn, caller


async def lock_account(conn: AsyncConnection, account_id: int) -> None:
    """Serialise the writes that guard one account's invariants (PostgreSQL; SQLite's writer
    already holds the database lock). ``FOR NO KEY UPDATE`` conflicts with itself but not with
    the key-share locks that foreign-key inserts take, so it cannot deadlock with them."""
    if conn.dialect.name != "sqlite":
        await conn.execute(
            select(accounts.c.id).where(accounts.c.id == account_id).with_for_update(key_share=True)
        )


async def resolve_locked(conn: AsyncConnection, cred: Credential) -> Caller:
    """Resolve inside a write transaction, holding the caller's account locked.

    Rules that span several rows (never remove the last ADMIN, never leave a key or session
    behind a removed member) are checked after this lock, and the caller is re-read under it:
    a caller removed by a concurrent request is no longer a caller.
    """
    caller = await resolve(conn, cred)
    if conn.dialect.name == "sqlite":
        return caller
    await lock_account(conn, caller.account_id)
    return await resolve(conn, cred)
