"""getTeamData, removeUser, makeAdmin and getRoleHierarchy."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import insert, select

from teamgate.context import AppContext
from teamgate.db import now
from teamgate.models import api_keys, custom_roles, memberships
from tests.conftest import make_account, make_member
from tests.support.api import call, error_of
from tests.support.state import snapshot


async def test_team_lists_members_then_invitations(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    dev = await make_member(ctx, admin.account_id, "dev@acme.com", "DEVELOPER", name="Dev")
    invited = await call(
        client,
        "inviteUsers",
        {"inviteeEmail": "new@acme.com", "inviteeRole": "VIEWER"},
        key=admin.api_key,
    )
    assert invited.status_code == 200

    team = (await call(client, "getTeamData", key=dev.api_key)).json()

    assert team[:2] == [
        {"id": admin.user_id, "login": "admin@acme.com", "name": "Ada Admin", "role": "ADMIN"},
        {"id": dev.user_id, "login": "dev@acme.com", "name": "Dev", "role": "DEVELOPER"},
    ]
    invitation = team[2]
    assert invitation["id"] == admin.user_id
    assert invitation["login"] == "new@acme.com"
    assert invitation["name"] == "-"
    assert invitation["role"] == "Invitation sent for VIEWER"
    assert invitation["isInvitation"] is True
    assert invitation["expired"] is False
    assert len(team) == 3


async def test_team_is_scoped_to_the_callers_account(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    acme = await make_account(ctx)
    other = await make_account(ctx, "Other", "boss@other.org")
    await make_member(ctx, other.account_id, "someone@other.org")

    logins = [
        entry["login"] for entry in (await call(client, "getTeamData", key=acme.api_key)).json()
    ]

    assert logins == ["admin@acme.com"]


async def test_team_needs_credentials(client: httpx.AsyncClient, ctx: AppContext) -> None:
    await make_account(ctx)
    assert (await call(client, "getTeamData")).status_code == 401
    response = await call(client, "getTeamData", key="tg_not-a-key")
    assert response.status_code == 401
    assert error_of(response) == "Unauthorized"


async def test_remove_member_ends_their_access(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "bob@acme.com")

    response = await call(client, "removeUser", {"email": " Bob@ACME.com "}, key=admin.api_key)

    assert response.status_code == 200
    assert response.json() == {
        "email": "bob@acme.com",
        "id": member.user_id,
        "passwordResetToken": None,
        "roleHierarchy": "ADMIN",
        "userRoleHierarchy": ["ADMIN", "MEMBER", "DEVELOPER", "VIEWER"],
        "users": None,
    }
    assert (await call(client, "getTeamData", key=member.api_key)).status_code == 401
    logins = [e["login"] for e in (await call(client, "getTeamData", key=admin.api_key)).json()]
    assert logins == ["admin@acme.com"]


async def test_remove_member_keeps_their_other_accounts(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    acme = await make_account(ctx)
    other = await make_account(ctx, "Other", "boss@other.org")
    await make_member(ctx, acme.account_id, "bob@acme.com")
    bob_elsewhere = await make_member(ctx, other.account_id, "bob@acme.com")

    assert (
        await call(client, "removeUser", {"email": "bob@acme.com"}, key=acme.api_key)
    ).status_code == 200

    assert (await call(client, "getTeamData", key=bob_elsewhere.api_key)).status_code == 200


async def test_remove_pending_invitation(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx)
    await call(
        client,
        "inviteUsers",
        {"inviteeEmail": "new@acme.com", "inviteeRole": "MEMBER"},
        key=admin.api_key,
    )

    response = await call(client, "removeUser", {"email": "new@acme.com"}, key=admin.api_key)

    assert response.status_code == 200
    assert response.json()["id"] == 0
    team = (await call(client, "getTeamData", key=admin.api_key)).json()
    assert [e["login"] for e in team] == ["admin@acme.com"]


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("nobody@acme.com", "User not found"),
        ("admin@acme.com", "You cannot perform this action on yourself"),
        ("not an email", "Invalid email"),
        (None, "Invalid email"),
        (42, "Invalid email"),
    ],
)
async def test_remove_user_refusals_change_nothing(
    client: httpx.AsyncClient, ctx: AppContext, email: object, message: str
) -> None:
    admin = await make_account(ctx)
    await make_member(ctx, admin.account_id, "bob@acme.com")
    before = await snapshot(ctx)

    body = {} if email is None else {"email": email}
    response = await call(client, "removeUser", body, key=admin.api_key)

    assert response.status_code == 400
    assert error_of(response) == message
    assert await snapshot(ctx) == before


async def test_member_of_another_account_is_not_found(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    acme = await make_account(ctx)
    other = await make_account(ctx, "Other", "boss@other.org")
    await make_member(ctx, other.account_id, "eve@other.org")
    before = await snapshot(ctx)

    response = await call(client, "removeUser", {"email": "eve@other.org"}, key=acme.api_key)

    assert response.status_code == 400
    assert error_of(response) == "User not found"
    assert await snapshot(ctx) == before


@pytest.mark.parametrize("role", ["MEMBER", "DEVELOPER", "VIEWER"])
async def test_only_admins_remove(client: httpx.AsyncClient, ctx: AppContext, role: str) -> None:
    admin = await make_account(ctx)
    caller = await make_member(ctx, admin.account_id, "caller@acme.com", role)
    await make_member(ctx, admin.account_id, "target@acme.com", "VIEWER")
    before = await snapshot(ctx)

    response = await call(client, "removeUser", {"email": "target@acme.com"}, key=caller.api_key)

    assert response.status_code == 403
    assert error_of(response) == f"The role '{role}' does not have access."
    assert await snapshot(ctx) == before


async def test_admin_may_remove_another_admin_but_not_the_last(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    second = await make_member(ctx, admin.account_id, "second@acme.com", "ADMIN")

    assert (
        await call(client, "removeUser", {"email": "second@acme.com"}, key=admin.api_key)
    ).status_code == 200
    assert (await call(client, "getTeamData", key=second.api_key)).status_code == 401


async def test_custom_role_with_admin_base_counts_as_admin(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    async with ctx.db.write() as conn:
        await conn.execute(
            insert(custom_roles).values(
                account_id=admin.account_id, name="OWNER", base_role="ADMIN", created_at=now()
            )
        )
    owner = await make_member(ctx, admin.account_id, "owner@acme.com", "OWNER")

    response = await call(client, "removeUser", {"email": "admin@acme.com"}, key=owner.api_key)

    assert response.status_code == 200
    assert response.json()["roleHierarchy"] == "OWNER"
    assert "OWNER" in response.json()["userRoleHierarchy"]
    # Now the OWNER is the last admin: demoting them is refused by the invariant.
    async with ctx.db.read() as conn:
        admins = (
            (
                await conn.execute(
                    select(memberships.c.role).where(memberships.c.account_id == admin.account_id)
                )
            )
            .scalars()
            .all()
        )
    assert admins == ["OWNER"]


async def test_make_admin_changes_role(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "bob@acme.com", "VIEWER")

    response = await call(
        client, "makeAdmin", {"email": "bob@acme.com", "userRole": "ADMIN"}, key=admin.api_key
    )

    assert response.status_code == 200
    team = (await call(client, "getTeamData", key=member.api_key)).json()
    assert {e["login"]: e["role"] for e in team}["bob@acme.com"] == "ADMIN"
    # Promoted on the very next request: Bob may now remove people.
    await make_member(ctx, admin.account_id, "carol@acme.com", "VIEWER")
    assert (
        await call(client, "removeUser", {"email": "carol@acme.com"}, key=member.api_key)
    ).status_code == 200


async def test_make_admin_refusals_change_nothing(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "bob@acme.com", "MEMBER")
    before = await snapshot(ctx)

    BAD_ROLE = "Invalid user role"
    cases = [
        (admin.api_key, {"email": "ghost@acme.com", "userRole": "VIEWER"}, 400, "User not found"),
        (admin.api_key, {"email": "bob@acme.com", "userRole": "OVERLORD"}, 400, BAD_ROLE),
        (admin.api_key, {"email": "bob@acme.com", "userRole": "bad role!"}, 400, BAD_ROLE),
        (admin.api_key, {"email": "bob@acme.com"}, 400, BAD_ROLE),
        (admin.api_key, {"email": "admin@acme.com", "userRole": "VIEWER"}, 400,
         "You cannot perform this action on yourself"),
        (member.api_key, {"email": "admin@acme.com", "userRole": "VIEWER"}, 403,
         "The role 'MEMBER' does not have access."),
    ]  # fmt: skip
    for key, body, status, message in cases:
        response = await call(client, "makeAdmin", body, key=key)
        assert (response.status_code, error_of(response)) == (status, message)
    assert await snapshot(ctx) == before


async def test_last_admin_cannot_be_demoted(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx)
    second = await make_member(ctx, admin.account_id, "second@acme.com", "ADMIN")
    # second demotes the founder; the founder is then the only one who could demote second...
    assert (
        await call(
            client,
            "makeAdmin",
            {"email": "admin@acme.com", "userRole": "MEMBER"},
            key=second.api_key,
        )
    ).status_code == 200
    before = await snapshot(ctx)
    # ...and nobody is left who may demote or remove second: the account keeps its ADMIN.
    response = await call(
        client, "makeAdmin", {"email": "second@acme.com", "userRole": "MEMBER"}, key=admin.api_key
    )
    assert response.status_code == 403
    assert await snapshot(ctx) == before


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("ADMIN", ["ADMIN", "MEMBER", "DEVELOPER", "VIEWER", "AUDITOR"]),
        ("MEMBER", ["MEMBER", "DEVELOPER", "VIEWER", "AUDITOR"]),
        ("DEVELOPER", ["DEVELOPER", "VIEWER", "AUDITOR"]),
        ("VIEWER", ["VIEWER", "AUDITOR"]),
        ("GUEST", ["VIEWER", "AUDITOR"]),
    ],
)
async def test_role_hierarchy(
    client: httpx.AsyncClient, ctx: AppContext, role: str, expected: list[str]
) -> None:
    admin = await make_account(ctx)
    async with ctx.db.write() as conn:
        for name, base in (("AUDITOR", "VIEWER"), ("LEAD", "ADMIN")):
            await conn.execute(
                insert(custom_roles).values(
                    account_id=admin.account_id, name=name, base_role=base, created_at=now()
                )
            )
    canonical = "VIEWER" if role == "GUEST" else role
    caller = (
        admin
        if role == "ADMIN"
        else await make_member(ctx, admin.account_id, "c@acme.com", canonical)
    )
    response = await call(client, "getRoleHierarchy", key=caller.api_key)
    assert response.status_code == 200
    roles = response.json()
    if role == "ADMIN":
        expected = [*expected[:4], "AUDITOR", "LEAD"]
    assert roles == expected


async def test_keys_of_removed_member_are_deleted(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "bob@acme.com")
    await call(client, "removeUser", {"email": "bob@acme.com"}, key=admin.api_key)
    async with ctx.db.read() as conn:
        left = (
            await conn.execute(select(api_keys.c.id).where(api_keys.c.user_id == member.user_id))
        ).all()
    assert left == []
