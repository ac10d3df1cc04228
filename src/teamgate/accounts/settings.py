"""Account settings: whether members may invite, and which email domains they may invite."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate import audit
from teamgate.auth.caller import Credential, acting, resolve
from teamgate.db import Database
from teamgate.emails import InvalidEmail, canonical_email, email_domain
from teamgate.errors import AppError
from teamgate.invitations import repository as invitation_repo
from teamgate.models import account_email_domains, accounts
from teamgate.roles import Action

MAX_DOMAINS = 100
BAD_DOMAINS = "allowedEmailDomains must be a list of domains (or *.domain for subdomains)"


def _domain(value: object) -> str:
    """A domain in the ASCII form emails are compared in; ``*.example.com`` kept as a pattern."""
    if not isinstance(value, str):
        raise AppError(BAD_DOMAINS)
    wildcard = value.strip().startswith("*.")
    bare = value.strip().removeprefix("*.")
    try:
        domain = email_domain(canonical_email(f"x@{bare}"))
    except InvalidEmail:
        raise AppError(BAD_DOMAINS) from None
    return f"*.{domain}" if wildcard else domain


async def _read(conn: AsyncConnection, account_id: int) -> dict[str, Any]:
    return {
        "invitesEnabled": await invitation_repo.invites_enabled(conn, account_id),
        "allowedEmailDomains": sorted(await invitation_repo.allowed_domains(conn, account_id)),
    }


async def get_settings(db: Database, cred: Credential) -> dict[str, Any]:
    async with db.read() as conn:
        caller = await resolve(conn, cred)
        caller.require(Action.MANAGE_MEMBERS)
        return await _read(conn, caller.account_id)


async def update_settings(
    db: Database, cred: Credential, data: dict[str, Any], request_id: str | None
) -> dict[str, Any]:
    """Change the fields given; an empty domain list lets members invite any address."""
    async with acting(db, cred, Action.MANAGE_MEMBERS) as (conn, caller):
        enabled = data.get("invitesEnabled")
        if enabled is not None and not isinstance(enabled, bool):
            raise AppError("invitesEnabled must be true or false")
        domains_value = data.get("allowedEmailDomains")
        domains: set[str] | None = None
        if domains_value is not None:
            if not isinstance(domains_value, list) or len(domains_value) > MAX_DOMAINS:
                raise AppError(BAD_DOMAINS)
            domains = {_domain(d) for d in domains_value}
        if enabled is not None:
            await conn.execute(
                update(accounts)
                .where(accounts.c.id == caller.account_id)
                .values(invites_enabled=enabled)
            )
        if domains is not None:
            await conn.execute(
                delete(account_email_domains).where(
                    account_email_domains.c.account_id == caller.account_id
                )
            )
            for domain in sorted(domains):
                await conn.execute(
                    insert(account_email_domains).values(
                        account_id=caller.account_id, domain=domain
                    )
                )
        settings = await _read(conn, caller.account_id)
        await audit.record(
            conn, "account.settings", account_id=caller.account_id, actor_user_id=caller.user_id,
            detail=str(settings), request_id=request_id,
        )  # fmt: skip
    return settings
