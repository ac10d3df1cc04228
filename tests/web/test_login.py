"""Signing in and out of the pages, and where a person lands."""

from __future__ import annotations

import httpx

from teamgate.context import AppContext
from tests.conftest import make_account, make_member
from tests.support.api import call
from tests.support.pages import post_form, session_cookie_set, sign_in, submit
from tests.support.state import snapshot


async def test_pages_send_anyone_not_signed_in_to_login_and_back(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_account(ctx, admin_email="ada@acme.com")
    assert (await client.get("/")).headers["location"] == "/team"
    for path in ("/team", "/team?q=bo&role=MEMBER", "/keys", "/settings"):
        away = await client.get(path)
        assert away.status_code == 303, path
        assert away.headers["location"].startswith("/login?next=/")

    back = await client.get("/team?q=bo&role=MEMBER")
    login_page = await client.get(back.headers["location"])
    signed = await submit(
        client, login_page, "/login", {"email": "ada@acme.com", "password": "correct horse battery"}
    )
    assert signed.headers["location"] == "/team?q=bo&role=MEMBER"
    assert (await client.get(signed.headers["location"])).status_code == 200


async def test_a_wrong_password_shows_the_apis_message_and_signs_nobody_in(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_account(ctx, admin_email="ada@acme.com")
    before = await snapshot(ctx)
    for email in ("ada@acme.com", "nobody@acme.com"):
        refused = await submit(
            client, "/login", "/login", {"email": email, "password": "wrong password"}
        )
        assert refused.status_code == 401
        assert "Invalid email or password" in refused.text
        assert f'value="{email}"' in refused.text  # what was typed stays
        assert not session_cookie_set(refused)
    assert await snapshot(ctx) == before


async def test_login_never_sends_anyone_to_another_site(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_account(ctx, admin_email="ada@acme.com")
    for target in ("//evil.example.org/x", "https://evil.example.org", "/\\evil.example.org", "x"):
        page = await client.get("/login", params={"next": target})
        signed = await submit(
            client, page, "/login", {"email": "ada@acme.com", "password": "correct horse battery"}
        )
        assert signed.headers["location"] == "/team", target


async def test_signing_out_ends_the_session(client: httpx.AsyncClient, ctx: AppContext) -> None:
    await make_account(ctx, admin_email="ada@acme.com")
    await sign_in(client, "ada@acme.com")
    session = client.cookies["teamgate_session"]
    team = await client.get("/team")

    out = await submit(client, team, "/logout")

    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    assert "You are signed out" in (await client.get("/login")).text
    client.cookies.set("teamgate_session", session)  # the old cookie, kept by someone
    assert (await client.get("/team")).status_code == 303
    reused = await call(client, "getTeamData", headers={"Cookie": f"teamgate_session={session}"})
    assert reused.status_code == 401


async def test_signing_out_needs_the_pages_token(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await make_account(ctx, admin_email="ada@acme.com")
    await sign_in(client, "ada@acme.com")
    forged = await client.post(
        "/logout", data={"csrf_token": "0" * 64}, headers={"Origin": "http://testserver"}
    )
    assert forged.status_code == 403
    assert (await client.get("/team")).status_code == 200  # still signed in


async def test_a_removed_member_lands_on_login(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx, admin_email="ada@acme.com", password=None)
    await make_member(ctx, admin.account_id, "mia@acme.com", "MEMBER")
    await sign_in(client, "mia@acme.com")
    assert (await client.get("/team")).status_code == 200

    removed = await call(client, "removeUser", {"email": "mia@acme.com"}, key=admin.api_key)
    assert removed.status_code == 200

    away = await client.get("/team")
    assert away.status_code == 303
    assert away.headers["location"] == "/login?next=/team"
    assert any(
        h.startswith("teamgate_session=") and "Max-Age=0" in h
        for h in away.headers.get_list("set-cookie")
    )
    before = await snapshot(ctx)
    stale = await post_form(client, "/team/invite", {"email": "x@acme.com", "role": "VIEWER"})
    assert stale.status_code == 303
    assert stale.headers["location"] == "/login?next=/team"
    assert await snapshot(ctx) == before
