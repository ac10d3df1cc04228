"""Invitations: create or replace them, accept them once, revoke them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate import inputs, metrics, unit
from teamgate.accounts import policy as policies
from teamgate.accounts import repository as accounts
from teamgate.accounts.policy import Policy, Seats
from teamgate.auth import repository as credentials
from teamgate.auth.caller import Credential
from teamgate.auth.service import BAD_LOGIN, NewSession, start_session
from teamgate.context import AppContext
from teamgate.db import Database, now
from teamgate.errors import AppError, Unauthorized
from teamgate.inputs import Parsed, Refusal, valid
from teamgate.invitations import codes
from teamgate.invitations import repository as repo
from teamgate.invitations.repository import Invitation
from teamgate.mail import outbox
from teamgate.roles import Action, Role, permits
from teamgate.security import hash_password, password_problem, verify_password
from teamgate.team import repository as team
from teamgate.team.service import grantable, member_by_email
from teamgate.users import repository as users
from teamgate.users.service import send_verification

ASK_ADMIN = "Ask admin to invite you"
INVITED_BY_ANOTHER = "An invitation from another member is pending for this email"
ROLE_ABOVE_CALLER = "User not allowed to invite for this role"
INVALID_WEBSITE = "Invalid website host name"
INVITATION_NOT_FOUND = "Invitation not found"
NOT_YOUR_INVITATION = "User is not allowed to remove this invitation."
NOT_YOUR_INVITATION_TO_RESEND = "User is not allowed to resend this invitation."
UNVERIFIED_EMAIL = (
    "This email address is not verified yet: its password was set through another account's "
    "invitation. A link to verify it was emailed to it: follow it to choose your password, "
    "then accept this invitation with it"
)


class InvitationInvalid(AppError):
    """The code is not (or no longer) one that can be accepted: a page shows a dead end."""

    def __init__(self) -> None:
        super().__init__(ASK_ADMIN)


@dataclass(frozen=True, slots=True)
class Invite:
    email: Parsed[str]
    role: str | None  # None: not a role name at all
    name: Parsed[str | None]
    website: Parsed[str | None]  # None: the server's first public origin


@dataclass(frozen=True, slots=True)
class Invited:
    email: str
    role: str
    link: str  # shown to the inviter once; never stored or listed
    expires_at: int


@dataclass(frozen=True, slots=True)
class Preview:
    invitation: Invitation
    account_name: str


@dataclass(frozen=True, slots=True)
class Acceptance:
    code: str | None  # the code, or the whole invite link
    name: Parsed[str] | None  # None: the name the invitation gives
    password: str | None


@dataclass(frozen=True, slots=True)
class Accepted:
    session: NewSession
    email: str
    role: str
    account_name: str


def website(value: object) -> Parsed[str | None]:
    """``websiteHostName`` as sent (a trailing ``/`` aside); the service judges it."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.removesuffix("/")
    return Refusal(INVALID_WEBSITE)


def _origin(ctx: AppContext, website: str | None) -> str:
    origins = ctx.settings.public_origins
    if website is None:
        return origins[0]
    if website in origins:
        return website
    raise AppError(INVALID_WEBSITE)


async def resend(
    ctx: AppContext, cred: Credential, email: Parsed[str], website: Parsed[str | None]
) -> Invited:
    """A new link (and email) for a pending invitation, with its role and name: the old link
    stops working at once. Who may invite may resend; MEMBERs only their own. Judged by every
    rule of ``invite``, and limited per invitation besides."""
    async with unit.reading(ctx.db, cred, Action.INVITE) as view:
        caller = view.caller
        policies.require_inviter(await policies.load(view.conn, caller.account_id), caller)
        target = valid(email)
        pending = await repo.pending_for_email(view.conn, caller.account_id, target)
        if pending is None:
            raise AppError(INVITATION_NOT_FOUND)
        if not permits(caller.base_role, Action.MANAGE_MEMBERS) and (
            pending.inviter_id != caller.user_id
        ):
            raise AppError(NOT_YOUR_INVITATION_TO_RESEND)
    limits = ctx.limits
    await limits.take(limits.resend_per_invitation, "resend", str(caller.account_id), target)
    again = Invite(email=target, role=pending.role, name=pending.name, website=website)
    return await invite(ctx, cred, again, resending=True)


