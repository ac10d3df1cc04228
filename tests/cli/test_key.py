"""`teamgate key create`: an API key for a member, made on the server's shell."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from sqlalchemy import select

from teamgate import inputs
from teamgate.auth.caller import Credential
from teamgate.auth.service import mint_key_for
from teamgate.context import AppContext
from teamgate.errors import Forbidden
from teamgate.models import audit_log
from teamgate.security import token_hash
from tests.conftest import make_account, make_member
from tests.support.api import call, error_of, team_list
from tests.support.cli import history_of, operator, refused
from tests.support.invitations import invite
from tests.support.state import snapshot

NAME_RULE = "must be a string of 1 to 100 characters"


async def _history_text(ctx: AppContext) -> str:
    """Every column of every history row, as one text."""
    async with ctx.db.read() as conn:
        rows = (await conn.execute(select(audit_log))).all()
    return repr([tuple(row) for row in rows])


async def test_key_create_prints_a_key_that_acts_as_the_member(
    ctx: AppContext, client: httpx.AsyncClient
) -> None:
    ada = await make_account(ctx, password=None)
    await make_member(ctx, ada.account_id, "bob@acme.com", "VIEWER", password=None)

    result = await operator(
        ctx, "key", "create", "--account", str(ada.account_id),
        "--email", "Bob@Acme.com", "--name", "deploy bot",
    )  # fmt: skip

    assert result.exit_code == 0, (result.stderr, result.exception)
    key = result.stdout.removesuffix("\n")
    assert re.fullmatch(r"tg_[A-Za-z0-9_-]{20,}", key)  # the key alone
    assert key not in result.stderr
    assert "for bob@acme.com in account" in result.stderr
    assert [e["login"] for e in await team_list(client, key)] == ["admin@acme.com", "bob@acme.com"]
    as_bob = await call(client, "removeUser", {"email": "admin@acme.com"}, key=key)
    assert (as_bob.status_code, error_of(as_bob)) == (
        403,
        "The role 'VIEWER' does not have access.",
    )
    event = (await history_of(client, ada.api_key))[0]
    assert (event["action"], event["actor"], event["target"]) == (
        "api_key.create", "cli", "bob@acme.com",
    )  # fmt: skip
    assert event["details"]["name"] == "deploy bot"
    assert key.startswith(event["details"]["keyPrefix"])
    history = await _history_text(ctx)
    assert key not in history
    assert token_hash(key) not in history


async def test_key_create_json(ctx: AppContext, client: httpx.AsyncClient) -> None:
    ada = await make_account(ctx, password=None)

    result = await operator(
        ctx, "key", "create", "--account", str(ada.account_id), "--email", "admin@acme.com",
        "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("\n") == 1
    created = json.loads(result.stdout)
    assert set(created) == {"accountId", "keyId", "name", "apiKey"}
    assert (created["accountId"], created["name"]) == (ada.account_id, "API key")
    assert (await call(client, "getTeamData", key=created["apiKey"])).status_code == 200
    assert created["apiKey"] not in await _history_text(ctx)


async def test_key_create_only_for_a_member(ctx: AppContext, client: httpx.AsyncClient) -> None:
    ada = await make_account(ctx, password=None)
    other = await make_account(ctx, "Beta", "bea@beta.io", password=None)
    assert (await invite(client, ada.api_key, "eve@acme.com")).status_code == 200
    before = await snapshot(ctx)
    account = str(ada.account_id)

    for args, message in [
        (("--email", "eve@acme.com"), "User not found"),  # invited, not yet a member
        (("--email", other.email), "User not found"),  # a member of another account
        (("--email", "admin@acme.com", "--name", " "), f"--name {NAME_RULE}"),
    ]:
        refused(await operator(ctx, "key", "create", "--account", account, *args), message)
    refused(
        await operator(ctx, "key", "create", "--account", "5", "--email", "admin@acme.com"),
        "Account not found",
    )

    assert await snapshot(ctx) == before


async def test_only_the_operator_mints_keys_for_others(ctx: AppContext) -> None:
    """Through the API, keys are their holder's own: an ADMIN's credential cannot mint one
    for another member (it could then act as them)."""
    ada = await make_account(ctx, password=None)
    await make_member(ctx, ada.account_id, "bob@acme.com", password=None)
    before = await snapshot(ctx)

    with pytest.raises(Forbidden, match=r"^The role 'ADMIN' does not have access\.$"):
        await mint_key_for(
            ctx.db,
            Credential("api_key", token_hash(ada.api_key)),
            inputs.email("bob@acme.com"),
            "stolen",
        )

    assert await snapshot(ctx) == before
