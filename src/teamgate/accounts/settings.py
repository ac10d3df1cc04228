"""Account settings (the policy, see ``policy.py``): read and change them, ADMIN only.

Every change is recorded in the membership history with each changed field's value before
and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate import unit
from teamgate.accounts import policy as policies
from teamgate.accounts import repository as repo
from teamgate.accounts.policy import Policy, WhoCanInvite
from teamgate.auth.caller import Credential
from teamgate.db import Database
from teamgate.emails import PUBLIC_MAIL_DOMAINS, InvalidEmail, canonical_email, email_domain
from teamgate.inputs import Parsed, Refusal, valid
from teamgate.invitations import repository as invitations
from teamgate.roles import Action
from teamgate.team import repository as team

MAX_DOMAINS = 100
BAD_DOMAINS = "allowedEmailDomains must be a list of domains (or *.domain for subdomains)"
PUBLIC_DOMAIN = (
    "{domain} is a public email provider: anyone can get an address there. "
    'Send "allowPublicDomains": true to allow it anyway'
)
BAD_INVITES_ENABLED = "invitesEnabled must be true or false"
BAD_ALLOW_PUBLIC = "allowPublicDomains must be true or false"
BAD_WHO_CAN_INVITE = 'whoCanInvite must be "ADMINS" or "ADMINS_AND_MEMBERS"'
BAD_LIFETIME = "inviteLifetimeDays must be a whole number from 1 to 30"
BAD_SEAT_LIMIT = "seatLimit must be a whole number of at least 1, or null for no limit"


class _Keep:
    """A field the change leaves as it is (``None`` means "no limit" for seatLimit)."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = _Keep()


@dataclass(frozen=True, slots=True)
class AccountSettings:
    policy: Policy
    seats_used: int  # members plus pending invitations


@dataclass(frozen=True, slots=True)
class SettingsChange:
    """The fields to change; ``KEEP`` (or None, where None is no value) leaves one as it is."""

    invites_enabled: Parsed[bool | None] = None
    allowed_email_domains: Parsed[set[str] | None] = None
    who_can_invite: Parsed[WhoCanInvite | None] = None
    invite_lifetime_days: Parsed[int | None] = None
    seat_limit: Parsed[int | _Keep | None] = KEEP


def invites_enabled(value: object) -> Parsed[bool | None]:
    if value is None or isinstance(value, bool):
        return value
    return Refusal(BAD_INVITES_ENABLED)


def email_domains(value: object, allow_public: object = False) -> Parsed[set[str] | None]:
    """Domains in the ASCII form emails are compared in; ``*.example.com`` kept as a pattern.
    A public mail provider is refused unless ``allow_public`` is true."""
    if not isinstance(allow_public, bool):
        return Refusal(BAD_ALLOW_PUBLIC)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_DOMAINS:
        return Refusal(BAD_DOMAINS)
    domains = set()
    for entry in value:
        if not isinstance(entry, str):
            return Refusal(BAD_DOMAINS)
        wildcard = entry.strip().startswith("*.")
        bare = entry.strip().removeprefix("*.")
        try:
            domain = email_domain(canonical_email(f"x@{bare}"))
        except InvalidEmail:
            return Refusal(BAD_DOMAINS)
        if domain in PUBLIC_MAIL_DOMAINS and not allow_public:
            return Refusal(PUBLIC_DOMAIN.format(domain=domain))
        domains.add(f"*.{domain}" if wildcard else domain)
    return domains


def who_can_invite(value: object) -> Parsed[WhoCanInvite | None]:
    if value is None:
        return None
    if isinstance(value, str) and value in WhoCanInvite.__members__:
        return WhoCanInvite(value)
    return Refusal(BAD_WHO_CAN_INVITE)


def _whole(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def invite_lifetime_days(value: object) -> Parsed[int | None]:
    if value is None:
        return None
    days = _whole(value)
    if days is None or not 1 <= days <= policies.MAX_INVITE_LIFETIME_DAYS:
        return Refusal(BAD_LIFETIME)
    return days


def seat_limit(data: dict[str, Any]) -> Parsed[int | _Keep | None]:
    """``seatLimit`` from a request body: absent keeps it, null removes the limit."""
    if "seatLimit" not in data:
        return KEEP
    value = data["seatLimit"]
    if value is None:
        return None
    seats = _whole(value)
    if seats is None or seats < 1 or seats > 10_000_000:
        return Refusal(BAD_SEAT_LIMIT)
    return seats


async def _read(conn: AsyncConnection, account_id: int) -> AccountSettings:
    policy = await policies.load(conn, account_id)
    used = await team.member_count(conn, account_id) + await invitations.pending_count(
        conn, account_id
    )
    return AccountSettings(policy, used)


async def get_settings(db: Database, cred: Credential) -> AccountSettings:
    async with unit.reading(db, cred, Action.MANAGE_MEMBERS) as view:
        return await _read(view.conn, view.caller.account_id)


def wire(policy: Policy) -> dict[str, Any]:
    """The policy under its API names."""
    return {
        "invitesEnabled": policy.invites_enabled,
        "allowedEmailDomains": policy.allowed_email_domains,
        "whoCanInvite": policy.who_can_invite.value,
        "inviteLifetimeDays": policy.invite_lifetime_days,
        "seatLimit": policy.seat_limit,
    }


async def update_settings(
    db: Database, cred: Credential, change: SettingsChange
) -> AccountSettings:
    """Change the fields given (every value is judged before anything changes)."""
    async with unit.acting(db, cred, Action.MANAGE_MEMBERS) as tx:
        account_id = tx.caller.account_id
        enabled = valid(change.invites_enabled)
        domains = valid(change.allowed_email_domains)
        who = valid(change.who_can_invite)
        lifetime = valid(change.invite_lifetime_days)
        seats = valid(change.seat_limit)
        before = await policies.load(tx.conn, account_id)
        columns: dict[str, object] = {}
        if enabled is not None:
            columns["invites_enabled"] = enabled
        if who is not None:
            columns["who_can_invite"] = who.value
        if lifetime is not None:
            columns["invite_lifetime_days"] = lifetime
        if not isinstance(seats, _Keep):
            columns["seat_limit"] = seats
        await repo.set_policy(tx.conn, account_id, columns)
        if domains is not None:
            await repo.set_allowed_domains(tx.conn, account_id, domains)
        current = await _read(tx.conn, account_id)
        old, new = wire(before), wire(current.policy)
        changed = sorted(name for name in new if old[name] != new[name])
        if changed:
            await tx.record(
                "account.settings",
                details={
                    "before": {name: old[name] for name in changed},
                    "after": {name: new[name] for name in changed},
                },
            )
    return current
