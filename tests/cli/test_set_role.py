"""`teamgate set-role`: a member's role, changed as makeAdmin changes it."""

from __future__ import annotations

import httpx

from teamgate.context import AppContext
from tests.conftest import make_account, make_member
from tests.support.api import team_list
from tests.support.cli import history_of, operator, refused
from tests.support.invitations import invite
from tests.support.state import snapshot


async def test_set_role_changes_the_role_and_records_it_as_cli(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    ada = await make_account(ctx, password=None)
    await make_member(ctx, ada.account_id, "bob@acme.com", "MEMBER", password=None)
    account = str(ada.account_id)

    promoted = await operator(
        ctx, "set-role", "--account", account, "--email", "bob@acme.com", "--role", "admin"
    )
    demoted = await operator(
        ctx, "set-role", "--account", account, "--email", "admin@acme.com", "--role", "GUEST"
    )

    assert promoted.exit_code == 0, (promoted.stderr, promoted.exception)
    assert promoted.stderr == "bob@acme.com is now ADMIN.\n"
    assert demoted.exit_code == 0, demoted.stderr
    assert demoted.stderr == "admin@acme.com is now VIEWER.\n"
    team = await team_list(client, ada.api_key)
    assert [(e["login"], e["role"]) for e in team] == [
        ("admin@acme.com", "VIEWER"), ("bob@acme.com", "ADMIN"),
    ]  # fmt: skip
    cy = await make_member(ctx, ada.account_id, "cy@acme.com", "ADMIN", password=None)
    events = await history_of(client, cy.api_key, action="member.role_change")
    changes = [(e["actor"], e["target"], e["details"]["roleBefore"], e["details"]["roleAfter"])
               for e in events]  # fmt: skip
    assert changes == [
        ("cli", "admin@acme.com", "ADMIN", "VIEWER"),
        ("cli", "bob@acme.com", "MEMBER", "ADMIN"),
    ]


async def test_set_role_refusals_change_nothing(ctx: AppContext, client: httpx.AsyncClient) -> None:
    ada = await make_account(ctx, password=None)
    await make_member(ctx, ada.account_id, "bob@acme.com", "MEMBER", password=None)
    assert (await invite(client, ada.api_key, "eve@acme.com")).status_code == 200
    before = await snapshot(ctx)
    history = await history_of(client, ada.api_key)
    account = str(ada.account_id)

    for email, role, message in [
        ("admin@acme.com", "MEMBER", "An account must keep at least one ADMIN"),
        ("eve@acme.com", "MEMBER", "User not found"),  # invited, not a member
        ("bob@acme.com", "OWNER", "Invalid user role"),
    ]:
        result = await operator(
            ctx, "set-role", "--account", account, "--email", email, "--role", role
        )
        refused(result, message)
    unknown = await operator(
        ctx, "set-role", "--account", "0", "--email", "bob@acme.com", "--role", "VIEWER"
    )
    refused(unknown, "Account not found")

    assert await snapshot(ctx) == before
    assert await history_of(client, ada.api_key) == history
