"""`teamgate account create` and users who exist already.

It never silently reuses an existing user: it refuses unless told `--existing-user`, and then
either replaces the password (`--admin-password`) or leaves an unverified one (set through
another account's invite link) unable to reach the new account.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from teamgate.accounts.service import create_account
from teamgate.context import AppContext
from tests.conftest import make_account
from tests.support.api import answer
from tests.support.identity import (
    ATTACKER_PASSWORD,
    BAD_LOGIN,
    FOUNDER,
    OPERATOR_PASSWORD,
    attacker_sets_the_password,
    create_gamma,
    created,
    role_in,
    state,
)
from tests.support.sessions import as_session, login, session_token, set_cookies


def mentions_existing_user_flag(stderr: str) -> bool:
    return "--existing-user" in re.sub(r"\s+", "", stderr)  # the console may wrap the line


# --- the takeover, as it happens -------------------------------------------------------------


async def test_an_admin_cannot_take_over_another_companys_founder_through_an_invite_link(
    database_url: str, tmp_path: Path, client: httpx.AsyncClient, ctx: AppContext
) -> None:
    # Acme's admin lets any domain in, invites founder@gamma.io, accepts the link with a
    # password of their own, and removes the member again: only the user row is left.
    await attacker_sets_the_password(client, ctx, keep_member=False)
    before = await state(ctx)

    # Later the operator creates Gamma for its founder, with the founder's own password.
    refused = await create_gamma(database_url, tmp_path, "--admin-password", OPERATOR_PASSWORD)
    attacker = await login(client, FOUNDER, ATTACKER_PASSWORD)

    # The existing user is not silently reused, and the attacker's password leads nowhere.
    assert refused.exit_code == 2, (
        f"`account create` reused the existing user (exit {refused.exit_code}); the "
        f"attacker's password then logs in: {attacker.status_code} {attacker.text}"
    )
    assert mentions_existing_user_flag(refused.stderr), refused.stderr
    assert refused.stdout == ""
    assert await state(ctx) == before
    assert answer(attacker) == (401, BAD_LOGIN), attacker.text

    # The operator confirms the existing user and sets the founder's password.
    gamma = created(
        await create_gamma(
            database_url, tmp_path, "--existing-user", "--admin-password", OPERATOR_PASSWORD
        )
    )
    assert await role_in(client, gamma["apiKey"]) == "ADMIN"

    attacker = await login(client, FOUNDER, ATTACKER_PASSWORD)
    assert answer(attacker) == (401, BAD_LOGIN), attacker.text
    founder = await login(client, FOUNDER, OPERATOR_PASSWORD)
    assert founder.status_code == 200, founder.text
    assert founder.json()["accountId"] == gamma["accountId"]
    team = await as_session(client, "getTeamData", token=session_token(founder))
    assert [e["role"] for e in team.json() if e["login"] == FOUNDER] == ["ADMIN"]


# --- account create and existing users -------------------------------------------------------


@pytest.mark.parametrize(
    "options", [["--admin-password", OPERATOR_PASSWORD], []], ids=["with-password", "no-password"]
)
async def test_account_create_refuses_an_existing_user_unless_told_so(
    database_url: str,
    tmp_path: Path,
    client: httpx.AsyncClient,
    ctx: AppContext,
    options: list[str],
) -> None:
    # An operator-made founder of another account: a verified user, refused just the same.
    await make_account(ctx, name="Beta", admin_email=FOUNDER, password=OPERATOR_PASSWORD)
    before = await state(ctx)

    result = await create_gamma(database_url, tmp_path, *options)

    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert mentions_existing_user_flag(result.stderr), result.stderr
    assert result.stdout == ""
    assert await state(ctx) == before


async def test_existing_user_with_a_new_password_becomes_admin_and_only_that_password_works(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await attacker_sets_the_password(client, ctx, keep_member=False)

    gamma = await create_account(
        ctx.db, name="Gamma", admin_email=FOUNDER, existing_user=True,
        admin_password=OPERATOR_PASSWORD,
    )  # fmt: skip

    assert await role_in(client, gamma.api_key) == "ADMIN"
    attacker = await login(client, FOUNDER, ATTACKER_PASSWORD)
    assert answer(attacker) == (401, BAD_LOGIN), attacker.text
    founder = await login(client, FOUNDER, OPERATOR_PASSWORD)
    assert founder.status_code == 200, founder.text
    assert founder.json()["accountId"] == gamma.account_id


async def test_a_new_password_from_the_operator_ends_every_session_of_the_user(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    acme, from_acceptance = await attacker_sets_the_password(client, ctx, keep_member=True)
    attacker = await login(client, FOUNDER, ATTACKER_PASSWORD)
    assert attacker.json()["accountId"] == acme.account_id
    sessions = [from_acceptance, session_token(attacker)]
    for token in sessions:
        assert (await as_session(client, "getTeamData", token=token)).status_code == 200

    gamma = await create_account(
        ctx.db, name="Gamma", admin_email=FOUNDER, existing_user=True,
        admin_password=OPERATOR_PASSWORD,
    )  # fmt: skip

    for token in sessions:
        ended = await as_session(client, "getTeamData", token=token)
        assert answer(ended) == (401, "Unauthorized"), ended.text
    attacker = await login(client, FOUNDER, ATTACKER_PASSWORD)
    assert answer(attacker) == (401, BAD_LOGIN), attacker.text
    founder = await login(client, FOUNDER, OPERATOR_PASSWORD)
    assert founder.status_code == 200, founder.text
    token = session_token(founder)
    if founder.json()["accountId"] != gamma.account_id:
        switched = await as_session(
            client, "goToAccount", {"newAccountId": gamma.account_id}, token=token
        )
        assert switched.status_code == 200, switched.text
        token = session_token(switched)
    team = await as_session(client, "getTeamData", token=token)
    assert [e["role"] for e in team.json() if e["login"] == FOUNDER] == ["ADMIN"]


async def test_existing_user_without_a_password_cannot_log_in_to_the_new_account_with_an_invite_set_password(  # noqa: E501
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await attacker_sets_the_password(client, ctx, keep_member=False)

    gamma = await create_account(ctx.db, name="Gamma", admin_email=FOUNDER, existing_user=True)

    assert await role_in(client, gamma.api_key) == "ADMIN"
    attacker = await login(client, FOUNDER, ATTACKER_PASSWORD)
    assert answer(attacker) == (401, BAD_LOGIN), attacker.text
    assert set_cookies(attacker) == []


async def test_existing_user_without_a_password_cannot_switch_to_the_new_account_with_an_invite_set_password(  # noqa: E501
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    acme, _ = await attacker_sets_the_password(client, ctx, keep_member=True)

    gamma = await create_account(ctx.db, name="Gamma", admin_email=FOUNDER, existing_user=True)

    assert await role_in(client, gamma.api_key) == "ADMIN"
    attacker = await login(client, FOUNDER, ATTACKER_PASSWORD)
    assert attacker.status_code == 200, attacker.text
    assert attacker.json()["accountId"] == acme.account_id  # the account whose link set it
    before = await state(ctx)
    switched = await as_session(
        client, "goToAccount", {"newAccountId": gamma.account_id}, token=session_token(attacker)
    )
    assert answer(switched) == (400, "Account not found"), switched.text
    assert set_cookies(switched) == []
    assert await state(ctx) == before
