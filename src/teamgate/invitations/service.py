"""Invitations: create or replace them, accept them once, revoke them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from teamgate import audit
from teamgate.auth.caller import Credential, acting
from teamgate.auth.service import BAD_LOGIN, NewSession, create_session
from teamgate.context import AppContext
from teamgate.db import dialect_insert, now
from teamgate.emails import InvalidEmail, canonical_email, domain_allowed, email_domain
from teamgate.errors import AppError, Unauthorized
from teamgate.invitations import codes
from teamgate.invitations import repository as repo
from teamgate.models import memberships, users
from teamgate.roles import Action, permits, role_input
from teamgate.security import hash_password, password_problem, verify_password
from teamgate.team import repository as team_repo
from teamgate.text import display_name

ASK_ADMIN = "Ask admin to invite you"
INVITED_BY_ANOTHER = "An invitation from another member is pending for this email"


@dataclass(frozen=True, slots=True)
class AcceptedInvite:
    session: NewSession
    email: str
    role: str


def _origin(ctx: AppContext, website: object) -> str:
    origins = ctx.settings.public_origins
    if website is None:
        return origins[0]
    if isinstance(website, str):
        origin = website.removesuffix("/")
        if origin in origins:
            return origin
    raise AppError("Invalid website host name")


def _invitee_name(value: object) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return display_name(value, "inviteeName")


async def invite(
    ctx: AppContext, cred: Credential, data: dict[str, Any], request_id: str | None
) -> dict[str, str]:
    at = now()
    async with acting(ctx.db, cred, Action.INVITE) as (conn, caller):
        try:
            email = canonical_email(data.get("inviteeEmail"))
        except InvalidEmail:
            raise AppError("Invalid email") from None
        if not await repo.invites_enabled(conn, caller.account_id):
            raise AppError("Inviting new users is not allowed for this account")
        if await team_repo.member_by_email(conn, caller.account_id, email) is not None:
            raise AppError("User already exists")
        if not domain_allowed(
            email_domain(email), await repo.allowed_domains(conn, caller.account_id)
        ):
            raise AppError("Email must belong to same organisation")
        role = role_input(data.get("inviteeRole"))
        base = await team_repo.role_base(conn, caller.account_id, role) if role else None
        if role is None or base is None:
            raise AppError("Invalid role")
        if not caller.base_role.can_assign(base):
            raise AppError("User not allowed to invite for this role")
        origin = _origin(ctx, data.get("websiteHostName"))
        name = _invitee_name(data.get("inviteeName"))
        if not permits(caller.base_role, Action.MANAGE_MEMBERS):
            inviter = await repo.pending_inviter(conn, caller.account_id, email)
            if inviter is not None and inviter != caller.user_id:
                raise AppError(INVITED_BY_ANOTHER)
        await ctx.limits.take(
            ctx.limits.invite_per_account, "invite-account", str(caller.account_id)
        )
        claims = codes.InviteClaims(
            codes.new_jti(), email, caller.account_id, at + codes.INVITE_TTL_SECONDS
        )
        await repo.upsert(
            conn,
            account_id=caller.account_id,
            email=email,
            name=name,
            role=role,
            inviter_id=caller.user_id,
            jti=claims.jti,
            created_at=at,
            expires_at=claims.expires_at,
        )
        await audit.record(
            conn,
            "invitation.create",
            account_id=caller.account_id,
            actor_user_id=caller.user_id,
            target=email,
            detail=role,
            request_id=request_id,
        )
    code = codes.sign(ctx.settings.signing_key, claims, at)
    return {"finalInviteCode": codes.link(origin, code, email), "inviteeRole": role}


async def preview(ctx: AppContext, code: object) -> repo.PendingInvitation | None:
    """What a code invites to, without consuming anything (mail scanners open links)."""
    claims = codes.verify(ctx.settings.signing_key, code)
    if claims is None:
        return None
    async with ctx.db.read() as conn:
        pending = await repo.pending_by_jti(conn, claims.jti, now())
    if pending is None or pending.email != claims.email or pending.account_id != claims.account_id:
        return None
    return pending


async def accept(
    ctx: AppContext, data: dict[str, Any], client: str, request_id: str | None
) -> AcceptedInvite:
    limits = ctx.limits
    await limits.take(limits.accept_per_client, "accept-client", client)
    accepted = await _accept(ctx, data, request_id)
    await limits.refund(limits.accept_per_client, "accept-client", client)
    return accepted


async def _accept(ctx: AppContext, data: dict[str, Any], request_id: str | None) -> AcceptedInvite:
    code = data.get("inviteCode", data.get("signupInvitationCode"))
    pending = await preview(ctx, code)
    if pending is None:
        raise AppError(ASK_ADMIN)
    async with ctx.db.read() as conn:
        existing = await repo.user_by_email(conn, pending.email)
    password = data.get("password")
    # Checked alike for new and existing users (every stored password obeys the same rule).
    problem = password_problem(password)
    if problem:
        raise AppError(problem)
    assert isinstance(password, str)
    new_hash: str | None = None
    name: str | None = None
    if existing is not None:
        # An existing user proves who they are with their own password; an invite code never
        # sets credentials on an existing user (its holder may be the inviter, not the user).
        # A user without a password (created for API-key use only) cannot accept this way.
        if existing[1] is None:
            raise AppError(ASK_ADMIN)
        await _verify_existing_password(ctx, pending.email, existing[1], password)
    else:
        name_value = data.get("name")
        name = display_name(pending.name if name_value is None else name_value, "name")
        new_hash = await hash_password(password)

    at = now()
    try:
        async with ctx.db.write() as conn:
            role = await repo.consume(conn, pending.id, pending.jti, at)
            if role is None or await team_repo.role_base(conn, pending.account_id, role) is None:
                raise AppError(ASK_ADMIN)
            if existing is None:
                assert name is not None
                user_id = (
                    await conn.execute(
                        insert(users)
                        .values(
                            email=pending.email, name=name, password_hash=new_hash, created_at=at
                        )
                        .returning(users.c.id)
                    )
                ).scalar_one()
            else:
                user_id = existing[0]
            inserted = await conn.execute(
                dialect_insert(conn, memberships)
                .values(account_id=pending.account_id, user_id=user_id, role=role, created_at=at)
                .on_conflict_do_nothing(index_elements=["account_id", "user_id"])
                .returning(memberships.c.id)
            )
            if inserted.first() is None:
                raise AppError("User already exists")
            session = await create_session(
                conn, user_id, pending.account_id, ctx.settings.session_ttl_seconds
            )
            await audit.record(
                conn,
                "invitation.accept",
                account_id=pending.account_id,
                actor_user_id=user_id,
                target=pending.email,
                detail=role,
                request_id=request_id,
            )
    except IntegrityError:
        # A concurrent acceptance created this user first; nothing here was written.
        raise AppError(ASK_ADMIN) from None
    return AcceptedInvite(session, pending.email, role)


async def _verify_existing_password(
    ctx: AppContext, email: str, stored_hash: str, password: str
) -> None:
    """The login check, under the login's per-email budget (no second door for guessing)."""
    limits = ctx.limits
    await limits.take(limits.login_per_email, "login-email", email)
    if not await verify_password(stored_hash, password):
        raise Unauthorized(BAD_LOGIN)
    await limits.refund(limits.login_per_email, "login-email", email)


async def remove_invitation(
    ctx: AppContext, cred: Credential, email_value: object, request_id: str | None
) -> dict[str, Any]:
    """Revoke a pending invitation: ADMINs any, MEMBERs only their own."""
    async with acting(ctx.db, cred, Action.INVITE) as (conn, caller):
        try:
            email = canonical_email(email_value)
        except InvalidEmail:
            raise AppError("Invalid email") from None
        own_only = None if permits(caller.base_role, Action.MANAGE_MEMBERS) else caller.user_id
        if not await repo.delete_for_email(conn, caller.account_id, email, own_only):
            raise AppError("Invitation not found")
        await audit.record(
            conn,
            "invitation.revoke",
            account_id=caller.account_id,
            actor_user_id=caller.user_id,
            target=email,
            request_id=request_id,
        )
    return {"email": email}
