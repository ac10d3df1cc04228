"""inviteUsers: who may invite whom, with which role, and its six checks in the contract's order."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update

from teamgate.context import AppContext
from teamgate.models import accounts
from tests.conftest import make_account, make_member
from tests.support.api import call, error_of
from tests.support.invitations import (
    add_custom_role,
    code_of,
    execute,
    invitation_row,
    invite,
    link_parts,
    refused_invite,
)
from tests.support.state import snapshot

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
