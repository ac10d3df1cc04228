"""Accounts: create one with its founding ADMIN, and the one-time first-run setup link."""

from __future__ import annotations

from dataclasses import dataclass

from teamgate import unit
from teamgate.accounts import repository as repo
from teamgate.auth import repository as credentials
from teamgate.db import Database, now
from teamgate.emails import PUBLIC_MAIL_DOMAINS, InvalidEmail, canonical_email, email_domain
from teamgate.errors import AppError
from teamgate.inputs import INVALID_EMAIL
from teamgate.roles import Role
from teamgate.security import hash_password, new_token, password_problem, token_hash
from teamgate.team import repository as team
from teamgate.text import display_name
from teamgate.users import repository as users

SETUP_TTL_SECONDS = 24 * 3600
SETUP_LINK_INVALID = "This setup link is no longer valid"
FOUNDING_KEY_NAME = "Founding admin key"


USER_EXISTS = "A user with this email already exists"


class UserExists(AppError):
    """The founding admin's email belongs to a user already, and nobody said to reuse them."""

    def __init__(self) -> None:
        super().__init__(USER_EXISTS)


class SetupLinkInvalid(AppError):
    """The first-run link was used, replaced or expired, or an account exists already."""

    def __init__(self) -> None:
        super().__init__(SETUP_LINK_INVALID)


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
    existing_user: bool = False,
) -> CreatedAccount:
    """The account, its founding ADMIN and an API key for them.

    An email that belongs to a user already is refused unless ``existing_user``: that user then
    joins as the ADMIN, and with ``admin_password`` their password is replaced (the operator
    vouches for the identity: it counts as verified) and every session of theirs ends. A
    password is never silently ignored. The founder's domain becomes the account's allowed
    email domain, unless it is a public mail provider: then invitations may go to any address.
    """
    account_name = display_name(name, "Account name")
    try:
        email = canonical_email(admin_email)
    except InvalidEmail:
        raise AppError(INVALID_EMAIL) from None
    user_name = display_name(admin_name, "Admin name") if admin_name else email.split("@")[0]
    password_hash = None
    if admin_password is not None:
        problem = password_problem(admin_password)
        if problem:
            raise AppError(problem)
        password_hash = await hash_password(admin_password)
    async with unit.transaction(db) as tx:
        conn = tx.conn
        if setup_token is not None:
            used = await repo.use_setup_token(conn, token_hash(setup_token), tx.at)
            if not used or await repo.count(conn):
                raise SetupLinkInvalid()
        # The first-run link only ever creates the first account; once one exists it is moot.
        await repo.clear_setup_tokens(conn)
        account_id = await repo.create(conn, account_name, tx.at)
        domain = email_domain(email)
        if domain not in PUBLIC_MAIL_DOMAINS:
            await repo.set_allowed_domains(conn, account_id, {domain})
        user_id = await users.create(
            conn, email=email, name=user_name, password_hash=password_hash, at=tx.at
        )
        if user_id is None:
            existing = await users.by_email(conn, email)
            assert existing is not None
            if not existing_user:
                raise UserExists()
            user_id = existing.id
            if password_hash is not None:
                await users.replace_password(conn, user_id, password_hash)
                await credentials.delete_sessions_of_user(conn, user_id)
                await tx.record("user.password_replace", account_id=account_id, target=email)
        await team.add_member(
            conn, account_id=account_id, user_id=user_id, role=Role.ADMIN.value, at=tx.at
        )
        key = await credentials.create_api_key(
            conn, account_id=account_id, user_id=user_id, name=FOUNDING_KEY_NAME, at=tx.at
        )
        await tx.record(
            "account.create", account_id=account_id, actor_user_id=user_id, target=email
        )
    return CreatedAccount(account_id, user_id, key.key)


async def issue_setup_token(db: Database) -> str | None:
    """A fresh one-time setup token while no account exists (older ones stop working)."""
    token = new_token()
    async with unit.transaction(db) as tx:
        if await repo.count(tx.conn):
            return None
        await repo.replace_setup_token(tx.conn, token_hash(token), tx.at, SETUP_TTL_SECONDS)
    return token


async def setup_token_valid(db: Database, token: object) -> bool:
    if not isinstance(token, str) or not token or len(token) > 200:
        return False
    async with db.read() as conn:
        return await repo.setup_token_exists(conn, token_hash(token), now())