async def invite(
    ctx: AppContext, cred: Credential, request: Invite, *, resending: bool = False
) -> Invited:
    """Create an invitation, or replace the pending one: its old link stops working.
    ``resending``: the invitation must still be pending (see ``resend``).

    The per-account budget is reserved before the transaction (its storage may be remote) and
    given back unless the invitation is made (a refused caller's too); over budget, the 429
    comes after every other check.
    """
    limits = ctx.limits
    account_id = (
        cred.account_id
        if cred.kind == "operator"
        else await credentials.account_of(ctx.db, cred.kind, cred.token_hash, now())
    )
    if account_id is None:
        raise Unauthorized()
    budget = await limits.reserve(limits.invite_per_account, "invite-account", str(account_id))
    try:
        async with unit.acting(ctx.db, cred, Action.INVITE) as tx:
            policy = await policies.load(tx.conn, tx.caller.account_id)
            policies.require_inviter(policy, tx.caller)
            made = await make(ctx, tx, policy, request, budget.check, resending=resending)
    except Exception:
        await budget.cancel()
        raise
    return signed(ctx, made, tx.at)


@dataclass(frozen=True, slots=True)
class Made:
    claims: codes.InviteClaims
    role: str
    origin: str


def signed(ctx: AppContext, made: Made, issued_at: int) -> Invited:
    """The invitation's link, signed once its transaction has committed."""
    email = made.claims.email
    code = codes.sign(ctx.settings.signing_key, made.claims, issued_at)
    return Invited(email, made.role, codes.link(origin=made.origin, code=code, email=email),
                   made.claims.expires_at)  # fmt: skip


async def make(
    ctx: AppContext,
    tx: unit.ActingTx,
    policy: Policy,
    request: Invite,
    spend: Callable[[], None],
    *,
    resending: bool = False,
) -> Made:
    """One invitation, judged by every rule in the contract's order, then written with its
    email and its history event. ``spend`` takes one use of the invitation budget (429 when it
    is spent), after every other check. Nothing is written unless every check passes."""
    caller, conn = tx.caller, tx.conn
    email = valid(request.email)
    own_only = not permits(caller.base_role, Action.MANAGE_MEMBERS)
    # Who sent the pending invitation, read once (before any write) for the rules that ask.
    pending, inviter = (
        await repo.pending_inviter(conn, caller.account_id, email)
        if resending or own_only
        else (False, None)
    )
    if resending and not pending:
        raise AppError(INVITATION_NOT_FOUND)  # accepted or revoked meanwhile
    is_member = await member_by_email(conn, caller.account_id, email) is not None
    seats = await _seats(conn, caller.account_id, policy, besides=email)
    refusal = policies.judge(policy, email, is_member=is_member, seats=seats)
    if refusal is not None:
        raise AppError(refusal)
    role, _ = await grantable(conn, caller, request.role, above_caller=ROLE_ABOVE_CALLER)
    origin = _origin(ctx, valid(request.website))
    name = valid(request.name)
    if own_only and pending and inviter != caller.user_id:  # another's, or the operator's
        raise AppError(INVITED_BY_ANOTHER)
    spend()
    claims = codes.InviteClaims(
        codes.new_jti(), email, caller.account_id, tx.at + policy.invite_lifetime_seconds
    )
    await repo.upsert(
        conn,
        account_id=caller.account_id,
        email=email,
        name=name,
        role=role,
        inviter_id=caller.actor_user_id,
        jti=claims.jti,
        created_at=tx.at,
        expires_at=claims.expires_at,
    )
    await outbox.enqueue_invitation(
        conn, account_id=caller.account_id, recipient=email, jti=claims.jti, origin=origin, at=tx.at
    )
    if ctx.mail is not None:
        tx.after_commit(ctx.mail.woken)
    tx.after_commit(metrics.invitation_created(resending=resending))
    await tx.record(
        "invitation.resend" if resending else "invitation.create",
        target=email,
        role_after=role,
        details={"expiresAt": claims.expires_at},
    )
    return Made(claims, role, origin)


async def _seats(
    conn: AsyncConnection, account_id: int, policy: Policy, *, besides: str | None
) -> Seats:
    """The seats taken besides the one being judged (counted only under a seat limit).
    ``besides``: the invitee, whose own pending invitation an invite replaces; None for an
    acceptance, which turns its invitation into a membership and so needs a free seat among
    the members alone."""
    if policy.seat_limit is None:
        return Seats(0, 0)
    members = await team.member_count(conn, account_id)
    if besides is None:
        return Seats(members, 0)
    return Seats(members, await repo.pending_count(conn, account_id, besides=besides))


