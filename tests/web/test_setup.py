"""The /setup page the first-run link opens: it creates the first account, once."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from teamgate.accounts.service import create_account, issue_setup_token
from teamgate.context import AppContext
from teamgate.models import users
from tests.support import PASSWORD
from tests.support.api import call
from tests.support.state import snapshot


async def test_setup_link_creates_the_first_account_once(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    token = await issue_setup_token(ctx.db)
    assert token is not None
    page = await client.get(f"/setup?token={token}")
    assert page.status_code == 200
    assert 'name="adminEmail"' in page.text
    form = {
        "token": token, "accountName": "Acme", "adminEmail": "ada@acme.com", "adminName": "Ada",
        "password": PASSWORD,
    }  # fmt: skip

    done = await client.post("/setup", data=form)

    assert done.status_code == 200
    key = re.search(r"<code>(tg_[A-Za-z0-9_-]+)</code>", done.text)
    assert key is not None
    team = (await call(client, "getTeamData", key=key.group(1))).json()
    assert team[0]["login"] == "ada@acme.com"
    assert team[0]["role"] == "ADMIN"
    # The link works once, and no new one is issued once an account exists.
    before = await snapshot(ctx)
    again = await client.post("/setup", data={**form, "adminEmail": "mallory@acme.com"})
    assert again.status_code == 400
    assert await snapshot(ctx) == before
    assert await issue_setup_token(ctx.db) is None


async def test_setup_refuses_a_wrong_token(client: httpx.AsyncClient, ctx: AppContext) -> None:
    await issue_setup_token(ctx.db)
    before = await snapshot(ctx)
    assert (await client.get("/setup?token=guess")).status_code == 400
    response = await client.post(
        "/setup",
        data={"token": "guess", "accountName": "X", "adminEmail": "x@x.com", "password": PASSWORD},
    )
    assert response.status_code == 400
    assert await snapshot(ctx) == before


async def test_setup_form_errors_keep_the_link(client: httpx.AsyncClient, ctx: AppContext) -> None:
    token = await issue_setup_token(ctx.db)
    response = await client.post(
        "/setup",
        data={
            "token": token,
            "accountName": "Acme",
            "adminEmail": "ada@acme.com",
            "password": "short",
        },
    )
    assert response.status_code == 400
    assert "Password must be 8 to 128 characters" in response.text
    assert (await client.get(f"/setup?token={token}")).status_code == 200


async def test_creating_an_account_retires_the_setup_link(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    token = await issue_setup_token(ctx.db)
    await create_account(ctx.db, name="Acme", admin_email="ada@acme.com")
    assert (await client.get(f"/setup?token={token}")).status_code == 400
    async with ctx.db.read() as conn:
        before = (await conn.execute(select(users.c.email))).scalars().all()
    response = await client.post(
        "/setup",
        data={
            "token": token,
            "accountName": "Evil",
            "adminEmail": "eve@evil.org",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 400
    async with ctx.db.read() as conn:
        assert (await conn.execute(select(users.c.email))).scalars().all() == before
