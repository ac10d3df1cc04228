"""acceptInvite: a new user joins with a name and a password, an existing user with their current
password; each code works once, and never once expired or revoked."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select, update

from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.db import now
from teamgate.models import invitations, users
from tests.conftest import make_account, make_member
from tests.support import PASSWORD
from tests.support.api import call, error_of
from tests.support.invitations import (
    ASK_ADMIN,
    NEW_PASSWORD,
    accept,
    claims,
    execute,
    invitation_row,
    invited_code,
    refused_accept,
    role_in,
)
from tests.support.sessions import SESSION_COOKIE
from tests.support.state import snapshot


async def test_new_user_accepts_and_gets_a_session(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, password=None)
    code = await invited_code(client, admin.api_key, "bob@acme.com", "DEVELOPER")

    response = await accept(client, code, name="  Bob Builder ")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["email"] == "bob@acme.com"
    assert body["role"] == "DEVELOPER"
    assert body["accountId"] == admin.account_id
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    assert await role_in(ctx, admin.account_id, "bob@acme.com") == "DEVELOPER"
    assert await invitation_row(ctx, admin.account_id, "bob@acme.com") is None
    async with ctx.db.read() as conn:
        user = (await conn.execute(select(users).where(users.c.email == "bob@acme.com"))).one()
    assert user.id == body["userId"]
    assert user.name == "Bob Builder"
    assert user.password_hash is not None
    assert NEW_PASSWORD not in user.password_hash

    # The browser session works (a cookie call needs a JSON body).
    team = await client.post(
        "/api/getTeamData", content=b"{}", headers={"Content-Type": "application/json"}
    )
    assert team.status_code == 200, team.text
    assert [(e["login"], e["role"]) for e in team.json()] == [
        ("admin@acme.com", "ADMIN"),
        ("bob@acme.com", "DEVELOPER"),
    ]

    # One use only.
    await refused_accept(client, ctx, {"inviteCode": code, "name": "Bob", "password": "x" * 20})
    await refused_accept(client, ctx, {"inviteCode": code, "password": NEW_PASSWORD})


async def test_new_user_can_log_in_with_the_chosen_password(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, password=None)
    code = await invited_code(client, admin.api_key, "bob@acme.com")
    assert (await accept(client, code)).status_code == 200

    login = await call(client, "login", {"email": "bob@acme.com", "password": NEW_PASSWORD})

    assert login.status_code == 200, login.text
    assert login.json()["accountId"] == admin.account_id


async def test_existing_user_must_give_their_current_password(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, password=None)
    beta = await make_account(ctx, "Beta", "boss@beta.org", password=None)
    carol = await make_member(ctx, beta.account_id, "carol@acme.com", "VIEWER", name="Carol")
    code = await invited_code(client, admin.api_key, "carol@acme.com", "MEMBER")
    async with ctx.db.read() as conn:
        user_before = (await conn.execute(select(users).where(users.c.id == carol.user_id))).one()

    for password in ["wrong password!", NEW_PASSWORD, None]:
        before = await snapshot(ctx)
        refused = await accept(client, code, password=password, name="Mallory")
        assert refused.status_code in (400, 401), refused.text
        assert "set-cookie" not in refused.headers
        assert await snapshot(ctx) == before
    assert await invitation_row(ctx, admin.account_id, "carol@acme.com") is not None

    response = await accept(client, code, password=PASSWORD, name="Mallory")

    assert response.status_code == 200, response.text
    assert response.json()["userId"] == carol.user_id
    assert response.json()["role"] == "MEMBER"
    assert await role_in(ctx, admin.account_id, "carol@acme.com") == "MEMBER"
    assert await role_in(ctx, beta.account_id, "carol@acme.com") == "VIEWER"
    assert await invitation_row(ctx, admin.account_id, "carol@acme.com") is None
    async with ctx.db.read() as conn:
        user_after = (await conn.execute(select(users).where(users.c.id == carol.user_id))).one()
    # Neither name nor password changed (only where the next login starts: here).
    changed = {k for k, v in user_after._mapping.items() if user_before._mapping[k] != v}
    assert changed == {"last_account_id"}
    assert user_after.last_account_id == admin.account_id
    # The new session is in the inviting account.
    team = await client.post("/api/getTeamData", json={})
    assert team.status_code == 200
    assert "carol@acme.com" in [entry["login"] for entry in team.json()]
    assert "admin@acme.com" in [entry["login"] for entry in team.json()]


async def test_expired_invitation_is_refused(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx, password=None)
    code = await invited_code(client, admin.api_key, "bob@acme.com")
    await execute(
        ctx,
        update(invitations)
        .where(invitations.c.email == "bob@acme.com")
        .values(expires_at=now() - 1),
    )

    await refused_accept(client, ctx, {"inviteCode": code, "name": "Bob", "password": NEW_PASSWORD})
    page = await client.get("/signup", params={"signupInvitationCode": code})
    assert page.status_code == 400
    # Expired invitations stay listed until replaced or removed.
    team = (await call(client, "getTeamData", key=admin.api_key)).json()
    assert [entry["login"] for entry in team if entry.get("isInvitation")] == ["bob@acme.com"]


@pytest.mark.parametrize("endpoint", ["removeUser", "removeInvitation"])
async def test_revoked_invitation_is_refused(
    client: httpx.AsyncClient, ctx: AppContext, endpoint: str
) -> None:
    admin = await make_account(ctx, password=None)
    code = await invited_code(client, admin.api_key, "bob@acme.com")

    revoked = await call(client, endpoint, {"email": "Bob@Acme.com"}, key=admin.api_key)

    assert revoked.status_code == 200, revoked.text
    assert await invitation_row(ctx, admin.account_id, "bob@acme.com") is None
    await refused_accept(client, ctx, {"inviteCode": code, "name": "Bob", "password": NEW_PASSWORD})


async def test_bad_passwords_leave_the_invitation_pending(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, password=None)
    code = await invited_code(client, admin.api_key, "bob@acme.com")

    for password in ["short", "x" * 7, "x" * 129, "x" * 1000, None, 12345678, ["password1"]]:
        before = await snapshot(ctx)
        response = await accept(client, code, password=password)
        assert response.status_code == 400, (password, response.text)
        assert error_of(response) != ASK_ADMIN
        assert "set-cookie" not in response.headers
        assert await snapshot(ctx) == before
    assert await invitation_row(ctx, admin.account_id, "bob@acme.com") is not None

    response = await accept(client, code, password="p" * 128)

    assert response.status_code == 200, response.text
    login = await call(client, "login", {"email": "bob@acme.com", "password": "p" * 128})
    assert login.status_code == 200


async def test_new_user_needs_a_name(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx, password=None)
    code = await invited_code(client, admin.api_key, "bob@acme.com")

    for name in [None, "", "   ", 42, "n" * 201]:
        before = await snapshot(ctx)
        response = await accept(client, code, name=name)
        assert response.status_code == 400, (name, response.text)
        assert await snapshot(ctx) == before

    assert (await accept(client, code, name="Bob")).status_code == 200


async def test_role_granted_is_the_one_in_the_database_at_acceptance(
    client: httpx.AsyncClient, ctx: AppContext, settings: Settings
) -> None:
    admin = await make_account(ctx, password=None)
    code = await invited_code(client, admin.api_key, "bob@acme.com", "ADMIN")
    await execute(
        ctx,
        update(invitations).where(invitations.c.email == "bob@acme.com").values(role="VIEWER"),
    )

    response = await accept(client, code)

    assert response.status_code == 200, response.text
    assert response.json()["role"] == "VIEWER"
    assert await role_in(ctx, admin.account_id, "bob@acme.com") == "VIEWER"
    assert "role" not in claims(settings, code)
