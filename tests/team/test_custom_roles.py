"""Custom roles: created, changed and deleted by ADMINs, behaving as their base role."""

from __future__ import annotations

import httpx
import pytest

from teamgate.context import AppContext
from tests.conftest import make_account, make_member
from tests.support.api import call, error_of
from tests.support.state import snapshot

BAD_NAME = "Role names can only be alphanumeric and contain '-'and '_'"
NOT_FOUND = "Role does not exist."
TOO_LONG = "Role names cannot be more than 50 characters."


async def test_create_list_and_use_a_custom_role(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)

    created = await call(
        client, "createCustomRole", {"roleName": "qa-lead", "baseRole": "guest"}, key=admin.api_key
    )

    assert created.status_code == 200
    assert created.json()["name"] == "QA-LEAD"
    assert created.json()["baseRole"] == "VIEWER"
    viewer = await make_member(ctx, admin.account_id, "v@acme.com", "VIEWER")
    listed = (await call(client, "getCustomRoles", key=viewer.api_key)).json()["roles"]
    assert [(r["name"], r["baseRole"]) for r in listed] == [("QA-LEAD", "VIEWER")]
    invited = await call(
        client,
        "inviteUsers",
        {"inviteeEmail": "qa@acme.com", "inviteeRole": "QA-LEAD"},
        key=admin.api_key,
    )
    assert invited.json()["inviteeRole"] == "QA-LEAD"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"roleName": "ADMIN", "baseRole": "VIEWER"}, "ADMIN is a reserved keyword."),
        ({"roleName": "guest", "baseRole": "VIEWER"}, "GUEST is a reserved keyword."),
        ({"roleName": "Member", "baseRole": "VIEWER"}, "MEMBER is a reserved keyword."),
        ({"roleName": "bad name", "baseRole": "VIEWER"}, BAD_NAME),
        ({"roleName": "caf\u00e9", "baseRole": "VIEWER"}, BAD_NAME),
        ({"roleName": "X" * 51, "baseRole": "VIEWER"}, TOO_LONG),
        ({"roleName": "", "baseRole": "VIEWER"}, "Role names cannot be empty."),
        ({"roleName": "  ", "baseRole": "VIEWER"}, "Role names cannot be empty."),
        ({"baseRole": "VIEWER"}, "Role names cannot be empty."),
        ({"roleName": 7, "baseRole": "VIEWER"}, "Role names cannot be empty."),
        ({"roleName": "OPS", "baseRole": "ROOT"}, "Base role does not exist"),
        ({"roleName": "OPS"}, "Base role does not exist"),
        ({"roleName": "AUDITOR", "baseRole": "ADMIN"}, "Existing role with same name exists."),
        ({"roleName": "auditor", "baseRole": "ROOT"}, "Existing role with same name exists."),
    ],
)  # fmt: skip
async def test_create_refusals_change_nothing(
    client: httpx.AsyncClient, ctx: AppContext, body: dict[str, object], message: str
) -> None:
    admin = await make_account(ctx)
    assert (
        await call(
            client,
            "createCustomRole",
            {"roleName": "AUDITOR", "baseRole": "VIEWER"},
            key=admin.api_key,
        )
    ).status_code == 200
    before = await snapshot(ctx)
    roles_before = (await call(client, "getCustomRoles", key=admin.api_key)).json()

    response = await call(client, "createCustomRole", body, key=admin.api_key)

    assert (response.status_code, error_of(response)) == (400, message)
    assert await snapshot(ctx) == before
    assert (await call(client, "getCustomRoles", key=admin.api_key)).json() == roles_before


@pytest.mark.parametrize("endpoint", ["createCustomRole", "updateCustomRole", "deleteCustomRole"])
async def test_only_admins_change_roles(
    client: httpx.AsyncClient, ctx: AppContext, endpoint: str
) -> None:
    admin = await make_account(ctx)
    await call(
        client, "createCustomRole", {"roleName": "OPS", "baseRole": "VIEWER"}, key=admin.api_key
    )
    member = await make_member(ctx, admin.account_id, "m@acme.com", "MEMBER")
    roles_before = (await call(client, "getCustomRoles", key=admin.api_key)).json()

    response = await call(
        client, endpoint, {"roleName": "OPS", "baseRole": "ADMIN"}, key=member.api_key
    )

    assert (response.status_code, error_of(response)) == (
        403,
        "The role 'MEMBER' does not have access.",
    )
    assert (await call(client, "getCustomRoles", key=admin.api_key)).json() == roles_before


