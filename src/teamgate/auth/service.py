"""Sessions, logins and API keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate import audit
from teamgate.auth.caller import Credential, acting, lock_account, resolve
from teamgate.context import AppContext
from teamgate.db import Database, now
from teamgate.emails import InvalidEmail, canonical_email
from teamgate.errors import AppError, RateLimited, Unauthorized
from teamgate.models import api_keys, memberships, sessions, users
from teamgate.roles import Action
from teamgate.security import (
    hash_password,
    needs_rehash,
    new_api_key,
    new_token,
    token_hash,
    verify_password,
)
from teamgate.text import display_name, id_field

BAD_LOGIN = "Invalid email or password"
API_KEY_NOT_FOUND = "API key not found"


@dataclass(frozen=True, slots=True)
class NewSession:
    token: str
    user_id: int
    account_id: int


async def create_session(
    conn: AsyncConnection, user_id: int, account_id: int, ttl: int
) -> NewSession:
    """A new random session id (never reused across logins); only its hash is stored."""
    token = new_token()
    at = now()
    await conn.execute(
        insert(sessions).values(
            id_hash=token_hash(token),
            user_id=user_id,
            account_id=account_id,
            created_at=at,
            expires_at=at + ttl,
        )
    )
    return NewSession(token, user_id, account_id)


async def create_api_key(
    conn: AsyncConnection, account_id: int, user_id: int, name: str
) -> dict[str, Any]:
    key = new_api_key()
    at = now()
    prefix = key[:8]
    result = await conn.execute(
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
    return {
        "id": result.scalar_one(),
        "name": name,
        "key": key,
        "keyPrefix": prefix,
        "createdAt": at,
    }


async def login(
    ctx: AppContext, data: dict[str, Any], client: str, request_id: str | None
) -> NewSession:
    limits = ctx.limits
    raw_email = data.get("email")
    try:
        email = canonical_email(raw_email)
    except InvalidEmail:
        email = None
    # An invalid address still gets a budget, under a bounded key (never the raw input).
    email_key = email or (
        token_hash(raw_email.strip().lower()) if isinstance(raw_email, str) else ""
    )
    await limits.take(limits.login_per_client, "login-client", client)
    if email_key:
        try:
            await limits.take(limits.login_per_email, "login-email", email_key)
        except RateLimited:
            await limits.refund(limits.login_per_client, "login-client", client)
            raise
    async with ctx.db.read() as conn:
        row = None
        if email is not None:
            row = (
                await conn.execute(
                    select(users.c.id, users.c.password_hash).where(users.c.email == email)
                )
            ).first()
        stored_hash = row[1] if row else None
        ok = await verify_password(stored_hash, data.get("password"))
        account_id = None
        if ok and row is not None:
            account_id = (
                await conn.execute(
                    select(memberships.c.account_id)
                    .where(memberships.c.user_id == row[0])
                    .order_by(memberships.c.id)
                    .limit(1)
                )
            ).scalar_one_or_none()
    async with ctx.db.write() as conn:
        if ok and row is not None and account_id is not None:
            # The membership is re-read under the account lock: a member removed meanwhile
            # must not walk away with a fresh session.
            await lock_account(conn, account_id)
            ok = await _is_member(conn, row[0], account_id)
        if not ok or row is None or account_id is None:
            await audit.record(
                conn, "login", outcome="failure", target=email, request_id=request_id
            )
            failed = True
        else:
            failed = False
            if stored_hash and needs_rehash(stored_hash):
                await conn.execute(
                    update(users)
                    .where(users.c.id == row[0])
                    .values(password_hash=await hash_password(data["password"]))
                )
            session = await create_session(
                conn, row[0], account_id, ctx.settings.session_ttl_seconds
            )
            await audit.record(
                conn,
                "login",
                account_id=account_id,
                actor_user_id=row[0],
                target=email,
                request_id=request_id,
            )
    if failed:
        raise Unauthorized(BAD_LOGIN)
    await limits.refund(limits.login_per_client, "login-client", client)
    await limits.refund(limits.login_per_email, "login-email", email_key)
    return session


async def _is_member(conn: AsyncConnection, user_id: int, account_id: int) -> bool:
    found = await conn.execute(
        select(memberships.c.id).where(
            memberships.c.user_id == user_id, memberships.c.account_id == account_id
        )
    )
    return found.first() is not None


async def logout(db: Database, session_token: str | None) -> None:
    if not session_token:
        return
    async with db.write() as conn:
        await conn.execute(delete(sessions).where(sessions.c.id_hash == token_hash(session_token)))


async def add_api_key(
    db: Database, cred: Credential, name_value: object, request_id: str | None
) -> dict[str, Any]:
    async with acting(db, cred, Action.OWN_KEYS) as (conn, caller):
        caller.require_session()
        name = "API key" if name_value is None else display_name(name_value, "name", max_len=100)
        created = await create_api_key(conn, caller.account_id, caller.user_id, name)
        await audit.record(
            conn,
            "api_key.create",
            account_id=caller.account_id,
            actor_user_id=caller.user_id,
            target=name,
            request_id=request_id,
        )
    return created


async def list_api_keys(db: Database, cred: Credential) -> list[dict[str, Any]]:
    async with db.read() as conn:
        caller = await resolve(conn, cred)
        caller.require(Action.OWN_KEYS)
        caller.require_session()
        rows = await conn.execute(
            select(api_keys.c.id, api_keys.c.name, api_keys.c.prefix, api_keys.c.created_at)
            .where(api_keys.c.account_id == caller.account_id, api_keys.c.user_id == caller.user_id)
            .order_by(api_keys.c.id)
        )
        return [{"id": i, "name": n, "keyPrefix": p, "createdAt": c} for i, n, p, c in rows]


async def delete_api_key(
    db: Database, cred: Credential, key_id: object, request_id: str | None
) -> None:
    async with db.write() as conn:
        caller = await resolve(conn, cred)
        caller.require(Action.OWN_KEYS)
        caller.require_session()
        key_id = id_field(key_id, "apiTokenId")
        result = await conn.execute(
            delete(api_keys).where(
                api_keys.c.id == key_id,
                api_keys.c.account_id == caller.account_id,
                api_keys.c.user_id == caller.user_id,
            )
        )
        if not result.rowcount:
            raise AppError(API_KEY_NOT_FOUND)
        await audit.record(
            conn,
            "api_key.delete",
            account_id=caller.account_id,
            actor_user_id=caller.user_id,
            target=str(key_id),
            request_id=request_id,
        )


async def switch_account(
    ctx: AppContext, cred: Credential, account_value: object, request_id: str | None
) -> tuple[NewSession, str]:
    """Akto's ``goToAccount``: a new session in another account the caller belongs to (the old
    session ends: a session id never changes the account it speaks for). Returns it and the role.
    """
    async with ctx.db.write() as conn:
        caller = await resolve(conn, cred)
        caller.require_session()
        target = id_field(account_value, "newAccountId")
        if not await _is_member(conn, caller.user_id, target):
            raise AppError("Account not found")
        # Re-checked under the lock: no switching into an account one was just removed from.
        await lock_account(conn, target)
        if not await _is_member(conn, caller.user_id, target):
            raise AppError("Account not found")
        await conn.execute(delete(sessions).where(sessions.c.id_hash == cred.token_hash))
        session = await create_session(
            conn, caller.user_id, target, ctx.settings.session_ttl_seconds
        )
        await audit.record(
            conn, "session.switch_account", account_id=target, actor_user_id=caller.user_id,
            target=str(caller.account_id), request_id=request_id,
        )  # fmt: skip
        switched = await resolve(conn, Credential("session", token_hash(session.token)))
    return session, switched.role
