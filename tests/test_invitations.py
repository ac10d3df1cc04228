"""inviteUsers, acceptInvite and the /signup confirmation page."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from sqlalchemy import insert, select, update

from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.db import now
from teamgate.models import accounts, custom_roles, invitations, memberships, users
from tests.conftest import make_account, make_member
from tests.support import PASSWORD
from tests.support.api import call, error_of
from tests.support.state import snapshot

ASK_ADMIN = "Ask admin to invite you"
SESSION_COOKIE = "teamgate_session"
NEW_PASSWORD = "a brand new passphrase"
WEEK = 7 * 24 * 3600
OTHER_KEY = "some-other-signing-key-" + "y" * 32


# --- helpers ---------------------------------------------------------------------------------


async def invite(
    client: httpx.AsyncClient, key: str, email: Any, role: Any = "MEMBER", **extra: Any
) -> httpx.Response:
    body = {"inviteeEmail": email, "inviteeRole": role, **extra}
    return await call(client, "inviteUsers", body, key=key)


def link_parts(response: httpx.Response) -> tuple[str, str, dict[str, list[str]]]:
    """(origin, path, query) of the invite link in an inviteUsers response."""
    parts = urlsplit(response.json()["finalInviteCode"])
    return f"{parts.scheme}://{parts.netloc}", parts.path, parse_qs(parts.query)


def code_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return link_parts(response)[2]["signupInvitationCode"][0]


async def invited_code(
    client: httpx.AsyncClient, key: str, email: str, role: str = "MEMBER", **extra: Any
) -> str:
    return code_of(await invite(client, key, email, role, **extra))


async def accept(
    client: httpx.AsyncClient,
    code: Any,
    password: Any = NEW_PASSWORD,
    name: Any = "Bob Builder",
) -> httpx.Response:
    body: dict[str, Any] = {"inviteCode": code, "password": password}
    if name is not None:
        body["name"] = name
    return await call(client, "acceptInvite", body)


def claims(settings: Settings, code: str) -> dict[str, Any]:
    assert settings.secret_key is not None
    decoded: dict[str, Any] = jwt.decode(
        code, settings.secret_key.get_secret_value(), algorithms=["HS256"]
    )
    return decoded


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def execute(ctx: AppContext, statement: Any) -> None:
    async with ctx.db.write() as conn:
        await conn.execute(statement)


async def invitation_row(ctx: AppContext, account_id: int, email: str) -> Any:
    async with ctx.db.read() as conn:
        return (
            await conn.execute(
                select(invitations).where(
                    invitations.c.account_id == account_id, invitations.c.email == email
                )
            )
        ).first()


async def role_in(ctx: AppContext, account_id: int, email: str) -> str | None:
    async with ctx.db.read() as conn:
        role: str | None = (
            await conn.execute(
                select(memberships.c.role)
                .join(users, users.c.id == memberships.c.user_id)
                .where(memberships.c.account_id == account_id, users.c.email == email)
            )
        ).scalar_one_or_none()
    return role


async def add_custom_role(ctx: AppContext, account_id: int, name: str, base: str) -> None:
    await execute(
        ctx,
        insert(custom_roles).values(
            account_id=account_id, name=name, base_role=base, created_at=now()
        ),
    )


async def refused_invite(
    client: httpx.AsyncClient, ctx: AppContext, key: str, body: dict[str, Any], message: str
) -> None:
    """The invitation is refused with ``message`` and nothing is written."""
    before = await snapshot(ctx)
    response = await call(client, "inviteUsers", body, key=key)
    assert response.status_code == 400, (body, response.text)
    assert error_of(response) == message, body
    assert await snapshot(ctx) == before, body


async def refused_accept(
    client: httpx.AsyncClient, ctx: AppContext, body: dict[str, Any], message: str = ASK_ADMIN
) -> httpx.Response:
    """The acceptance is refused with ``message``, starts no session and writes nothing."""
    before = await snapshot(ctx)
    response = await call(client, "acceptInvite", body)
    assert response.status_code == 400, (body, response.text)
    assert error_of(response) == message, body
    assert "set-cookie" not in response.headers
    assert await snapshot(ctx) == before, body
    return response


# --- inviteUsers: success --------------------------------------------------------------------


async def test_invite_returns_link_and_canonical_role(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, password=None)

    response = await invite(client, admin.api_key, "  Bob.Smith+QA@Acme.COM ", "member")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"finalInviteCode", "inviteeRole"}
    assert body["inviteeRole"] == "MEMBER"
    code = code_of(response)
    assert body["finalInviteCode"] == (
        f"http://testserver/signup?signupInvitationCode={code}"
        "&signupEmailId=bob.smith%2Bqa%40acme.com"
    )
    origin, path, query = link_parts(response)
    assert (origin, path) == ("http://testserver", "/signup")
    assert query["signupEmailId"] == ["bob.smith+qa@acme.com"]
    row = await invitation_row(ctx, admin.account_id, "bob.smith+qa@acme.com")
    assert row is not None
    assert (row.role, row.inviter_id) == ("MEMBER", admin.user_id)


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


async def test_member_of_another_account_may_be_invited(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, password=None)
    beta = await make_account(ctx, "Beta", "boss@beta.org", password=None)
    await make_member(ctx, beta.account_id, "carol@acme.com", password=None)

    response = await invite(client, admin.api_key, "carol@acme.com", "DEVELOPER")

    assert response.status_code == 200, response.text
    assert response.json()["inviteeRole"] == "DEVELOPER"
    assert await invitation_row(ctx, admin.account_id, "carol@acme.com") is not None


async def test_guest_is_an_alias_of_viewer(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx, password=None)

    for email, alias in [("bob@acme.com", "GUEST"), ("eve@acme.com", " guest ")]:
        response = await invite(client, admin.api_key, email, alias)
        assert response.status_code == 200, response.text
        assert response.json()["inviteeRole"] == "VIEWER"
        assert (await invitation_row(ctx, admin.account_id, email)).role == "VIEWER"
    team = (await call(client, "getTeamData", key=admin.api_key)).json()
    assert [entry["role"] for entry in team if entry.get("isInvitation")] == [
        "Invitation sent for VIEWER",
        "Invitation sent for VIEWER",
    ]


async def test_custom_roles_of_the_account_may_be_invited(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, password=None)
    other = await make_account(ctx, "Other", "boss@other.org", password=None)
    await add_custom_role(ctx, admin.account_id, "AUDITOR", "VIEWER")
    await add_custom_role(ctx, other.account_id, "OTHERS-ROLE", "VIEWER")

    response = await invite(client, admin.api_key, "bob@acme.com", "auditor")

    assert response.status_code == 200
    assert response.json()["inviteeRole"] == "AUDITOR"
    body = {"inviteeEmail": "eve@acme.com", "inviteeRole": "OTHERS-ROLE"}
    await refused_invite(client, ctx, admin.api_key, body, "Invalid role")


# --- inviteUsers: the six checks -------------------------------------------------------------


async def test_invalid_email(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx, password=None)
    await refused_invite(client, ctx, admin.api_key, {"inviteeRole": "MEMBER"}, "Invalid email")
    for email in [
        None,
        42,
        ["bob@acme.com"],
        "",
        "not-an-email",
        "bob@acme",
        "bob@",
        "Bob <bob@acme.com>",
        '"bob"@acme.com',
        "bob@[127.0.0.1]",
        "bób@acme.com",
        "bob@acme.com\r\nBcc: eve@acme.com",
    ]:
        await refused_invite(
            client,
            ctx,
            admin.api_key,
            {"inviteeEmail": email, "inviteeRole": "MEMBER"},
            "Invalid email",
        )


async def test_invites_disabled(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx, password=None)
    await execute(
        ctx, update(accounts).where(accounts.c.id == admin.account_id).values(invites_enabled=False)
    )
    await refused_invite(
        client,
        ctx,
        admin.api_key,
        {"inviteeEmail": "bob@acme.com", "inviteeRole": "MEMBER"},
        "Inviting new users is not allowed for this account",
    )


async def test_user_already_exists(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx, password=None)
    await make_member(ctx, admin.account_id, "dev@acme.com", "DEVELOPER", password=None)
    for email in ["admin@acme.com", " ADMIN@Acme.com", "dev@acme.com", "Dev@ACME.COM"]:
        await refused_invite(
            client,
            ctx,
            admin.api_key,
            {"inviteeEmail": email, "inviteeRole": "VIEWER"},
            "User already exists",
        )


async def test_domain_must_match_exactly(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx, password=None)
    for email in [
        "bob@evil-acme.com",
        "bob@sub.acme.com",
        "bob@acme.co",
        "bob@acme.com.evil.io",
        "bob@notacme.com",
        "bob@gmail.com",
    ]:
        await refused_invite(
            client,
            ctx,
            admin.api_key,
            {"inviteeEmail": email, "inviteeRole": "MEMBER"},
            "Email must belong to same organisation",
        )

    response = await invite(client, admin.api_key, "bob@ACME.com")
    assert response.status_code == 200, response.text


async def test_invalid_role(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx, password=None)
    body = {"inviteeEmail": "bob@acme.com"}
    await refused_invite(client, ctx, admin.api_key, body, "Invalid role")
    for role in [None, 3, ["MEMBER"], "", "OWNER", "SUPER ADMIN", "MEMBER; DROP TABLE"]:
        await refused_invite(
            client, ctx, admin.api_key, {**body, "inviteeRole": role}, "Invalid role"
        )


async def test_member_may_not_invite_above_itself(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, password=None)
    await add_custom_role(ctx, admin.account_id, "SUPERUSER", "ADMIN")
    member = await make_member(ctx, admin.account_id, "mia@acme.com", password=None)

    for role in ["ADMIN", "admin", "SUPERUSER"]:
        await refused_invite(
            client,
            ctx,
            member.api_key,
            {"inviteeEmail": "bob@acme.com", "inviteeRole": role},
            "User not allowed to invite for this role",
        )

    for role, expected in [
        ("MEMBER", "MEMBER"),
        ("DEVELOPER", "DEVELOPER"),
        ("VIEWER", "VIEWER"),
        ("GUEST", "VIEWER"),
    ]:
        response = await invite(client, member.api_key, f"{role.lower()}@acme.com", role)
        assert response.status_code == 200, response.text
        assert response.json()["inviteeRole"] == expected


async def test_admin_may_invite_every_built_in_role(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, password=None)
    for role in ["ADMIN", "MEMBER", "DEVELOPER", "VIEWER"]:
        response = await invite(client, admin.api_key, f"new-{role.lower()}@acme.com", role)
        assert response.status_code == 200, response.text
        assert response.json()["inviteeRole"] == role


@pytest.mark.parametrize("role", ["DEVELOPER", "VIEWER"])
async def test_developers_and_viewers_may_not_invite(
    client: httpx.AsyncClient, ctx: AppContext, role: str
) -> None:
    admin = await make_account(ctx, password=None)
    caller = await make_member(ctx, admin.account_id, "low@acme.com", role, password=None)

    before = await snapshot(ctx)
    response = await invite(client, caller.api_key, "bob@acme.com", "VIEWER")

    assert response.status_code == 403
    assert error_of(response) == f"The role '{role}' does not have access."
    assert await snapshot(ctx) == before


async def test_custom_role_with_member_base_may_invite_up_to_member(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, password=None)
    await add_custom_role(ctx, admin.account_id, "LEAD", "MEMBER")
    lead = await make_member(ctx, admin.account_id, "lead@acme.com", "LEAD", password=None)

    assert (await invite(client, lead.api_key, "bob@acme.com", "MEMBER")).status_code == 200
    await refused_invite(
        client,
        ctx,
        lead.api_key,
        {"inviteeEmail": "eve@acme.com", "inviteeRole": "ADMIN"},
        "User not allowed to invite for this role",
    )


async def test_checks_run_in_the_documented_order(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, password=None)
    await make_member(ctx, admin.account_id, "partner@partner.io", password=None)
    member = await make_member(ctx, admin.account_id, "mia@acme.com", password=None)
    bad_host = "https://evil.example.net"
    cases = [
        # 1 beats 2..6 and the host check
        (
            {"inviteeEmail": "nope", "inviteeRole": "OWNER", "websiteHostName": bad_host},
            "Invalid email",
        ),
        # 3 beats 4 and 5: a member whose domain is not the account's, with a bad role
        ({"inviteeEmail": "partner@partner.io", "inviteeRole": "OWNER"}, "User already exists"),
        # 4 beats 5 and the host check
        (
            {
                "inviteeEmail": "bob@evil-acme.com",
                "inviteeRole": "OWNER",
                "websiteHostName": bad_host,
            },
            "Email must belong to same organisation",
        ),
        # 5 beats the host check
        (
            {"inviteeEmail": "bob@acme.com", "inviteeRole": "OWNER", "websiteHostName": bad_host},
            "Invalid role",
        ),
    ]
    for body, message in cases:
        await refused_invite(client, ctx, admin.api_key, body, message)
    cases = [
        # 3 and 4 beat 6
        ({"inviteeEmail": "partner@partner.io", "inviteeRole": "ADMIN"}, "User already exists"),
        (
            {"inviteeEmail": "bob@evil-acme.com", "inviteeRole": "ADMIN"},
            "Email must belong to same organisation",
        ),
        # 6 beats the host check
        (
            {"inviteeEmail": "bob@acme.com", "inviteeRole": "ADMIN", "websiteHostName": bad_host},
            "User not allowed to invite for this role",
        ),
    ]
    for body, message in cases:
        await refused_invite(client, ctx, member.api_key, body, message)

    await execute(
        ctx, update(accounts).where(accounts.c.id == admin.account_id).values(invites_enabled=False)
    )
    disabled = "Inviting new users is not allowed for this account"
    cases = [
        # 1 beats 2
        ({"inviteeEmail": "bob@", "inviteeRole": "MEMBER"}, "Invalid email"),
        # 2 beats 3, 4, 5 and 6
        ({"inviteeEmail": "admin@acme.com", "inviteeRole": "MEMBER"}, disabled),
        ({"inviteeEmail": "bob@evil-acme.com", "inviteeRole": "OWNER"}, disabled),
        ({"inviteeEmail": "bob@acme.com", "inviteeRole": "OWNER"}, disabled),
    ]
    for body, message in cases:
        await refused_invite(client, ctx, admin.api_key, body, message)
    body = {"inviteeEmail": "bob@acme.com", "inviteeRole": "ADMIN"}
    await refused_invite(client, ctx, member.api_key, body, disabled)


# --- inviteUsers: websiteHostName ------------------------------------------------------------


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


# --- inviteUsers: re-invite and the team list ------------------------------------------------


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


# --- acceptInvite ----------------------------------------------------------------------------


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
    assert user_after == user_before  # neither name nor password changed
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
        jwt.encode(real, None, algorithm="none"),  # type: ignore[arg-type]
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


# --- the /signup page ------------------------------------------------------------------------


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
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["content-type"].startswith("text/html")
        assert "bob@acme.com" in page.text
        assert "DEVELOPER" in page.text
        assert "Acme" in page.text
        assert "set-cookie" not in page.headers

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
        {"signupInvitationCode": jwt.encode(real, None, algorithm="none")},  # type: ignore[arg-type]
        {},
    ]:
        page = await client.get("/signup", params=params)
        assert page.status_code == 400
        assert page.headers["referrer-policy"] == "no-referrer"
        assert ASK_ADMIN in page.text
        assert "bob@acme.com" not in page.text
    assert await snapshot(ctx) == before


async def test_signup_form_accepts_once(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx, password=None)
    code = await invited_code(client, admin.api_key, "bob@acme.com", "VIEWER")
    form = {"inviteCode": code, "name": "Bob Builder", "password": NEW_PASSWORD}

    before = await snapshot(ctx)
    short = await client.post("/signup", data={**form, "password": "short"})
    assert short.status_code == 400
    assert short.headers["referrer-policy"] == "no-referrer"
    assert await snapshot(ctx) == before

    joined = await client.post("/signup", data=form)

    assert joined.status_code == 200, joined.text
    assert joined.headers["referrer-policy"] == "no-referrer"
    assert joined.headers["set-cookie"].startswith(f"{SESSION_COOKIE}=")
    assert "Acme" in joined.text
    assert await role_in(ctx, admin.account_id, "bob@acme.com") == "VIEWER"
    assert await invitation_row(ctx, admin.account_id, "bob@acme.com") is None

    before = await snapshot(ctx)
    again = await client.post("/signup", data=form)
    assert again.status_code == 400
    assert ASK_ADMIN in again.text
    assert "set-cookie" not in again.headers
    assert await snapshot(ctx) == before
    await refused_accept(client, ctx, {"inviteCode": code, "password": NEW_PASSWORD})


async def test_signup_form_from_a_foreign_origin_is_refused(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx, password=None)
    code = await invited_code(client, admin.api_key, "bob@acme.com", "VIEWER")
    form = {"inviteCode": code, "name": "Bob Builder", "password": NEW_PASSWORD}
    before = await snapshot(ctx)

    forged = await client.post("/signup", data=form, headers={"Origin": "https://evil.example.org"})

    assert forged.status_code == 403
    assert "set-cookie" not in forged.headers
    assert await snapshot(ctx) == before
    own = await client.post("/signup", data=form, headers={"Origin": "http://testserver"})
    assert own.status_code == 200
