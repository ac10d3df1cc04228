"""Setting or resetting a password through a link emailed to the address: the same answer for
every address, one use within the hour, every session ended, and the identity then verified."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.mail.outbox import Worker
from teamgate.mail.transport import transport_for
from teamgate.models import outbox
from tests.conftest import make_account
from tests.support import PASSWORD
from tests.support.api import call, error_of
from tests.support.invitations import invited_code
from tests.support.sessions import as_session, login, session_token
from tests.support.smtp import SmtpServer, delivering_to
from tests.support.state import snapshot

SENT = "If this address belongs to a teamgate user, a link to set the password is on its way."
DEAD = "This link does not work any more: ask for a new one"
NEW_PASSWORD = "a fresh and long passphrase"


@pytest.fixture
def settings(settings: Settings, smtp: SmtpServer) -> Settings:
    return delivering_to(settings, smtp)


async def _request(client: httpx.AsyncClient, email: object) -> httpx.Response:
    return await call(client, "requestPasswordReset", {"email": email})


async def _delivered_token(ctx: AppContext, smtp: SmtpServer) -> str:
    await Worker(ctx.settings, ctx.db, transport_for(ctx.settings)).deliver_due()
    resets = [m for m in smtp.messages if m["Subject"] == "Set your teamgate password"]
    message = resets[-1]
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    link = re.search(r"\S+/reset\?\S+", text.get_content())
    assert link is not None
    return parse_qs(urlsplit(link.group(0)).query)["token"][0]


async def _queued(ctx: AppContext) -> int:
    async with ctx.db.read() as conn:
        count: int = (await conn.execute(select(func.count()).select_from(outbox))).scalar_one()
    return count


async def test_the_emailed_link_sets_the_password_once_and_ends_every_session(
    client: httpx.AsyncClient, ctx: AppContext, smtp: SmtpServer
) -> None:
    admin = await make_account(ctx)
    old_session = session_token(await login(client, admin.email))

    answer = await _request(client, " Admin@ACME.com ")
    assert (answer.status_code, answer.json()) == (200, {"status": SENT})
    token = await _delivered_token(ctx, smtp)
    assert smtp.messages[-1]["To"] == "admin@acme.com"

    reset = await call(client, "resetPassword", {"token": token, "password": NEW_PASSWORD})

    assert (reset.status_code, reset.json()) == (200, {"email": "admin@acme.com"})
    assert (await as_session(client, "getTeamData", token=old_session)).status_code == 401
    assert (await login(client, admin.email, PASSWORD)).status_code == 401
    assert (await login(client, admin.email, NEW_PASSWORD)).status_code == 200
    again = await call(client, "resetPassword", {"token": token, "password": "another one!!"})
    assert (again.status_code, error_of(again)) == (400, DEAD)


async def test_every_address_gets_the_same_answer_and_strangers_no_email(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_account(ctx)
    before = await snapshot(ctx)

    stranger = await _request(client, "nobody@acme.com")

    assert (stranger.status_code, stranger.json()) == (200, {"status": SENT})
    assert await _queued(ctx) == 0
    assert await snapshot(ctx) == before
    bad = await _request(client, "not an email")
    assert (bad.status_code, error_of(bad)) == (400, "Invalid email")


async def test_a_newer_link_replaces_the_older_one_and_requests_are_limited(
    client: httpx.AsyncClient, ctx: AppContext, smtp: SmtpServer
) -> None:
    admin = await make_account(ctx)
    for _ in range(5):
        assert (await _request(client, admin.email)).json() == {"status": SENT}

    token = await _delivered_token(ctx, smtp)

    # Three links made (the per-address limit), the first two replaced: dropped, never sent.
    assert len(smtp.messages) == 1
    assert await _queued(ctx) == 3
    ok = await call(client, "resetPassword", {"token": token, "password": NEW_PASSWORD})
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("token", "password", "message"),
    [
        ("forged.token", NEW_PASSWORD, DEAD),
        (None, NEW_PASSWORD, DEAD),
        ("", NEW_PASSWORD, DEAD),
        (12, NEW_PASSWORD, DEAD),
    ],
)
async def test_bad_links_change_nothing(
    client: httpx.AsyncClient, ctx: AppContext, token: object, password: str, message: str
) -> None:
    await make_account(ctx)
    before = await snapshot(ctx)
    response = await call(client, "resetPassword", {"token": token, "password": password})
    assert (response.status_code, error_of(response)) == (400, message)
    assert await snapshot(ctx) == before


async def test_a_short_password_keeps_the_link(
    client: httpx.AsyncClient, ctx: AppContext, smtp: SmtpServer
) -> None:
    admin = await make_account(ctx)
    await _request(client, admin.email)
    token = await _delivered_token(ctx, smtp)
    short = await call(client, "resetPassword", {"token": token, "password": "short"})
    assert short.status_code == 400
    assert (
        await call(client, "resetPassword", {"token": token, "password": NEW_PASSWORD})
    ).status_code == 200


async def test_a_user_without_a_password_sets_one_and_is_verified(
    client: httpx.AsyncClient, ctx: AppContext, smtp: SmtpServer
) -> None:
    acme = await make_account(ctx, password=None)
    beta = await make_account(ctx, "Beta", "boss@beta.io", password=None)
    await call(client, "updateAccountSettings", {"allowedEmailDomains": []}, key=beta.api_key)
    # Joined Acme by a link: unverified, and no password for Beta's invitation to take.
    code = await invited_code(client, acme.api_key, "kim@acme.com", "VIEWER")
    joined = await call(
        client, "acceptInvite", {"inviteCode": code, "name": "Kim", "password": PASSWORD}
    )
    assert joined.status_code == 200
    client.cookies.clear()
    beta_code = await invited_code(client, beta.api_key, "kim@acme.com", "VIEWER")
    refused = await call(client, "acceptInvite", {"inviteCode": beta_code, "password": PASSWORD})
    assert refused.status_code == 400

    await _request(client, "kim@acme.com")
    token = await _delivered_token(ctx, smtp)
    assert (
        await call(client, "resetPassword", {"token": token, "password": NEW_PASSWORD})
    ).status_code == 200

    accepted = await call(
        client, "acceptInvite", {"inviteCode": beta_code, "password": NEW_PASSWORD}
    )
    assert accepted.status_code == 200, accepted.text
