"""The account policy, and the one function that judges every invitation against it.

Every path that makes an invitation (the API, the team page, the operator's command) or turns
one into a membership (acceptance) asks ``judge``; its refusal is the message of the rule the
invitation breaks, the same wherever it is asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate.accounts import repository as repo
from teamgate.auth.caller import Caller
from teamgate.emails import domain_allowed, email_domain
from teamgate.errors import Forbidden
from teamgate.roles import Role

INVITES_DISABLED = "Inviting new users is not allowed for this account"
ALREADY_MEMBER = "User already exists"
OTHER_ORGANISATION = "Email must belong to same organisation"
SEAT_LIMIT_REACHED = "Seat limit reached"
ADMINS_ONLY = "Only admins may invite people to this account"

MAX_INVITE_LIFETIME_DAYS = 30
DAY_SECONDS = 24 * 3600


class WhoCanInvite(StrEnum):
    ADMINS = "ADMINS"
    ADMINS_AND_MEMBERS = "ADMINS_AND_MEMBERS"


@dataclass(frozen=True, slots=True)
class Policy:
    invites_enabled: bool
    allowed_email_domains: list[str]  # sorted; empty allows any domain
    who_can_invite: WhoCanInvite
    invite_lifetime_days: int
    seat_limit: int | None  # members plus pending invitations; None: no limit

    @property
    def invite_lifetime_seconds(self) -> int:
        return self.invite_lifetime_days * DAY_SECONDS


@dataclass(frozen=True, slots=True)
class Seats:
    """What holds a seat besides the invitation being judged."""

    members: int
    other_invitations: int  # pending; 0 when judging an acceptance (it frees its own seat)


async def load(conn: AsyncConnection, account_id: int) -> Policy:
    row = await repo.policy_of(conn, account_id)
    return Policy(
        invites_enabled=row.invites_enabled,
        allowed_email_domains=await repo.allowed_domains(conn, account_id),
        who_can_invite=WhoCanInvite(row.who_can_invite),
        invite_lifetime_days=row.invite_lifetime_days,
        seat_limit=row.seat_limit,
    )


def require_inviter(policy: Policy, caller: Caller) -> None:
    """403 for a caller the policy does not let invite (a MEMBER when only ADMINs may)."""
    if policy.who_can_invite is WhoCanInvite.ADMINS and caller.base_role is not Role.ADMIN:
        raise Forbidden.for_role(caller.role)


def may_invite(policy: Policy, caller: Caller) -> bool:
    try:
        require_inviter(policy, caller)
    except Forbidden:
        return False
    return True


def judge(
    policy: Policy,
    email: str,
    *,
    is_member: bool,
    seats: Seats,
    inviter_base: Role | None = Role.ADMIN,
) -> str | None:
    """The first rule an invitation for ``email`` breaks, as its message; None if it may go
    ahead. In order: invitations off, already a member, a domain not allowed, no free seat,
    and (judging an acceptance) an inviter the policy no longer lets invite. ``inviter_base``
    is the inviter's base role now (None: the operator, who is no member)."""
    if not policy.invites_enabled:
        return INVITES_DISABLED
    if is_member:
        return ALREADY_MEMBER
    if not domain_allowed(email_domain(email), policy.allowed_email_domains):
        return OTHER_ORGANISATION
    taken = seats.members + seats.other_invitations
    if policy.seat_limit is not None and taken + 1 > policy.seat_limit:
        return SEAT_LIMIT_REACHED
    if (
        policy.who_can_invite is WhoCanInvite.ADMINS
        and inviter_base is not None
        and inviter_base is not Role.ADMIN
    ):
        return ADMINS_ONLY
    return None
