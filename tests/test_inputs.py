"""Parsing request bodies: values of the wrong type are a 400 with the contract's message, and
unknown fields are ignored, never bound."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from teamgate.context import AppContext
from teamgate.models import invitations, memberships
from tests.conftest import Member, make_account, make_member
from tests.support.api import assert_error, call, team_list
from tests.support.sessions import cookie_headers, start_session
from tests.support.state import snapshot

# (endpoint, body, message); message None: a 400 whose wording the contract leaves open
WRONG_TYPES: list[tuple[str, dict[str, Any], str | None]] = [
    ("removeUser", {"email": 123}, "Invalid email"),
    ("removeUser", {"email": ["mia@acme.com"]}, "Invalid email"),
    ("removeUser", {"email": {"address": "mia@acme.com"}}, "Invalid email"),
    ("removeUser", {"email": True}, "Invalid email"),
    ("removeUser", {"email": None}, "Invalid email"),
    ("removeUser", {"email": "mia@acme.com\r\nBcc: x@evil.example"}, "Invalid email"),
    ("inviteUsers", {"inviteeEmail": ["new@acme.com"], "inviteeRole": "VIEWER"}, "Invalid email"),
    ("inviteUsers", {"inviteeEmail": 7, "inviteeRole": "VIEWER"}, "Invalid email"),
    ("inviteUsers", {"inviteeEmail": "new@acme.com", "inviteeRole": ["VIEWER"]}, "Invalid role"),
    ("inviteUsers", {"inviteeEmail": "new@acme.com", "inviteeRole": 1}, "Invalid role"),
    ("inviteUsers", {"inviteeEmail": "new@acme.com"}, "Invalid role"),
    (
        "inviteUsers",
        {"inviteeEmail": "new@acme.com", "inviteeRole": "VIEWER", "websiteHostName": 5},
        "Invalid website host name",
    ),
    (
        "inviteUsers",
        {"inviteeEmail": "new@acme.com", "inviteeRole": "VIEWER", "inviteeName": ["x"]},
        None,
    ),
    ("removeInvitation", {"email": 1}, "Invalid email"),
    ("makeAdmin", {"email": 1, "userRole": "VIEWER"}, "Invalid email"),
    ("makeAdmin", {"email": "mia@acme.com", "userRole": ["ADMIN"]}, "Invalid user role"),
    ("makeAdmin", {"email": "mia@acme.com", "userRole": None}, "Invalid user role"),
]


async def test_wrong_types_are_400(
    client: httpx.AsyncClient, ctx: AppContext, acme: Member
) -> None:
    await make_member(ctx, acme.account_id, "mia@acme.com", password=None)
    before = await snapshot(ctx)

    for endpoint, body, message in WRONG_TYPES:
        response = await call(client, endpoint, body, key=acme.api_key)
        assert response.status_code == 400, (endpoint, body, response.text)
        assert_error(response, 400, message)
        assert await snapshot(ctx) == before, (endpoint, body)


async def test_wrong_types_for_api_key_endpoints_are_400(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    cookie = cookie_headers(await start_session(client, admin.email))
    bodies = [
        ("addApiToken", {"name": 5}),
        ("addApiToken", {"name": ["ci"]}),
        ("addApiToken", {"name": {"a": 1}}),
        ("addApiToken", {"name": "x" * 10_000}),
        ("deleteApiToken", {"apiTokenId": "1"}),
        ("deleteApiToken", {"apiTokenId": True}),
        ("deleteApiToken", {"apiTokenId": 1.0}),
        ("deleteApiToken", {"apiTokenId": [1]}),
        ("deleteApiToken", {"apiTokenId": 2**63 - 1}),
        ("deleteApiToken", {"apiTokenId": -1}),
        ("deleteApiToken", {}),
    ]
    before = await snapshot(ctx)

    for endpoint, body in bodies:
        response = await client.post(f"/api/{endpoint}", json=body, headers=cookie)
        assert_error(response, 400)

    assert await snapshot(ctx) == before
    assert (await call(client, "getTeamData", key=admin.api_key)).status_code == 200


# --- unknown fields are ignored, never bound -------------------------------------------------


async def test_unknown_fields_do_not_change_an_invitation(
    client: httpx.AsyncClient, ctx: AppContext, acme: Member
) -> None:
    member = await make_member(ctx, acme.account_id, "mia@acme.com", "MEMBER", password=None)
    other = await make_account(ctx, "Other", "boss@other.org", password=None)
    others_team = await team_list(client, other.api_key)
    extras = {
        "role": "ADMIN",
        "userRole": "ADMIN",
        "accountId": other.account_id,
        "account_id": other.account_id,
        "inviterId": acme.user_id,
        "inviter_id": acme.user_id,
        "id": 1,
        "jti": "chosen-by-client",
        "expiresAt": 4_102_444_800,
        "isInvitation": False,
        "inviteeRoleBase": "ADMIN",
        "__proto__": {"role": "ADMIN"},
    }

    plain = await call(
        client,
        "inviteUsers",
        {"inviteeEmail": "plain@acme.com", "inviteeRole": "VIEWER"},
        key=member.api_key,
    )
    extra = await call(
        client,
        "inviteUsers",
        {"inviteeEmail": "extra@acme.com", "inviteeRole": "VIEWER", **extras},
        key=member.api_key,
    )

    assert plain.status_code == extra.status_code == 200, extra.text
    assert plain.json().keys() == extra.json().keys()
    assert plain.json()["inviteeRole"] == extra.json()["inviteeRole"] == "VIEWER"
    assert (
        plain.json()["finalInviteCode"].split("?")[0]
        == (extra.json()["finalInviteCode"].split("?")[0])
    )
    async with ctx.db.read() as conn:
        rows = {
            row.email: row
            for row in await conn.execute(
                select(
                    invitations.c.email,
                    invitations.c.account_id,
                    invitations.c.role,
                    invitations.c.inviter_id,
                    invitations.c.jti,
                    invitations.c.created_at,
                    invitations.c.expires_at,
                )
            )
        }
    assert set(rows) == {"plain@acme.com", "extra@acme.com"}
    for row in rows.values():
        assert row.account_id == acme.account_id
        assert row.role == "VIEWER"
        assert row.inviter_id == member.user_id
        assert row.expires_at - row.created_at == (
            rows["plain@acme.com"].expires_at - rows["plain@acme.com"].created_at
        )
    assert rows["extra@acme.com"].jti != "chosen-by-client"
    assert await team_list(client, other.api_key) == others_team


async def test_unknown_fields_never_widen_a_request(
    client: httpx.AsyncClient, ctx: AppContext, acme: Member
) -> None:
    member = await make_member(ctx, acme.account_id, "mia@acme.com", "MEMBER", password=None)
    dev = await make_member(ctx, acme.account_id, "dev@acme.com", "DEVELOPER", password=None)
    other = await make_account(ctx, "Other", "boss@other.org", password=None)
    outsider = await make_member(ctx, other.account_id, "out@other.org", password=None)
    before = await snapshot(ctx)

    # a MEMBER claiming to be an ADMIN is still a MEMBER
    denied = await call(
        client,
        "makeAdmin",
        {"email": dev.email, "userRole": "ADMIN", "role": "ADMIN", "roleHierarchy": "ADMIN"},
        key=member.api_key,
    )
    assert_error(denied, 403, "The role 'MEMBER' does not have access.")
    # an ADMIN cannot reach into another account by naming it
    not_found = await call(
        client,
        "removeUser",
        {"email": outsider.email, "accountId": other.account_id},
        key=acme.api_key,
    )
    assert_error(not_found, 400, "User not found")
    assert await snapshot(ctx) == before

    listed = await call(client, "getTeamData", {"accountId": other.account_id}, key=acme.api_key)
    assert listed.status_code == 200
    assert {entry["login"] for entry in listed.json()} == {acme.email, member.email, dev.email}

    changed = await call(
        client,
        "makeAdmin",
        {"email": dev.email, "userRole": "VIEWER", "role": "ADMIN", "accountId": other.account_id},
        key=acme.api_key,
    )
    assert changed.status_code == 200, changed.text
    async with ctx.db.read() as conn:
        roles = {
            (row.account_id, row.user_id): row.role
            for row in await conn.execute(
                select(memberships.c.account_id, memberships.c.user_id, memberships.c.role)
            )
        }
    assert roles[(acme.account_id, dev.user_id)] == "VIEWER"
    assert roles[(other.account_id, outsider.user_id)] == "MEMBER"
