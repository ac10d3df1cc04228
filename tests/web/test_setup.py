"""The /setup page the first-run link opens: it creates the first account once, signs its
admin in and lands on the team page."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from teamgate.accounts.service import create_account, issue_setup_token
from teamgate.context import AppContext
from teamgate.models import api_keys, users
from tests.support import PASSWORD
from tests.support.pages import post_form, session_cookie_set, submit
from tests.support.state import snapshot


def _form(token: str, **values: str) -> dict[str, str]:
    return {
        "token": token, "accountName": "Acme", "adminEmail": "ada@acme.com", "adminName": "Ada",
        "password": PASSWORD, **values,
    }  # fmt: skip


async def test_setup_link_creates_the_first_account_once_and_signs_its_admin_in(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    token = await issue_setup_token(ctx.db)
    assert token is not None
    page = await client.get(f"/setup?token={token}")
    assert page.status_code == 200
    assert page.headers["referrer-policy"] == "same-origin"
    assert not session_cookie_set(page)

    done = await submit(client, page, "/setup", _form(token))

    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/team"
    assert session_cookie_set(done)
    team = await client.get("/team")
    assert team.status_code == 200
    assert "ada@acme.com" in team.text
    assert "Your account is ready" in team.text
    async with ctx.db.read() as conn:  # keys are made on the keys page, shown once there
        assert (await conn.execute(select(api_keys))).first() is None
    # The link works once, and no new one is issued once an account exists.
    before = await snapshot(ctx)
    again = await post_form(client, "/setup", _form(token, adminEmail="mallory@acme.com"))
    assert again.status_code == 400
    assert await snapshot(ctx) == before
    assert await issue_setup_token(ctx.db) is None


async def test_setup_refuses_a_wrong_token(client: httpx.AsyncClient, ctx: AppContext) -> None:
    await issue_setup_token(ctx.db)
    before = await snapshot(ctx)
    assert (await client.get("/setup?token=guess")).status_code == 400
    response = await post_form(client, "/setup", _form("guess"))
    assert response.status_code == 400
    assert "This setup link is no longer valid" in response.text
    assert await snapshot(ctx) == before


async def test_setup_form_errors_keep_the_link(client: httpx.AsyncClient, ctx: AppContext) -> None:
    token = await issue_setup_token(ctx.db)
    assert token is not None
    before = await snapshot(ctx)
    response = await submit(client, f"/setup?token={token}", "/setup", _form(token, password="x"))
    assert response.status_code == 400
    assert "Password must be 8 to 128 characters" in response.text
    assert 'value="ada@acme.com"' in response.text  # what was typed stays
    assert await snapshot(ctx) == before
    assert (await client.get(f"/setup?token={token}")).status_code == 200


async def test_setup_form_without_its_token_is_refused(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    token = await issue_setup_token(ctx.db)
    assert token is not None
    await client.get(f"/setup?token={token}")
    before = await snapshot(ctx)
    for csrf in ("", "0" * 64):
        forged = await client.post(
            "/setup",
            data={**_form(token), "csrf_token": csrf},
            headers={"Origin": "http://testserver"},
        )
        assert forged.status_code == 403
        assert "This form has expired" in forged.text
        assert not session_cookie_set(forged)
    assert await snapshot(ctx) == before


async def test_creating_an_account_retires_the_setup_link(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    token = await issue_setup_token(ctx.db)
    assert token is not None
    await create_account(ctx.db, name="Acme", admin_email="ada@acme.com")
    assert (await client.get(f"/setup?token={token}")).status_code == 400
    async with ctx.db.read() as conn:
        before = (await conn.execute(select(users.c.email))).scalars().all()
    response = await post_form(client, "/setup", _form(token, adminEmail="eve@evil.org"))
    assert response.status_code == 400
    async with ctx.db.read() as conn:
        assert (await conn.execute(select(users.c.email))).scalars().all() == before
