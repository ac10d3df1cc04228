"""`teamgate remove`: a member or a pending invitation, as removeUser removes them."""

from __future__ import annotations

import httpx

from teamgate.context import AppContext
from tests.conftest import make_account, make_member
from tests.support.api import call, error_of, team_list
from tests.support.cli import history_of, operator, refused
from tests.support.invitations import invite
from tests.support.state import snapshot


async def test_remove_a_member_ends_their_keys_at_once(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    ada = await make_account(ctx, password=None)
    bob = await make_member(ctx, ada.account_id, "bob@acme.com", "ADMIN", password=None)
    assert (await call(client, "getTeamData", key=bob.api_key)).status_code == 200

    result = await operator(
        ctx, "remove", "--account", str(ada.account_id), "--email", "BOB@acme.com"
    )

    assert result.exit_code == 0, (result.stderr, result.exception)
    assert result.stderr == "Removed the member bob@acme.com.\n"
    assert result.stdout == ""
    assert [e["login"] for e in await team_list(client, ada.api_key)] == ["admin@acme.com"]
    gone = await call(client, "getTeamData", key=bob.api_key)
    assert (gone.status_code, error_of(gone)) == (401, "Unauthorized")
    event = (await history_of(client, ada.api_key))[0]
    assert (event["action"], event["actor"], event["target"]) == (
        "member.remove", "cli", "bob@acme.com",
    )  # fmt: skip
    assert event["details"]["roleBefore"] == "ADMIN"


async def test_remove_a_pending_invitation(ctx: AppContext, client: httpx.AsyncClient) -> None:
    ada = await make_account(ctx, password=None)
    assert (await invite(client, ada.api_key, "eve@acme.com")).status_code == 200

    result = await operator(
        ctx, "remove", "--account", str(ada.account_id), "--email", "eve@acme.com"
    )

    assert result.exit_code == 0, result.stderr
    assert result.stderr == "Removed the pending invitation eve@acme.com.\n"
    assert len(await team_list(client, ada.api_key)) == 1
    event = (await history_of(client, ada.api_key))[0]
    assert (event["action"], event["actor"], event["target"]) == (
        "invitation.revoke", "cli", "eve@acme.com",
    )  # fmt: skip


async def test_remove_refusals_change_nothing(ctx: AppContext, client: httpx.AsyncClient) -> None:
    ada = await make_account(ctx, password=None)
    other = await make_account(ctx, "Beta", "bea@beta.io", password=None)
    await make_member(ctx, other.account_id, "bob@acme.com", password=None)
    before = await snapshot(ctx)
    history = await history_of(client, ada.api_key)
    account = str(ada.account_id)

    for args, message in [
        (("--email", "bob@acme.com"), "User not found"),  # a member of another account only
        (("--email", "admin@acme.com"), "An account must keep at least one ADMIN"),
        (("--email", "not an email"), "Invalid email"),
    ]:
        refused(await operator(ctx, "remove", "--account", account, *args), message)
    refused(
        await operator(ctx, "remove", "--account", "77", "--email", "bob@acme.com"),
        "Account not found",
    )

    assert await snapshot(ctx) == before
    assert await history_of(client, ada.api_key) == history
