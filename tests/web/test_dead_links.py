"""An invitation link that no longer works says why (expired, replaced, used, withdrawn) and
lets its holder ask the account's admins, by email, for a new invitation."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import func, select, update

from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.mail.outbox import Worker
from teamgate.mail.transport import transport_for
from teamgate.models import invitations, outbox
from tests.conftest import make_account, make_member
from tests.support import PASSWORD, PUBLIC_ORIGIN
from tests.support.api import call
from tests.support.invitations import invite
from tests.support.pages import form_of
from tests.support.smtp import SmtpServer, delivering_to


@pytest.fixture
def settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return delivering_to(settings, smtp)


async def _ask(client: httpx.AsyncClient, page: httpx.Response) -> httpx.Response:
    """Press "Ask for a new invitation" on a dead-link page (shown with status 400)."""
    fields = form_of(page.text, "/signup/ask")
    return await client.post("/signup/ask", data=fields, headers={"Origin": PUBLIC_ORIGIN})


def _path(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


async def _requests(ctx: AppContext) -> int:
    async with ctx.db.read() as conn:
        count: int = (
            await conn.execute(select(func.count()).where(outbox.c.kind == "invitation_request"))
        ).scalar_one()
    return count


async def test_an_expired_link_says_so_and_asks_the_admins(
    client: httpx.AsyncClient, ctx: AppContext, smtp: SmtpServer
) -> None:
    admin = await make_account(ctx)
    await make_member(ctx, admin.account_id, "second@acme.com", "ADMIN")
    await make_member(ctx, admin.account_id, "mia@acme.com", "MEMBER")
    link = (await invite(client, admin.api_key, "late@acme.com", "VIEWER")).json()[
        "finalInviteCode"
    ]
    async with ctx.db.write() as conn:
        await conn.execute(update(invitations).values(expires_at=1_000_000))

    page = await client.get(_path(link))

    assert page.status_code == 400
    assert "It expired on" in page.text
    asked = await _ask(client, page)
    assert asked.status_code == 200
    assert "Request sent" in asked.text
    await Worker(ctx.settings, ctx.db, transport_for(ctx.settings)).deliver_due()
    told = sorted(m["To"] for m in smtp.messages if "asks for a new invitation" in m["Subject"])
    assert told == ["admin@acme.com", "second@acme.com"]  # the ADMINs, never a MEMBER
    # Two asks a day per address: a third answers the same and sends nothing.
    for _ in range(2):
        again = await _ask(client, await client.get(_path(link)))
        assert "Request sent" in again.text
    assert await _requests(ctx) == 4


async def test_each_way_a_link_dies_is_named(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx)
    first = (await invite(client, admin.api_key, "r@acme.com")).json()["finalInviteCode"]
    await invite(client, admin.api_key, "r@acme.com")
    gone = (await invite(client, admin.api_key, "w@acme.com")).json()["finalInviteCode"]
    await call(client, "removeInvitation", {"email": "w@acme.com"}, key=admin.api_key)
    used = (await invite(client, admin.api_key, "u@acme.com")).json()["finalInviteCode"]
    code = urlsplit(used).query.split("signupInvitationCode=")[1].split("&")[0]
    accepted = await call(
        client, "acceptInvite", {"inviteCode": code, "name": "U", "password": PASSWORD}
    )
    assert accepted.status_code == 200
    client.cookies.clear()

    replaced = await client.get(_path(first))
    withdrawn = await client.get(_path(gone))
    used_page = await client.get(_path(used))
    forged = await client.get("/signup?signupInvitationCode=eyJ.forged.x&signupEmailId=x")

    assert "A newer invitation was sent to r@acme.com" in replaced.text
    assert "The invitation was withdrawn." in withdrawn.text
    assert "It was already used" in used_page.text
    assert "/signup/ask" not in used_page.text
    assert 'href="/login"' in used_page.text
    assert forged.status_code == 400
    assert "/signup/ask" not in forged.text
