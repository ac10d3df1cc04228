"""Sessions: logging in sets a fresh, HttpOnly, SameSite=Lax cookie; logging out and expiry end
it; goToAccount moves it to another account of the same user."""

from __future__ import annotations

import httpx
from sqlalchemy import select, update

from teamgate.app import create_app
from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.db import now
from teamgate.models import sessions
from tests.conftest import make_member, new_account, new_member
from tests.support.api import call, error_of
from tests.support.sessions import (
    as_session,
    assert_unauthorized,
    cookie_headers,
    login,
    session_token,
    set_cookies,
    sha256_hex,
    start_session,
    works,
)
from tests.support.state import snapshot

BAD_LOGIN = "Invalid email or password"


async def test_login_sets_an_httponly_samesite_lax_cookie(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await new_account(ctx)

    response = await login(client, admin.email)

    assert response.status_code == 200, response.text
    assert response.json()["userId"] == admin.user_id
    assert response.json()["accountId"] == admin.account_id
    (header,) = set_cookies(response)
    attributes = [part.strip().lower() for part in header.split(";")[1:]]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    assert "secure" not in attributes  # the first public origin is plain http
    token = session_token(response)
    assert len(token) >= 22  # at least 128 random bits, base64url
    assert await works(client, token=token)


async def test_cookie_is_secure_when_served_over_https(settings: Settings) -> None:
    https_settings = settings.model_copy(update={"public_url": ["https://teams.example.com"]})
    application = create_app(https_settings)
    async with application.router.lifespan_context(application):
        admin = await new_account(application.state.ctx)
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(
            transport=transport, base_url="https://teams.example.com"
        ) as https_client:
            response = await login(https_client, admin.email)
    assert response.status_code == 200, response.text
    (header,) = set_cookies(response)
    attributes = [part.strip().lower() for part in header.split(";")[1:]]
    assert "secure" in attributes
    assert "httponly" in attributes
    assert "samesite=lax" in attributes


async def test_every_login_gets_a_new_session_id(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await new_account(ctx)
    first = await start_session(client, admin.email)
    second = await start_session(client, "  ADMIN@Acme.COM ")  # the canonical email matches
    # a login that presents an existing session id (fixation) still gets a fresh one
    fixed = await login(client, admin.email, headers=cookie_headers(first))
    assert fixed.status_code == 200, fixed.text
    third = session_token(fixed)

    assert len({first, second, third}) == 3
    async with ctx.db.read() as conn:
        stored = {row[0] for row in await conn.execute(select(sessions.c.id_hash))}
    assert stored == {sha256_hex(first), sha256_hex(second), sha256_hex(third)}
    for token in (first, second, third):
        assert await works(client, token=token)


async def test_wrong_password_and_unknown_email_look_the_same(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await new_account(ctx)
    await new_member(ctx, admin.account_id, "nopass@acme.com")  # no password set
    before = await snapshot(ctx)

    wrong_password = await login(client, admin.email, "not the password")
    unknown_email = await login(client, "nobody@acme.com", "not the password")
    no_password_set = await login(client, "nopass@acme.com", "")

    for response in (wrong_password, unknown_email, no_password_set):
        assert response.status_code == 401, response.text
        assert error_of(response) == BAD_LOGIN
        assert set_cookies(response) == []
    assert wrong_password.content == unknown_email.content == no_password_set.content
    assert await snapshot(ctx) == before


async def test_logout_ends_the_session(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await new_account(ctx)
    token = await start_session(client, admin.email)
    other = await start_session(client, admin.email)
    assert await works(client, token=token)

    response = await as_session(client, "logout", token=token)

    assert response.status_code == 200, response.text
    (cleared,) = set_cookies(response)
    assert "max-age=0" in cleared.lower()
    assert_unauthorized(await as_session(client, "getTeamData", token=token))
    before = await snapshot(ctx)
    assert_unauthorized(
        await as_session(
            client,
            "inviteUsers",
            {"inviteeEmail": "x@acme.com", "inviteeRole": "VIEWER"},
            token=token,
        )
    )
    assert await snapshot(ctx) == before
    assert await works(client, token=other)  # only that session ended


async def test_expired_session_is_401(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await new_account(ctx)
    token = await start_session(client, admin.email)
    assert await works(client, token=token)
    async with ctx.db.write() as conn:
        await conn.execute(
            update(sessions)
            .where(sessions.c.id_hash == sha256_hex(token))
            .values(expires_at=now() - 1)
        )
    assert_unauthorized(await as_session(client, "getTeamData", token=token))


# --- goToAccount -----------------------------------------------------------------------------


async def test_go_to_account_switches_the_session(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    acme = await new_account(ctx)
    other = await new_account(ctx, name="Other", admin_email="boss@other.org")
    await make_member(ctx, other.account_id, acme.email, "DEVELOPER", password=None)
    token = await start_session(client, acme.email)

    switched = await as_session(
        client, "goToAccount", {"newAccountId": other.account_id}, token=token
    )

    assert switched.status_code == 200, switched.text
    assert switched.json() == {"accountId": other.account_id, "role": "DEVELOPER"}
    # A new session id for the new account; the old one has ended.
    old_token, token = token, session_token(switched)
    assert token != old_token
    assert (await as_session(client, "getTeamData", token=old_token)).status_code == 401
    team = (await as_session(client, "getTeamData", token=token)).json()
    assert {e["login"] for e in team} == {"boss@other.org", acme.email}
    # Now a DEVELOPER there: inviting is refused on the very next request.
    invite = {"inviteeEmail": "x@other.org", "inviteeRole": "VIEWER"}
    assert (await as_session(client, "inviteUsers", invite, token=token)).status_code == 403


async def test_go_to_account_refusals_change_nothing(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    acme = await new_account(ctx)
    stranger = await new_account(ctx, name="Stranger", admin_email="boss@stranger.org")
    token = await start_session(client, acme.email)
    before = await snapshot(ctx)
    cases = [
        ({"newAccountId": stranger.account_id}, 400, "Account not found"),
        ({"newAccountId": 2**40}, 400, "newAccountId must be a positive integer"),
        ({"newAccountId": "1"}, 400, "newAccountId must be a positive integer"),
        ({}, 400, "newAccountId must be a positive integer"),
    ]
    for body, status, message in cases:
        response = await as_session(client, "goToAccount", body, token=token)
        assert (response.status_code, error_of(response)) == (status, message)
    by_key = await call(client, "goToAccount", {"newAccountId": acme.account_id}, key=acme.api_key)
    assert by_key.status_code == 403
    assert await snapshot(ctx) == before


async def test_get_accounts_lists_the_callers_accounts_by_key_or_session(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    acme = await new_account(ctx)
    other = await new_account(ctx, name="Other", admin_email="boss@other.org")
    await new_account(ctx, name="Stranger", admin_email="boss@stranger.org")
    await make_member(ctx, other.account_id, acme.email, "DEVELOPER", password=None)
    expected = [
        {"accountId": acme.account_id, "name": "Acme", "role": "ADMIN"},
        {"accountId": other.account_id, "name": "Other", "role": "DEVELOPER"},
    ]

    by_key = await call(client, "getAccounts", key=acme.api_key)
    token = await start_session(client, acme.email)
    by_session = await as_session(client, "getAccounts", token=token)

    assert (by_key.status_code, by_key.json()) == (200, expected)
    assert (by_session.status_code, by_session.json()) == (200, expected)
    assert_unauthorized(await call(client, "getAccounts"))


async def test_login_starts_in_the_account_used_last(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    acme = await new_account(ctx)
    other = await new_account(ctx, name="Other", admin_email="boss@other.org")
    await make_member(ctx, other.account_id, acme.email, "VIEWER", password=None)
    first = await login(client, acme.email)
    assert first.json()["accountId"] == acme.account_id  # never switched: the first joined

    switched = await as_session(
        client, "goToAccount", {"newAccountId": other.account_id}, token=session_token(first)
    )
    assert switched.status_code == 200

    again = await login(client, acme.email)
    assert again.json()["accountId"] == other.account_id
    # Removed from the account used last: the next login starts in the first one again.
    removed = await call(client, "removeUser", {"email": acme.email}, key=other.api_key)
    assert removed.status_code == 200
    assert (await login(client, acme.email)).json()["accountId"] == acme.account_id