async def _inviter_base(conn: AsyncConnection, pending: Invitation) -> Role | None:
    """The inviter's base role now; None when the operator sent it. (An inviter who left the
    account took their pending invitations with them.)"""
    if pending.inviter_id is None:
        return None
    role = await team.role_of(conn, pending.account_id, pending.inviter_id)
    return await team.role_base(conn, pending.account_id, role) if role else None


EXPIRED, REPLACED, USED, WITHDRAWN = "expired", "replaced", "used", "withdrawn"


@dataclass(frozen=True, slots=True)
class DeadLink:
    """Why a well-made invitation link no longer works."""

    reason: str  # EXPIRED, REPLACED, USED or WITHDRAWN
    email: str
    account_name: str
    expired_at: int


async def dead_link(ctx: AppContext, code: str | None) -> DeadLink | None:
    """Why this invitation link (signed by this server) no longer works; None when it is not
    one of ours, or still works. The one who holds a link learns nothing about anyone else."""
    claims = codes.verify(ctx.settings.signing_key, code, expired_too=True)
    if claims is None:
        return None
    at = now()
    async with ctx.db.read() as conn:
        name = await accounts.name_of(conn, claims.account_id)
        if name is None:
            return None
        pending = await repo.pending_for_email(conn, claims.account_id, claims.email)
        if pending is not None and pending.jti == claims.jti:
            if pending.expires_at > at:
                return None  # it works
            reason = EXPIRED
        elif pending is not None:
            reason = REPLACED
        elif await member_by_email(conn, claims.account_id, claims.email) is not None:
            reason = USED
        else:
            reason = EXPIRED if claims.expires_at <= at else WITHDRAWN
    return DeadLink(reason, claims.email, name, claims.expires_at)


async def ask_again(ctx: AppContext, code: str | None, client: str) -> None:
    """Tell the account's ADMINs, by email, that the holder of a dead link would like a new
    invitation. Limited per address and account (further asks send nothing); the answer is the
    same whatever is sent."""
    claims = codes.verify(ctx.settings.signing_key, code, expired_too=True)
    if claims is None:
        raise InvitationInvalid()
    limits = ctx.limits
    await limits.take(limits.reset_per_client, "ask-client", client)
    key = (str(claims.account_id), claims.email)
    if not await limits.try_take(limits.ask_per_email, "ask-email", *key):
        return
    async with unit.transaction(ctx.db) as tx:
        conn = tx.conn
        if await accounts.name_of(conn, claims.account_id) is None:
            return
        admins = await team.admin_user_ids(conn, claims.account_id)
        for user_id in admins:
            await outbox.enqueue_invitation_request(
                conn,
                account_id=claims.account_id,
                admin_email=(await users.by_id(conn, user_id)).email,
                requester=claims.email,
                at=tx.at,
            )
        if ctx.mail is not None:
            tx.after_commit(ctx.mail.woken)
        await tx.record(
            "invitation.request",
            account_id=claims.account_id,
            actor=claims.email,
            target=claims.email,
        )


async def preview(ctx: AppContext, code: str | None) -> Preview | None:
    """What a code invites to, without consuming anything (mail scanners open links)."""
    claims = codes.verify(ctx.settings.signing_key, code)
    if claims is None:
        return None
    async with ctx.db.read() as conn:
        pending = await repo.pending_by_jti(conn, claims.jti, now())
        if pending is None or (pending.email, pending.account_id) != (
            claims.email,
            claims.account_id,
        ):
            return None
        account_name = await accounts.name_of(conn, pending.account_id)
    return Preview(pending, account_name or "")


async def accept(ctx: AppContext, acceptance: Acceptance, client: str) -> Accepted:
    """Join the account with the invited role, once; failures count against the client."""
    limits = ctx.limits
    async with limits.counting_failures(limits.accept_per_client, "accept-client", client):
        return await _accept(ctx, acceptance)


