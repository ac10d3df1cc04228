"""resendInvitation: a new link and a new email for a pending invitation; the old link dies."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.models import outbox
from tests.conftest import make_account, make_member
from tests.support import PASSWORD
from tests.support.api import call, error_of
from tests.support.invitations import ASK_ADMIN, code_of, invite
from tests.support.state import snapshot


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_resend_per_invitation": "3 per hour"})


async def _accept(client: httpx.AsyncClient, code: str) -> httpx.Response:
    response = await call(
        client, "acceptInvite", {"inviteCode": code, "name": "Bob", "password": PASSWORD}
    )
    client.cookies.clear()
    return response


async def test_resend_gives_a_new_link_and_email_and_kills_the_old_one(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    first = await invite(client, admin.api_key, "bob@acme.com", "DEVELOPER", inviteeName="Bob B")

    again = await call(client, "resendInvitation", {"email": "BOB@acme.com"}, key=admin.api_key)

    assert again.status_code == 200, again.text
    assert again.json()["inviteeRole"] == "DEVELOPER"
    assert again.json()["finalInviteCode"] != first.json()["finalInviteCode"]
    async with ctx.db.read() as conn:
        queued = list((await conn.execute(select(outbox.c.recipient))).scalars())
    assert queued == ["bob@acme.com", "bob@acme.com"]  # one email per link
    team = (await call(client, "getTeamData", key=admin.api_key)).json()
    assert [(e["login"], e["name"]) for e in team if e.get("isInvitation")] == [
        ("bob@acme.com", "Bob B")
    ]
    assert error_of(await _accept(client, code_of(first))) == ASK_ADMIN
    accepted = await _accept(client, code_of(again))
    assert (accepted.status_code, accepted.json()["role"]) == (200, "DEVELOPER")
    history = (await call(client, "getAuditLogs", {"action": "invitation.resend"},
                          key=admin.api_key)).json()["events"]  # fmt: skip
    assert [(e["target"], e["details"]["roleAfter"]) for e in history] == [
        ("bob@acme.com", "DEVELOPER")
    ]


async def test_who_may_resend_and_refusals_change_nothing(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    mia = await make_member(ctx, admin.account_id, "mia@acme.com", "MEMBER")
    val = await make_member(ctx, admin.account_id, "val@acme.com", "VIEWER")
    await invite(client, admin.api_key, "boss@acme.com", "MEMBER")
    await invite(client, mia.api_key, "mine@acme.com", "VIEWER")
    before = await snapshot(ctx)

    for key, body, status, message in (
        (mia.api_key, {"email": "boss@acme.com"}, 400,
         "User is not allowed to resend this invitation."),
        (mia.api_key, {"email": "nobody@acme.com"}, 400, "Invitation not found"),
        (mia.api_key, {"email": "not an email"}, 400, "Invalid email"),
        (val.api_key, {"email": "mine@acme.com"}, 403, "The role 'VIEWER' does not have access."),
        (admin.api_key, {"email": "mine@acme.com", "websiteHostName": "https://evil.example"},
         400, "Invalid website host name"),
    ):  # fmt: skip
        refused = await call(client, "resendInvitation", body, key=key)
        assert (refused.status_code, error_of(refused)) == (status, message)
    assert await snapshot(ctx) == before

    own = await call(client, "resendInvitation", {"email": "mine@acme.com"}, key=mia.api_key)
    assert own.status_code == 200, own.text


async def test_resends_are_limited_per_invitation(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    for email in ("a@acme.com", "b@acme.com"):
        await invite(client, admin.api_key, email, "VIEWER")

    answers = [
        (await call(client, "resendInvitation", {"email": "a@acme.com"}, key=admin.api_key))
        for _ in range(4)
    ]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert int(answers[-1].headers["Retry-After"]) > 0
    other = await call(client, "resendInvitation", {"email": "b@acme.com"}, key=admin.api_key)
    assert other.status_code == 200
