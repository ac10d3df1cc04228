"""A password set through an invite link is unverified: it accepts no other account's invitation.
The passwords an operator sets (the CLI, the setup page) are verified, and do."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from teamgate.accounts.service import create_account, issue_setup_token
from teamgate.context import AppContext
from tests.conftest import Member, make_account
from tests.support.api import answer, call
from tests.support.identity import (
    ATTACKER_PASSWORD,
    FOUNDER,
    NOT_VERIFIED,
    OPERATOR_PASSWORD,
    accept,
    allow_any_domain,
    attacker_sets_the_password,
    create_gamma,
    created,
    invite,
    role_in,
    state,
)
from tests.support.pages import submit
from tests.support.sessions import as_session, session_token, set_cookies

# --- acceptance by an unverified user --------------------------------------------------------


@pytest.mark.parametrize("keep_member", [False, True], ids=["removed-from-acme", "still-in-acme"])
async def test_another_accounts_invitation_cannot_be_accepted_with_an_invite_set_password(
    client: httpx.AsyncClient, ctx: AppContext, keep_member: bool
) -> None:
    await attacker_sets_the_password(client, ctx, keep_member=keep_member)
    beta = await make_account(ctx, name="Beta", admin_email="boss@beta.io")
    await allow_any_domain(client, beta)
    link = await invite(client, beta)
    before = await state(ctx)

    response = await accept(client, link, ATTACKER_PASSWORD)

    assert answer(response) == (400, NOT_VERIFIED), response.text
    assert set_cookies(response) == []
    assert await state(ctx) == before
    team = (await call(client, "getTeamData", key=beta.api_key)).json()
    assert [(e["login"], e.get("isInvitation", False)) for e in team] == [
        ("boss@beta.io", False),
        (FOUNDER, True),
    ]


async def test_the_account_whose_link_set_the_password_can_invite_them_again(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    acme, _ = await attacker_sets_the_password(client, ctx, keep_member=False)

    again = await accept(client, await invite(client, acme, role="VIEWER"), ATTACKER_PASSWORD)

    assert again.status_code == 200, again.text
    assert again.json()["accountId"] == acme.account_id
    assert await role_in(client, acme.api_key) == "VIEWER"
    team = await as_session(client, "getTeamData", token=session_token(again))
    assert team.status_code == 200


# --- users the operator created are verified -------------------------------------------------


async def test_a_founder_created_by_the_cli_accepts_invitations_with_their_password(
    database_url: str, tmp_path: Path, client: httpx.AsyncClient, ctx: AppContext
) -> None:
    gamma = created(
        await create_gamma(database_url, tmp_path, "--admin-password", OPERATOR_PASSWORD)
    )
    acme = await make_account(ctx, name="Acme", admin_email="admin@acme.com")
    await allow_any_domain(client, acme)

    response = await accept(client, await invite(client, acme), OPERATOR_PASSWORD)

    assert response.status_code == 200, response.text
    assert response.json()["userId"] == gamma["userId"]
    assert response.json()["accountId"] == acme.account_id
    assert await role_in(client, acme.api_key) == "MEMBER"


async def test_a_founder_from_the_setup_page_accepts_invitations_with_their_password(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    token = await issue_setup_token(ctx.db)  # what `teamgate serve` prints on a first start
    assert token is not None
    form = {
        "token": token, "accountName": "Gamma", "adminEmail": FOUNDER,
        "adminName": "Founder", "password": OPERATOR_PASSWORD,
    }  # fmt: skip
    done = await submit(client, f"/setup?token={token}", "/setup", form)
    assert done.status_code == 303, done.text
    client.cookies.clear()
    created_acme = await create_account(
        ctx.db, name="Acme", admin_email="admin@acme.com", admin_name="Ada"
    )
    acme = Member(
        created_acme.user_id, "admin@acme.com", created_acme.api_key, created_acme.account_id,
    )  # fmt: skip
    await allow_any_domain(client, acme)

    response = await accept(client, await invite(client, acme), OPERATOR_PASSWORD)

    assert response.status_code == 200, response.text
    assert response.json()["accountId"] == acme.account_id
    assert await role_in(client, acme.api_key) == "MEMBER"