async def _accept(ctx: AppContext, acceptance: Acceptance) -> Accepted:
    found = await preview(ctx, acceptance.code)
    if found is None:
        raise InvitationInvalid()
    pending = found.invitation
    async with ctx.db.read() as conn:
        existing = await users.by_email(conn, pending.email)
    # Checked alike for new and existing users (every stored password obeys the same rule).
    problem = password_problem(acceptance.password)
    if problem:
        raise AppError(problem)
    assert acceptance.password is not None
    password = acceptance.password
    new_hash: str | None = None
    name: str | None = None
    if existing is not None:
        # An existing user proves who they are with their own password; an invite code never
        # sets credentials on an existing user (its holder may be the inviter, not the user).
        # A user without a password (created for API-key use only) cannot accept this way.
        if existing.password_hash is None:
            raise InvitationInvalid()
        if existing.unverified_account_id not in (None, pending.account_id):
            # Its password was chosen through another account's link, which that account's
            # inviter held too: it proves nothing about who owns the address. The address is
            # asked to prove itself (a password link sent to it), whatever password was given:
            # its owner may never have known that one.
            await send_verification(ctx, pending.email)
            raise AppError(UNVERIFIED_EMAIL)
        await _verify_existing_password(ctx, pending.email, existing.password_hash, password)
    else:
        given = acceptance.name
        name = valid(inputs.name(pending.name, "name") if given is None else given)
        new_hash = await hash_password(password)

    async with unit.transaction(ctx.db) as tx:
        conn = tx.conn
        # The same lock as every write that can conflict with joining: a re-invite (which
        # checks membership, then writes the invitation) and a custom role's deletion (which
        # checks the role is unused) see the acceptance either whole or not at all.
        await accounts.lock(conn, pending.account_id)
        role = await repo.consume(conn, pending.id, pending.jti, tx.at)
        if role is None or await team.role_base(conn, pending.account_id, role) is None:
            raise InvitationInvalid()
        # The policy as it stands now: an invitation it no longer allows stays pending (the
        # refusal rolls the consumption back) and is refused as inviteUsers would refuse it.
        policy = await policies.load(conn, pending.account_id)
        is_member = existing is not None and (
            await team.role_of(conn, pending.account_id, existing.id) is not None
        )
        seats = await _seats(conn, pending.account_id, policy, besides=None)
        inviter_base = await _inviter_base(conn, pending)
        refusal = policies.judge(
            policy, pending.email, is_member=is_member, seats=seats, inviter_base=inviter_base
        )
        if refusal is not None:
            raise AppError(refusal)
        if existing is None:
            assert name is not None
            user_id = await users.create(
                conn,
                email=pending.email,
                name=name,
                password_hash=new_hash,
                at=tx.at,
                unverified_account_id=pending.account_id,
            )
            if user_id is None:  # a concurrent acceptance created this user first
                raise InvitationInvalid()
        else:
            user_id = existing.id
        if not await team.add_member(
            conn, account_id=pending.account_id, user_id=user_id, role=role, at=tx.at
        ):
            raise AppError(policies.ALREADY_MEMBER)
        session = await start_session(ctx, tx, user_id, pending.account_id)
        tx.after_commit(metrics.invitation_accepted)
        await tx.record(
            "invitation.accept",
            account_id=pending.account_id,
            actor_user_id=user_id,
            actor=pending.email,
            target=pending.email,
            role_after=role,
        )
    return Accepted(session, pending.email, role, found.account_name)


async def _verify_existing_password(
    ctx: AppContext, email: str, stored_hash: str, password: str
) -> None:
    """The login check, under the login's per-email budget (no second door for guessing)."""
    limits = ctx.limits
    async with limits.counting_failures(limits.login_per_email, "login-email", email):
        if not await verify_password(stored_hash, password):
            raise Unauthorized(BAD_LOGIN)


async def remove_invitation(db: Database, cred: Credential, email: Parsed[str]) -> str:
    """Revoke a pending invitation: ADMINs any, MEMBERs only their own."""
    async with unit.acting(db, cred, Action.INVITE) as tx:
        caller = tx.caller
        target = valid(email)
        own_only = None if permits(caller.base_role, Action.MANAGE_MEMBERS) else caller.user_id
        if not await repo.delete_for_email(tx.conn, caller.account_id, target, inviter_id=own_only):
            if await repo.is_pending(tx.conn, caller.account_id, target):
                raise AppError(NOT_YOUR_INVITATION)
            raise AppError(INVITATION_NOT_FOUND)
        await tx.record("invitation.revoke", target=target)
    return target
