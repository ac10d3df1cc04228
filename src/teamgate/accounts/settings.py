"""Account settings: whether members may invite, and which email domains they may invite."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate import unit
from teamgate.accounts import repository as repo
from teamgate.auth.caller import Credential
from teamgate.db import Database
from teamgate.emails import InvalidEmail, canonical_email, email_domain
from teamgate.inputs import Parsed, Refusal, valid
from teamgate.roles import Action

MAX_DOMAINS = 100
BAD_DOMAINS = "allowedEmailDomains must be a list of domains (or *.domain for subdomains)"
BAD_INVITES_ENABLED = "invitesEnabled must be true or false"


@dataclass(frozen=True, slots=True)
class AccountSettings:
    invites_enabled: bool
    allowed_email_domains: list[str]  # sorted; empty allows any domain


@dataclass(frozen=True, slots=True)
class SettingsChange:
    """The fields to change; None leaves a field as it is."""

    invites_enabled: Parsed[bool | None]
    allowed_email_domains: Parsed[set[str] | None]


def invites_enabled(value: object) -> Parsed[bool | None]:
    if value is None or isinstance(value, bool):
        return value
    return Refusal(BAD_INVITES_ENABLED)


def email_domains(value: object) -> Parsed[set[str] | None]:
    """Domains in the ASCII form emails are compared in; ``*.example.com`` kept as a pattern."""
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
        domains.add(f"*.{domain}" if wildcard else domain)
    return domains


async def _read(conn: AsyncConnection, account_id: int) -> AccountSettings:
    return AccountSettings(
        invites_enabled=await repo.invites_enabled(conn, account_id),
        allowed_email_domains=await repo.allowed_domains(conn, account_id),
    )


async def get_settings(db: Database, cred: Credential) -> AccountSettings:
    async with unit.reading(db, cred, Action.MANAGE_MEMBERS) as view:
        return await _read(view.conn, view.caller.account_id)


async def update_settings(
    db: Database, cred: Credential, change: SettingsChange
) -> AccountSettings:
    """Change the fields given; an empty domain list lets members invite any address."""
    async with unit.acting(db, cred, Action.MANAGE_MEMBERS) as tx:
        account_id = tx.caller.account_id
        enabled = valid(change.invites_enabled)
        domains = valid(change.allowed_email_domains)
        if enabled is not None:
            await repo.set_invites_enabled(tx.conn, account_id, enabled)
        if domains is not None:
            await repo.set_allowed_domains(tx.conn, account_id, domains)
        settings = await _read(tx.conn, account_id)
        await tx.record(
            "account.settings",
            detail=f"invitesEnabled={settings.invites_enabled}, "
            f"allowedEmailDomains={settings.allowed_email_domains}",
        )
    return settings