async def test_changing_the_base_role_changes_what_holders_may_do(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    await call(
        client, "createCustomRole", {"roleName": "OPS", "baseRole": "VIEWER"}, key=admin.api_key
    )
    ops = await make_member(ctx, admin.account_id, "ops@acme.com", "OPS")
    invite = {"inviteeEmail": "new@acme.com", "inviteeRole": "VIEWER"}
    assert (await call(client, "inviteUsers", invite, key=ops.api_key)).status_code == 403

    updated = await call(
        client, "updateCustomRole", {"roleName": "OPS", "baseRole": "MEMBER"}, key=admin.api_key
    )

    assert updated.status_code == 200
    assert (await call(client, "inviteUsers", invite, key=ops.api_key)).status_code == 200


async def test_the_last_admin_cannot_be_demoted_through_their_role(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    await call(
        client, "createCustomRole", {"roleName": "OWNER", "baseRole": "ADMIN"}, key=admin.api_key
    )
    owner = await make_member(ctx, admin.account_id, "owner@acme.com", "OWNER")
    assert (
        await call(client, "removeUser", {"email": admin.email}, key=owner.api_key)
    ).status_code == 200
    before = await snapshot(ctx)

    response = await call(
        client, "updateCustomRole", {"roleName": "OWNER", "baseRole": "VIEWER"}, key=owner.api_key
    )

    assert (response.status_code, error_of(response)) == (
        400,
        "An account must keep at least one ADMIN",
    )
    assert await snapshot(ctx) == before
    roles = (await call(client, "getCustomRoles", key=owner.api_key)).json()["roles"]
    assert roles[0]["baseRole"] == "ADMIN"


async def test_a_role_in_use_cannot_be_deleted(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx)
    for name in ("HELD", "INVITED", "FREE"):
        await call(
            client, "createCustomRole", {"roleName": name, "baseRole": "VIEWER"}, key=admin.api_key
        )
    await make_member(ctx, admin.account_id, "h@acme.com", "HELD")
    await call(
        client,
        "inviteUsers",
        {"inviteeEmail": "i@acme.com", "inviteeRole": "INVITED"},
        key=admin.api_key,
    )

    before = await snapshot(ctx)
    for name, message in (
        ("HELD", "Role is associated with users. Cannot delete."),
        ("INVITED", "Role is associated with pending invites. Cannot delete."),
        ("NOPE", NOT_FOUND),
        ("ADMIN", NOT_FOUND),
        ("bad name", NOT_FOUND),
    ):
        refused = await call(client, "deleteCustomRole", {"roleName": name}, key=admin.api_key)
        assert (refused.status_code, error_of(refused)) == (400, message)
    assert await snapshot(ctx) == before
    assert (
        await call(client, "deleteCustomRole", {"roleName": "FREE"}, key=admin.api_key)
    ).status_code == 200

    names = [
        r["name"] for r in (await call(client, "getCustomRoles", key=admin.api_key)).json()["roles"]
    ]
    assert names == ["HELD", "INVITED"]


async def test_roles_are_scoped_to_their_account(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    acme = await make_account(ctx)
    other = await make_account(ctx, "Other", "boss@other.org")
    await call(
        client, "createCustomRole", {"roleName": "SECRET", "baseRole": "ADMIN"}, key=other.api_key
    )

    assert (await call(client, "getCustomRoles", key=acme.api_key)).json() == {"roles": []}
    response = await call(
        client, "updateCustomRole", {"roleName": "SECRET", "baseRole": "VIEWER"}, key=acme.api_key
    )
    assert (response.status_code, error_of(response)) == (400, NOT_FOUND)
    invite = {"inviteeEmail": "x@acme.com", "inviteeRole": "SECRET"}
    assert error_of(await call(client, "inviteUsers", invite, key=acme.api_key)) == "Invalid role"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"roleName": "GHOST", "baseRole": "VIEWER"}, NOT_FOUND),
        ({"roleName": "", "baseRole": "VIEWER"}, "Role names cannot be empty."),
        ({"roleName": "viewer", "baseRole": "VIEWER"}, "VIEWER is a reserved keyword."),
        ({"roleName": "AUDITOR", "baseRole": "ROOT"}, "Base role does not exist"),
        ({"roleName": "auditor"}, "Base role does not exist"),
    ],
)  # fmt: skip
async def test_update_refusals_change_nothing(
    client: httpx.AsyncClient, ctx: AppContext, body: dict[str, object], message: str
) -> None:
    admin = await make_account(ctx)
    await call(
        client, "createCustomRole", {"roleName": "AUDITOR", "baseRole": "VIEWER"}, key=admin.api_key
    )
    before = await snapshot(ctx)

    response = await call(client, "updateCustomRole", body, key=admin.api_key)

    assert (response.status_code, error_of(response)) == (400, message)
    assert await snapshot(ctx) == before
