"""Logins, sessions and API keys."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate import metrics, unit
from teamgate.accounts import repository as accounts
from teamgate.auth import repository as repo
from teamgate.auth.caller import ACCOUNT_NOT_FOUND, Caller, Credential
from teamgate.auth.repository import ApiKey, NewApiKey
from teamgate.context import AppContext
from teamgate.db import Database
from teamgate.emails import InvalidEmail, canonical_email
from teamgate.errors import AppError, Forbidden, Unauthorized
from teamgate.inputs import Parsed, valid
from teamgate.roles import Action
from teamgate.security import hash_password, needs_rehash, token_hash, verify_password
from teamgate.team import repository as team
from teamgate.team.service import USER_NOT_FOUND, member_by_email
from teamgate.users import repository as users

BAD_LOGIN = "Invalid email or password"
API_KEY_NOT_FOUND = "API key not found"


@dataclass(frozen=True, slots=True)
class Login:
    email: str | None
    password: str | None


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just started: the plain id is here this once (for the cookie)."""

    token: str
    user_id: int
    account_id: int


@dataclass(frozen=True, slots=True)
class Switched:
    session: NewSession
    role: str


async def login(ctx: AppContext, attempt: Login, client: str) -> NewSession:
    """A new session in the account the user used last (see ``_start_account``). Failures
    count against the per-client and per-email budgets."""
    limits = ctx.limits
    try:
        email: str | None = canonical_email(attempt.email)
    except InvalidEmail:
        email = None
    # An invalid address still gets a budget, under a bounded key (never the raw input).
    email_key = email or (
        token_hash(attempt.email.strip().lower()) if attempt.email is not None else ""
    )
    async with AsyncExitStack() as budgets:
        await budgets.enter_async_context(
            limits.counting_failures(limits.login_per_client, "login-client", client)
        )
        if email_key:
            await budgets.enter_async_context(
                limits.counting_failures(limits.login_per_email, "login-email", email_key)
            )
        return await _login(ctx, attempt, email)


async def _login(ctx: AppContext, attempt: Login, email: str | None) -> NewSession:
    user, account_id = None, None
    if email is not None:
        async with ctx.db.read() as conn:
            user = await users.by_email(conn, email)
            if user is not None:
                account_id = await _start_account(conn, user)
    stored_hash = user.password_hash if user else None
    ok = await verify_password(stored_hash, attempt.password)
    new_hash = None
    if ok and stored_hash and attempt.password and needs_rehash(stored_hash):
        new_hash = await hash_password(attempt.password)

    session = None
    async with unit.transaction(ctx.db) as tx:
        if ok and user is not None and account_id is not None:
            # The membership is re-read under the account lock: a member removed meanwhile
            # must not walk away with a fresh session.
            await accounts.lock(tx.conn, account_id)
            if await team.role_of(tx.conn, account_id, user.id) is not None:
                session = await start_session(ctx, tx, user.id, account_id)
                if new_hash is not None:
                    await users.set_password_hash(tx.conn, user.id, new_hash)
                await tx.record(
                    "login", account_id=account_id, actor_user_id=user.id, actor=email, target=email
                )
        if session is None:
            tx.after_commit(metrics.login_failed)
            await tx.record("login", outcome="failure", target=email)
    if session is None:
        raise Unauthorized(BAD_LOGIN)
    return session


async def _start_account(conn: AsyncConnection, user: users.User) -> int | None:
    """Where a login starts: the account the user used last while they still belong to it,
    else the one they joined first. An unverified password opens only the account whose link
    set it."""
    if user.unverified_account_id is not None:
        return user.unverified_account_id
    last = user.last_account_id
    if last is not None and await team.role_of(conn, last, user.id) is not None:
        return last
    return await team.first_account_of(conn, user.id)


async def start_session(ctx: AppContext, tx: unit.Tx, user_id: int, account_id: int) -> NewSession:
    """A new session for a member, in the transaction that admits them; the account becomes
    the one their next login starts in."""
    token = await repo.create_session(
        tx.conn,
        user_id=user_id,
        account_id=account_id,
        at=tx.at,
        ttl=ctx.settings.session_ttl_seconds,
    )
    await users.set_last_account(tx.conn, user_id, account_id)
    return NewSession(token, user_id, account_id)


async def logout(db: Database, session_token: str | None) -> None:
    if not session_token:
        return
    async with unit.transaction(db) as tx:
        await repo.delete_session(tx.conn, token_hash(session_token))


