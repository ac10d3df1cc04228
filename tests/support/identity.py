"""Whose password is it? The story the identity tests share.

An invite link is returned to its inviter, so accepting one proves nothing about the email
address: a password set through a link is *unverified* and reaches no account but the one whose
link set it. Here Acme's admin invites the founder-to-be of another company (Gamma) and sets
their password through the link.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from typer.testing import Result

from teamgate.context import AppContext
from teamgate.models import account_email_domains, accounts
from tests.conftest import Member, make_account
from tests.support.api import call
from tests.support.cli import teamgate_in_process
from tests.support.sessions import session_token
from tests.support.state import snapshot

FOUNDER = "founder@gamma.io"
ATTACKER_PASSWORD = "the attacker's own choice"
OPERATOR_PASSWORD = "the founder's real password"
BAD_LOGIN = "Invalid email or password"
NOT_VERIFIED = (
    "This email address is not verified yet: its password was set through another account's "
    "invitation. A link to verify it was emailed to it: follow it to choose your password, "
    "then accept this invitation with it"
)


async def allow_any_domain(client: httpx.AsyncClient, admin: Member) -> None:
    response = await call(
        client, "updateAccountSettings", {"allowedEmailDomains": []}, key=admin.api_key
    )
    assert response.status_code == 200, response.text


async def invite(
    client: httpx.AsyncClient, admin: Member, email: str = FOUNDER, role: str = "MEMBER"
) -> str:
    response = await call(
        client, "inviteUsers", {"inviteeEmail": email, "inviteeRole": role}, key=admin.api_key
    )
    assert response.status_code == 200, response.text
    link: str = response.json()["finalInviteCode"]
    return link


async def accept(client: httpx.AsyncClient, link: str, password: str) -> httpx.Response:
    response = await client.post(
        "/api/acceptInvite", json={"inviteCode": link, "name": "Founder", "password": password}
    )
    client.cookies.clear()  # every session call names its cookie explicitly
    return response


async def attacker_sets_the_password(
    client: httpx.AsyncClient, ctx: AppContext, *, keep_member: bool
) -> tuple[Member, str]:
    """Acme's admin invites the founder-to-be of another company, accepts the link with a
    password of their own choosing and (unless ``keep_member``) removes the member again.
    Returns Acme's admin and the session the acceptance started."""
    acme = await make_account(ctx, name="Acme", admin_email="admin@acme.com")
    await allow_any_domain(client, acme)
    accepted = await accept(client, await invite(client, acme), ATTACKER_PASSWORD)
    assert accepted.status_code == 200, accepted.text
    token = session_token(accepted)
    if not keep_member:
        removed = await call(client, "removeUser", {"email": FOUNDER}, key=acme.api_key)
        assert removed.status_code == 200, removed.text
    return acme, token


async def create_gamma(database_url: str, data_dir: Path, *options: str) -> Result:
    """The operator runs `teamgate account create` for the founder of Gamma."""
    return await teamgate_in_process(
        database_url, data_dir, "account", "create", "--name", "Gamma",
        "--admin-email", FOUNDER, *options, "--json",
    )  # fmt: skip


def created(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, (result.stderr, result.exception)
    printed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return printed


async def state(ctx: AppContext) -> dict[str, list[tuple[Any, ...]]]:
    """Every table a refused `account create` could have written to."""
    tables = await snapshot(ctx)
    async with ctx.db.read() as conn:
        for name, table in (("accounts", accounts), ("domains", account_email_domains)):
            tables[name] = sorted(tuple(row) for row in await conn.execute(select(table)))
    return tables


async def role_in(client: httpx.AsyncClient, key: str, email: str = FOUNDER) -> str | None:
    team = await call(client, "getTeamData", key=key)
    assert team.status_code == 200, team.text
    roles = [e["role"] for e in team.json() if e["login"] == email and not e.get("isInvitation")]
    return roles[0] if roles else None
