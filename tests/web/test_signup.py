"""The /signup page an invite link opens: it shows the invitation and consumes nothing; its form
accepts the invitation once, from our own origin only."""

from __future__ import annotations

import httpx
import jwt

from teamgate.config import Settings
from teamgate.context import AppContext
from tests.conftest import make_account
from tests.support.invitations import (
    ASK_ADMIN,
    NEW_PASSWORD,
    OTHER_KEY,
    accept,
    claims,
    code_of,
    invitation_row,
    invite,
    invited_code,
    refused_accept,
    role_in,
)
from tests.support.pages import post_form, session_cookie_set, submit
from tests.support.state import snapshot


async def test_opening_the_signup_page_consumes_nothing(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, password=None)
    invited = await invite(client, admin.api_key, "bob@acme.com", "DEVELOPER")
    link = invited.json()["finalInviteCode"]
    code = code_of(invited)
    before = await snapshot(ctx)

    for _ in range(3):
        page = await client.get(link)
        assert page.status_code == 200
        assert page.headers["referrer-policy"] == "same-origin"
        assert page.headers["content-type"].startswith("text/html")
        assert "bob@acme.com" in page.text
        assert "DEVELOPER" in page.text
        assert "Acme" in page.text
        assert not session_cookie_set(page)

    assert await snapshot(ctx) == before
    response = await accept(client, code)
    assert response.status_code == 200, response.text
    assert await role_in(ctx, admin.account_id, "bob@acme.com") == "DEVELOPER"


async def test_signup_page_with_an_invalid_code(
    client: httpx.AsyncClient, ctx: AppContext, settings: Settings
) -> None:
    admin = await make_account(ctx, password=None)
    code = await invited_code(client, admin.api_key, "bob@acme.com")
    real = claims(settings, code)
    before = await snapshot(ctx)

    for params in [
        {"signupInvitationCode": "garbage", "signupEmailId": "bob@acme.com"},
        {"signupInvitationCode": jwt.encode(real, OTHER_KEY, algorithm="HS256")},
        # alg "none" takes no key, though PyJWT types it as required
        {"signupInvitationCode": jwt.encode(real, None, algorithm="none")},  # type: ignore[arg-type, unused-ignore]
        {},
    ]:
        page = await client.get("/signup", params=params)
        assert page.status_code == 400
        assert page.headers["referrer-policy"] == "same-origin"
        assert ASK_ADMIN in page.text
        assert "bob@acme.com" not in page.text
    assert await snapshot(ctx) == before


async def test_signup_form_accepts_once_and_lands_on_the_team_page(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, password=None)
    code = await invited_code(client, admin.api_key, "bob@acme.com", "VIEWER")
    page = await client.get("/signup", params={"signupInvitationCode": code})
    form = {"name": "Bob Builder", "password": NEW_PASSWORD}

    before = await snapshot(ctx)
    short = await submit(client, page, "/signup", {**form, "password": "short"})
    assert short.status_code == 400
    assert short.headers["referrer-policy"] == "same-origin"
    assert "Password must be 8 to 128 characters" in short.text
    assert not session_cookie_set(short)
    assert await snapshot(ctx) == before

    joined = await submit(client, page, "/signup", form)

    assert joined.status_code == 303, joined.text
    assert joined.headers["location"] == "/team"
    assert session_cookie_set(joined)
    team = await client.get("/team")
    assert "Welcome to Acme: you joined as VIEWER." in team.text
    assert "Bob Builder" in team.text
    assert await role_in(ctx, admin.account_id, "bob@acme.com") == "VIEWER"
    assert await invitation_row(ctx, admin.account_id, "bob@acme.com") is None

    before = await snapshot(ctx)
    reopened = await client.get("/signup", params={"signupInvitationCode": code})
    assert reopened.status_code == 400  # the link is used: the page says so
    again = await post_form(client, "/signup", {**form, "inviteCode": code})
    assert again.status_code == 400
    assert ASK_ADMIN in again.text
    assert not session_cookie_set(again)
    assert await snapshot(ctx) == before
    await refused_accept(client, ctx, {"inviteCode": code, "password": NEW_PASSWORD})


async def test_signup_form_from_a_foreign_origin_is_refused(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, password=None)
    code = await invited_code(client, admin.api_key, "bob@acme.com", "VIEWER")
    page = await client.get("/signup", params={"signupInvitationCode": code})
    form = {"name": "Bob Builder", "password": NEW_PASSWORD}
    before = await snapshot(ctx)

    for foreign in (
        {"Origin": "https://evil.example.org"},
        {"Origin": "null"},  # what a no-referrer page would make the browser send
        {"Sec-Fetch-Site": "cross-site"},
    ):
        forged = await submit(client, page, "/signup", form, headers=foreign)
        assert forged.status_code == 403, foreign
        assert "Cross-origin request refused" in forged.text
        assert not session_cookie_set(forged)
    assert await snapshot(ctx) == before
    own = await submit(client, page, "/signup", form, headers={"Origin": "http://testserver"})
    assert own.status_code == 303