async def add_api_key(db: Database, cred: Credential, name: Parsed[str]) -> NewApiKey:
    async with unit.acting(db, cred, Action.OWN_KEYS) as tx:
        key_name = valid(name)
        created = await repo.create_api_key(
            tx.conn,
            account_id=tx.caller.account_id,
            user_id=tx.caller.user_id,
            name=key_name,
            at=tx.at,
        )
        await tx.record(
            "api_key.create",
            target=tx.caller.email,
            details={"keyId": created.info.id, "name": key_name, "keyPrefix": created.info.prefix},
        )
    return created


async def mint_key_for(
    db: Database, cred: Credential, email: Parsed[str], name: Parsed[str]
) -> NewApiKey:
    """An API key for a member of the account, made by the operator (``teamgate key create``).

    Operator only: through the API, a key is made by its own holder, from a session; an ADMIN
    who could mint keys for others could act as any member of the account.
    """
    async with unit.acting(db, cred, Action.MANAGE_MEMBERS) as tx:
        caller = tx.caller
        if not caller.is_operator:
            raise Forbidden.for_role(caller.role)
        target = valid(email)
        member = await member_by_email(tx.conn, caller.account_id, target)
        if member is None:
            raise AppError(USER_NOT_FOUND)
        key_name = valid(name)
        created = await repo.create_api_key(
            tx.conn, account_id=caller.account_id, user_id=member[0], name=key_name, at=tx.at
        )
        await tx.record(
            "api_key.create",
            target=target,
            details={"keyId": created.info.id, "name": key_name, "keyPrefix": created.info.prefix},
        )
    return created


async def list_api_keys(db: Database, cred: Credential) -> list[ApiKey]:
    async with unit.reading(db, cred, Action.OWN_KEYS) as view:
        return await repo.api_keys_of(view.conn, view.caller.account_id, view.caller.user_id)


async def delete_api_key(db: Database, cred: Credential, key_id: Parsed[int]) -> int:
    async with unit.acting(db, cred, Action.OWN_KEYS) as tx:
        chosen = valid(key_id)
        deleted = await repo.delete_api_key(
            tx.conn, key_id=chosen, account_id=tx.caller.account_id, user_id=tx.caller.user_id
        )
        if not deleted:
            raise AppError(API_KEY_NOT_FOUND)
        await tx.record("api_key.delete", target=tx.caller.email, details={"keyId": chosen})
    return chosen


@dataclass(frozen=True, slots=True)
class AccountChoice:
    account_id: int
    name: str
    role: str
    current: bool


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A caller and the accounts they may be in: theirs, in joining order (for an unverified
    user, only the account whose link set their password)."""

    caller: Caller
    accounts: list[AccountChoice]


async def signed_in(db: Database, cred: Credential) -> SignedIn:
    async with unit.reading(db, cred, Action.READ_TEAM) as view:
        caller = view.caller
        joined = await team.memberships_of(view.conn, caller.user_id)
        if caller.unverified_account_id is not None:
            joined = [(a, r) for a, r in joined if a == caller.unverified_account_id]
        names = await accounts.names_of(view.conn, [account_id for account_id, _ in joined])
    choices = [
        AccountChoice(account_id, names[account_id], role, account_id == caller.account_id)
        for account_id, role in joined
    ]
    return SignedIn(caller, choices)


async def switch_account(ctx: AppContext, cred: Credential, account_id: Parsed[int]) -> Switched:
    """Akto's ``goToAccount``: a new session in another account the caller belongs to (the old
    session ends: a session id never changes the account it speaks for)."""
    async with unit.acting(ctx.db, cred, Action.SWITCH_ACCOUNT, lock=False) as tx:
        target = valid(account_id)
        user_id = tx.caller.user_id
        if tx.caller.unverified_account_id not in (None, target):
            raise AppError(ACCOUNT_NOT_FOUND)  # an unverified password opens one account only
        if await team.role_of(tx.conn, target, user_id) is None:
            raise AppError(ACCOUNT_NOT_FOUND)
        # Re-checked under the lock: no switching into an account one was just removed from.
        await accounts.lock(tx.conn, target)
        role = await team.role_of(tx.conn, target, user_id)
        if role is None:
            raise AppError(ACCOUNT_NOT_FOUND)
        await repo.delete_session(tx.conn, cred.token_hash)
        session = await start_session(ctx, tx, user_id, target)
        # Recorded in the account switched to, naming no other account (its ADMINs may not
        # know of it).
        await tx.record("session.switch_account", account_id=target, target=tx.caller.email)
    return Switched(session, role)
