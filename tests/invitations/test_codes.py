"""Invite codes and links: a signed JWT with the contract's claims, in a link on a configured
origin; forged codes are refused, a re-invite replaces the code, and no code is ever listed."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from sqlalchemy import select

from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.db import now
from teamgate.models import invitations
from tests.conftest import make_account
from tests.support.api import call
from tests.support.invitations import (
    NEW_PASSWORD,
    OTHER_KEY,
    WEEK,
    accept,
    b64,
    claims,
    code_of,
    invitation_row,
    invite,
    invited_code,
    link_parts,
    refused_accept,
    refused_invite,
    role_in,
)


async def test_invite_code_is_a_signed_jwt_with_the_contract_claims(
    client: httpx.AsyncClient, ctx: AppContext, settings: Settings
) -> None:
    admin = await make_account(ctx, password=None)
    started = time.time()

    code = await invited_code(client, admin.api_key, "bob@acme.com")
    other = await invited_code(client, admin.api_key, "eve@acme.com")

    assert jwt.get_unverified_header(code)["alg"] == "HS256"
    payload = claims(settings, code)
    assert payload["sub"] == "invite_user"
    assert payload["email"] == "bob@acme.com"
    assert payload["accountId"] == admin.account_id
    assert started + WEEK - 5 <= payload["exp"] <= time.time() + WEEK + 5
    row = await invitation_row(ctx, admin.account_id, "bob@acme.com")
    assert payload["jti"] == row.jti
    assert abs(row.expires_at - payload["exp"]) <= 5
    assert claims(settings, other)["jti"] != payload["jti"]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(code, OTHER_KEY, algorithms=["HS256"])


# --- websiteHostName -------------------------------------------------------------------------


@pytest.mark.parametrize("origin", ["https://teams.example.com", "http://testserver"])
async def test_configured_website_host_is_used_in_the_link(
    client: httpx.AsyncClient, ctx: AppContext, origin: str
) -> None:
    admin = await make_account(ctx, password=None)

    response = await invite(client, admin.api_key, "bob@acme.com", websiteHostName=origin)

    assert response.status_code == 200, response.text
    assert link_parts(response)[:2] == (origin, "/signup")
    assert response.json()["finalInviteCode"].startswith(f"{origin}/signup?")


async def test_other_website_hosts_are_refused(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx, password=None)
    for host in [
        "https://evil.example.net",  # another host
        "http://teams.example.com",  # another scheme
        "https://teams.example.com:8443",  # another port
        "http://testserver:8080",
        "https://teams.example.com.evil.net",
        "https://teams.example.com@evil.net",
        "https://evil.net/https://teams.example.com",
        "//teams.example.com",
        "teams.example.com",
        "",
        42,
        True,
        ["https://teams.example.com"],
        {"host": "https://teams.example.com"},
    ]:
        await refused_invite(
            client,
            ctx,
            admin.api_key,
            {"inviteeEmail": "bob@acme.com", "inviteeRole": "MEMBER", "websiteHostName": host},
            "Invalid website host name",
        )


# --- forged codes ----------------------------------------------------------------------------


async def test_forged_and_garbage_codes_are_refused(
    client: httpx.AsyncClient, ctx: AppContext, settings: Settings
) -> None:
    admin = await make_account(ctx, password=None)
    other = await make_account(ctx, "Other", "boss@other.org", password=None)
    code = await invited_code(client, admin.api_key, "bob@acme.com")
    header, payload, signature = code.split(".")
    real = claims(settings, code)
    assert settings.secret_key is not None
    server_key = settings.secret_key.get_secret_value()
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    forged = [
        # a tampered signature
        f"{header}.{payload}.{flipped}",
        f"{header}.{payload}.",
        # a tampered payload under the original signature
        f"{header}.{b64({**real, 'accountId': other.account_id})}.{signature}",
        f"{header}.{b64({**real, 'email': 'eve@acme.com'})}.{signature}",
        # alg none, with and without the original signature (PyJWT types the key as required;
        # for "none" it must be None)
        jwt.encode(real, None, algorithm="none"),  # type: ignore[arg-type, unused-ignore]
        f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.{signature}",
        # the right claims signed with another key
        jwt.encode(real, OTHER_KEY, algorithm="HS256"),
        # signed with the server's key, but not what the row says
        jwt.encode({**real, "email": "eve@acme.com"}, server_key, algorithm="HS256"),
        jwt.encode({**real, "accountId": other.account_id}, server_key, algorithm="HS256"),
        jwt.encode({**real, "jti": "made-up"}, server_key, algorithm="HS256"),
        jwt.encode({**real, "sub": "reset_password"}, server_key, algorithm="HS256"),
        jwt.encode({**real, "exp": now() - 60}, server_key, algorithm="HS256"),
        jwt.encode({k: v for k, v in real.items() if k != "jti"}, server_key, algorithm="HS256"),
        jwt.encode({k: v for k, v in real.items() if k != "exp"}, server_key, algorithm="HS256"),
        # garbage
        "garbage",
        "a.b.c",
        "",
        "   ",
        "x" * 5000,
        code + "x" * 5000,
        "http://testserver/signup?signupInvitationCode=garbage",
    ]
    value: object  # a forged code first, then values of other types
    for value in forged:
        body = {"inviteCode": value, "name": "Bob", "password": NEW_PASSWORD}
        await refused_accept(client, ctx, body)
    for value in [None, 123, True, [code], {"code": code}]:
        await refused_accept(client, ctx, {"inviteCode": value, "password": NEW_PASSWORD})
    await refused_accept(client, ctx, {"name": "Bob", "password": NEW_PASSWORD})

    # None of that consumed the genuine code.
    response = await accept(client, code)
    assert response.status_code == 200, response.text
    assert await role_in(ctx, admin.account_id, "bob@acme.com") == "MEMBER"


# --- re-invite and the team list -------------------------------------------------------------


async def test_reinvite_replaces_the_old_code(
    client: httpx.AsyncClient, ctx: AppContext, settings: Settings
) -> None:
    admin = await make_account(ctx, password=None)
    old = await invited_code(client, admin.api_key, "bob@acme.com", "VIEWER")
    new = await invited_code(client, admin.api_key, "bob@acme.com", "DEVELOPER")

    assert claims(settings, old)["jti"] != claims(settings, new)["jti"]
    team = (await call(client, "getTeamData", key=admin.api_key)).json()
    assert [entry["role"] for entry in team if entry.get("isInvitation")] == [
        "Invitation sent for DEVELOPER"
    ]
    await refused_accept(client, ctx, {"inviteCode": old, "name": "Bob", "password": NEW_PASSWORD})
    page = await client.get("/signup", params={"signupInvitationCode": old})
    assert page.status_code == 400

    response = await accept(client, new)

    assert response.status_code == 200, response.text
    assert response.json()["role"] == "DEVELOPER"
    assert await role_in(ctx, admin.account_id, "bob@acme.com") == "DEVELOPER"


async def test_team_data_lists_invitations_without_their_code(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, password=None)
    named = await invite(client, admin.api_key, "bob@acme.com", "MEMBER", inviteeName="Bob B")
    unnamed = await invite(client, admin.api_key, "eve@acme.com", "guest")
    assert (named.status_code, unnamed.status_code) == (200, 200)

    response = await call(client, "getTeamData", key=admin.api_key)

    assert response.status_code == 200
    team = response.json()
    assert team[0] == {
        "id": admin.user_id,
        "login": "admin@acme.com",
        "name": "Ada Admin",
        "role": "ADMIN",
    }
    entries = [
        {k: entry[k] for k in ("id", "login", "name", "role", "isInvitation")} for entry in team[1:]
    ]
    assert entries == [
        {
            "id": admin.user_id,
            "login": "bob@acme.com",
            "name": "Bob B",
            "role": "Invitation sent for MEMBER",
            "isInvitation": True,
        },
        {
            "id": admin.user_id,
            "login": "eve@acme.com",
            "name": "-",
            "role": "Invitation sent for VIEWER",
            "isInvitation": True,
        },
    ]
    for invited in (named, unnamed):
        code = code_of(invited)
        assert code not in response.text
        assert code.split(".")[2] not in response.text
        assert invited.json()["finalInviteCode"] not in response.text
    async with ctx.db.read() as conn:
        jtis = list((await conn.execute(select(invitations.c.jti))).scalars())
    assert len(jtis) == 2
    for jti in jtis:
        assert jti not in response.text
    assert "signupInvitationCode" not in response.text
