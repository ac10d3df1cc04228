"""Accounts: create one with its founding ADMIN, and the one-time first-run setup link."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate import audit
from teamgate.auth.service import create_api_key
from teamgate.db import Database, dialect_insert, now
from teamgate.emails import PUBLIC_MAIL_DOMAINS, InvalidEmail, canonical_email, email_domain
from teamgate.errors import AppError
from teamgate.models import account_email_domains, accounts, memberships, setup_tokens, users
from teamgate.roles import Role
from teamgate.security import hash_password, new_token, password_problem, token_hash
from teamgate.text import display_name

SETUP_TTL_SECONDS = 24 * 3600
SETUP_LINK_INVALID = "This setup link is no longer valid"


@dataclass(frozen=True, slots=True)
class CreatedAccount:
    account_id: int
    user_id: int
    api_key: str


async def create_account(
    db: Database,
    *,
    name: str,
    admin_email: str,
    admin_name: str | None = None,
    admin_password: str | None = None,
    setup_token: str | None = None,
) -> CreatedAccount:
    """The account, its founding ADMIN (an existing user joins as ADMIN) and an API key for them.

    The founder's domain becomes the account's allowed email domain, unless it is a public
    mail provider: then no domain is configured and invitations may go to any address.
    """
    account_name = display_name(name, "Account name")
    try:
        email = canonical_email(admin_email)
    except InvalidEmail:
        raise AppError("Invalid email") from None
    user_name = display_name(admin_name, "Admin name") if admin_name else email.split("@")[0]
    password_hash = None
    if admin_password is not None:
        problem = password_problem(admin_password)
        if problem:
            raise AppError(problem)
        password_hash = await hash_password(admin_password)
    at = now()
    async with db.write() as conn:
        if setup_token is not None:
            used = await conn.execute(
                delete(setup_tokens).where(
                    setup_tokens.c.token_hash == token_hash(setup_token),
                    setup_tokens.c.expires_at > at,
                )
            )
            if not used.rowcount or await _account_count(conn):
                raise AppError(SETUP_LINK_INVALID)
        # The first-run link only ever creates the first account; once one exists it is moot.
        await conn.execute(delete(setup_tokens))
        account_id = (
            await conn.execute(
                insert(accounts)
                .values(name=account_name, invites_enabled=True, created_at=at)
                .returning(accounts.c.id)
            )
        ).scalar_one()
        domain = email_domain(email)
        if domain not in PUBLIC_MAIL_DOMAINS:
            await conn.execute(
                insert(account_email_domains).values(account_id=account_id, domain=domain)
            )
        user_id = (
            await conn.execute(
                dialect_insert(conn, users)
                .values(email=email, name=user_name, password_hash=password_hash, created_at=at)
                .on_conflict_do_nothing(index_elements=["email"])
                .returning(users.c.id)
            )
        ).scalar_one_or_none()
        if user_id is None:
            user_id = (
                await conn.execute(select(users.c.id).where(users.c.email == email))
            ).scalar_one()
        await conn.execute(
            insert(memberships).values(
                account_id=account_id, user_id=user_id, role=Role.ADMIN.value, created_at=at
            )
        )
        key = await create_api_key(conn, account_id, user_id, "Founding admin key")
        await audit.record(
            conn, "account.create", account_id=account_id, actor_user_id=user_id, target=email
        )
    return CreatedAccount(account_id, user_id, key["key"])


async def _account_count(conn: AsyncConnection) -> int:
    count: int = (await conn.execute(select(func.count()).select_from(accounts))).scalar_one()
    return count


async def issue_setup_token(db: Database) -> str | None:
    """A fresh one-time setup token while no account exists (older ones stop working)."""
    token = new_token()
    at = now()
    async with db.write() as conn:
        if await _account_count(conn):
            return None
        await conn.execute(delete(setup_tokens))
        await conn.execute(
            insert(setup_tokens).values(
                token_hash=token_hash(token), created_at=at, expires_at=at + SETUP_TTL_SECONDS
            )
        )
    return token


async def setup_token_valid(db: Database, token: object) -> bool:
    if not isinstance(token, str) or not token or len(token) > 200:
        return False
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(setup_tokens.c.token_hash).where(
                    setup_tokens.c.token_hash == token_hash(token),
                    setup_tokens.c.expires_at > now(),
                )
            )
        ).first()
    return row is not None
