"""Accounts: create one with its founding ADMIN, and the one-time first-run setup link."""

from __future__ import annotations

from dataclasses import dataclass

from teamgate import unit
from teamgate.accounts import repository as repo
from teamgate.audit import OPERATOR
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
    api_key: str  # the founding admin's key, shown once


@dataclass(frozen=True, slots=True)
class _Founder:
    """A new account's name and its founding admin, checked (and the password hashed) before
    any transaction opens."""

    account_name: str
    email: str
    user_name: str
    password_hash: str | None


async def _founder(
    name: str, admin_email: str, admin_name: str | None, admin_password: str | None
) -> _Founder:
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
    return _Founder(account_name, email, user_name, password_hash)


async def _found(
    tx: unit.Tx, founder: _Founder, *, existing_user: bool, actor: str
) -> tuple[int, int]:
    """The account and its ADMIN, in the caller's transaction: (account id, user id).
    ``actor`` is who the history names: ``cli`` for the operator, else the founder."""
    conn = tx.conn
    # The first-run link only ever creates the first account; once one exists it is moot.
    await repo.clear_setup_tokens(conn)
    account_id = await repo.create(conn, founder.account_name, tx.at)
    domain = email_domain(founder.email)
    if domain not in PUBLIC_MAIL_DOMAINS:
        await repo.set_allowed_domains(conn, account_id, {domain})
    user_id = await users.create(
        conn,
        email=founder.email,
        name=founder.user_name,
        password_hash=founder.password_hash,
        at=tx.at,
    )
    if user_id is None:
        existing = await users.by_email(conn, founder.email)
        assert existing is not None
        if not existing_user:
            raise UserExists()
        user_id = existing.id
        if founder.password_hash is not None:
            await users.replace_password(conn, user_id, founder.password_hash)
            await credentials.delete_sessions_of_user(conn, user_id)
            await tx.record(
                "user.password_replace", account_id=account_id, actor=actor, target=founder.email
            )
    await team.add_member(
        conn, account_id=account_id, user_id=user_id, role=Role.ADMIN.value, at=tx.at
    )
    await tx.record(
        "account.create",
        account_id=account_id,
        actor_user_id=user_id,
        actor=actor,
        target=founder.email,
        role_after=Role.ADMIN.value,
        details={"name": founder.account_name},
    )
    return account_id, user_id


async def create_account(
    db: Database,
    *,
    name: str,
    admin_email: str,
    admin_name: str | None = None,
    admin_password: str | None = None,
    existing_user: bool = False,
) -> CreatedAccount:
    """The account, its founding ADMIN and an API key for them (the operator's command).

    An email that belongs to a user already is refused unless ``existing_user``: that user then
    joins as the ADMIN, and with ``admin_password`` their password is replaced (the operator
    vouches for the identity: it counts as verified) and every session of theirs ends. A
    password is never silently ignored. The founder's domain becomes the account's allowed
    email domain, unless it is a public mail provider: then invitations may go to any address.
    """
    founder = await _founder(name, admin_email, admin_name, admin_password)
    async with unit.transaction(db) as tx:
        account_id, user_id = await _found(tx, founder, existing_user=existing_user, actor=OPERATOR)
        key = await credentials.create_api_key(
            tx.conn, account_id=account_id, user_id=user_id, name=FOUNDING_KEY_NAME, at=tx.at
        )
    return CreatedAccount(account_id, user_id, key.key)


async def set_up(
    db: Database,
    *,
    token: str,
    name: str,
    admin_email: str,
    admin_name: str | None,
    admin_password: str,
) -> int:
    """The first account, through the one-time setup link; its id. No API key is made here:
    the admin makes keys on the keys page, where each is shown once."""
    founder = await _founder(name, admin_email, admin_name, admin_password)
    async with unit.transaction(db) as tx:
        used = await repo.use_setup_token(tx.conn, token_hash(token), tx.at)
        if not used or await repo.count(tx.conn):
            raise SetupLinkInvalid()
        account_id, _ = await _found(tx, founder, existing_user=False, actor=founder.email)
    return account_id


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
