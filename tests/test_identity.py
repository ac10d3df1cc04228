"""Whose password is it? Credentials set through an invite link, and the CLI's existing users.

An invite link is returned to its inviter, so accepting one proves nothing about the email
address: a password set through a link is *unverified* and reaches no account but the one whose
link set it. `teamgate account create` never silently reuses an existing user: it refuses
unless told `--existing-user`, and then either replaces the password (`--admin-password`) or
leaves an unverified one unable to reach the new account.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from teamgate.accounts.service import create_account
from teamgate.context import AppContext
from teamgate.db import Database
from teamgate.models import account_email_domains, accounts
from tests.conftest import Member, make_account
from tests.support.api import answer, call
from tests.support.cli import teamgate_process
from tests.support.servers import free_port
from tests.support.sessions import as_session, login, session_token, set_cookies
from tests.support.state import snapshot

FOUNDER = "founder@gamma.io"
ATTACKER_PASSWORD = "the attacker's own choice"
OPERATOR_PASSWORD = "the founder's real password"
BAD_LOGIN = "Invalid email or password"
NOT_VERIFIED = (
    "This email address is not verified yet: its password was set through another "
    "account's invitation"
)


# --- helpers -----------------------------------------------------------------------------------


async def allow_any_domain(client: httpx.AsyncClient, admin: Member) -> None:
    response = await call(
        client, "updateAccountSettings", {"allowedEmailDomains": []}, key=admin.api_key
    )
    assert response.status_code == 200, response.text


async def invite(
    client: httpx.AsyncClient, admin: Member, email: str = FOUNDER, role: str = "MEMBER"
) -> str:
    response = await call(
        client, "inviteUsers", {"inviteeEmail": email, "inviteeRole": role}, key=admin.api_key
    )
    assert response.status_code == 200, response.text
    link: str = response.json()["finalInviteCode"]
    return link


async def accept(client: httpx.AsyncClient, link: str, password: str) -> httpx.Response:
    response = await client.post(
        "/api/acceptInvite", json={"inviteCode": link, "name": "Founder", "password": password}
    )
    client.cookies.clear()  # every session call names its cookie explicitly
    return response


async def attacker_sets_the_password(
    client: httpx.AsyncClient, ctx: AppContext, *, keep_member: bool
) -> tuple[Member, str]:
    """Acme's admin invites the founder-to-be of another company, accepts the link with a
    password of their own choosing and (unless ``keep_member``) removes the member again.
    Returns Acme's admin and the session the acceptance started."""
    acme = await make_account(ctx, name="Acme", admin_email="admin@acme.com")
    await allow_any_domain(client, acme)
    accepted = await accept(client, await invite(client, acme), ATTACKER_PASSWORD)
    assert accepted.status_code == 200, accepted.text
    token = session_token(accepted)
    if not keep_member:
        removed = await call(client, "removeUser", {"email": FOUNDER}, key=acme.api_key)
        assert removed.status_code == 200, removed.text
    return acme, token


def create_gamma(
    database_url: str, tmp_path: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    """The operator runs `teamgate account create` for the founder of Gamma."""
    return teamgate_process(
        database_url, tmp_path, "account", "create", "--name", "Gamma",
        "--admin-email", FOUNDER, *options, "--json",
    )  # fmt: skip


def created(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    printed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return printed


async def state(ctx: AppContext) -> dict[str, list[tuple[Any, ...]]]:
    """Every table a refused `account create` could have written to."""
    tables = await snapshot(ctx)
    async with ctx.db.read() as conn:
        for name, table in (("accounts", accounts), ("domains", account_email_domains)):
            tables[name] = sorted(tuple(row) for row in await conn.execute(select(table)))
    return tables


def mentions_existing_user_flag(stderr: str) -> bool:
    return "--existing-user" in re.sub(r"\s+", "", stderr)  # the console may wrap the line


async def role_in(client: httpx.AsyncClient, key: str, email: str = FOUNDER) -> str | None:
    team = await call(client, "getTeamData", key=key)
    assert team.status_code == 200, team.text
    roles = [e["role"] for e in team.json() if e["login"] == email and not e.get("isInvitation")]
    return roles[0] if roles else None


# --- the takeover, as it happens ---------------------------------------------------------------


async def test_an_admin_cannot_take_over_another_companys_founder_through_an_invite_link(
    database_url: str, tmp_path: Path, client: httpx.AsyncClient, ctx: AppContext
) -> None:
    # Acme's admin lets any domain in, invites founder@gamma.io, accepts the link with a
    # password of their own, and removes the member again: only the user row is left.
    await attacker_sets_the_password(client, ctx, keep_member=False)
    before = await state(ctx)

    # Later the operator creates Gamma for its founder, with the founder's own password.
    refused = create_gamma(database_url, tmp_path, "--admin-password", OPERATOR_PASSWORD)
    attacker = await login(client, FOUNDER, ATTACKER_PASSWORD)

    # The existing user is not silently reused, and the attacker's password leads nowhere.
    assert refused.returncode == 2, (
        f"`account create` reused the existing user (exit {refused.returncode}); the "
        f"attacker's password then logs in: {attacker.status_code} {attacker.text}"
    )
    assert mentions_existing_user_flag(refused.stderr), refused.stderr
    assert refused.stdout == ""
    assert await state(ctx) == before
    assert answer(attacker) == (401, BAD_LOGIN), attacker.text

    # The operator confirms the existing user and sets the founder's password.
    gamma = created(
        create_gamma(
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


# --- account create and existing users ---------------------------------------------------------


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

    result = create_gamma(database_url, tmp_path, *options)

    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert mentions_existing_user_flag(result.stderr), result.stderr
    assert result.stdout == ""
    assert await state(ctx) == before


async def test_existing_user_with_a_new_password_becomes_admin_and_only_that_password_works(
    database_url: str, tmp_path: Path, client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await attacker_sets_the_password(client, ctx, keep_member=False)

    gamma = created(
        create_gamma(
            database_url, tmp_path, "--existing-user", "--admin-password", OPERATOR_PASSWORD
        )
    )

    assert await role_in(client, gamma["apiKey"]) == "ADMIN"
    attacker = await login(client, FOUNDER, ATTACKER_PASSWORD)
    assert answer(attacker) == (401, BAD_LOGIN), attacker.text
    founder = await login(client, FOUNDER, OPERATOR_PASSWORD)
    assert founder.status_code == 200, founder.text
    assert founder.json()["accountId"] == gamma["accountId"]


async def test_a_new_password_from_the_operator_ends_every_session_of_the_user(
    database_url: str, tmp_path: Path, client: httpx.AsyncClient, ctx: AppContext
) -> None:
    acme, from_acceptance = await attacker_sets_the_password(client, ctx, keep_member=True)
    attacker = await login(client, FOUNDER, ATTACKER_PASSWORD)
    assert attacker.json()["accountId"] == acme.account_id
    sessions = [from_acceptance, session_token(attacker)]
    for token in sessions:
        assert (await as_session(client, "getTeamData", token=token)).status_code == 200

    gamma = created(
        create_gamma(
            database_url, tmp_path, "--existing-user", "--admin-password", OPERATOR_PASSWORD
        )
    )

    for token in sessions:
        ended = await as_session(client, "getTeamData", token=token)
        assert answer(ended) == (401, "Unauthorized"), ended.text
    attacker = await login(client, FOUNDER, ATTACKER_PASSWORD)
    assert answer(attacker) == (401, BAD_LOGIN), attacker.text
    founder = await login(client, FOUNDER, OPERATOR_PASSWORD)
    assert founder.status_code == 200, founder.text
    token = session_token(founder)
    if founder.json()["accountId"] != gamma["accountId"]:
        switched = await as_session(
            client, "goToAccount", {"newAccountId": gamma["accountId"]}, token=token
        )
        assert switched.status_code == 200, switched.text
        token = session_token(switched)
    team = await as_session(client, "getTeamData", token=token)
    assert [e["role"] for e in team.json() if e["login"] == FOUNDER] == ["ADMIN"]


async def test_existing_user_without_a_password_cannot_log_in_to_the_new_account_with_an_invite_set_password(  # noqa: E501
    database_url: str, tmp_path: Path, client: httpx.AsyncClient, ctx: AppContext
) -> None:
    await attacker_sets_the_password(client, ctx, keep_member=False)

    gamma = created(create_gamma(database_url, tmp_path, "--existing-user"))

    assert await role_in(client, gamma["apiKey"]) == "ADMIN"
    attacker = await login(client, FOUNDER, ATTACKER_PASSWORD)
    assert answer(attacker) == (401, BAD_LOGIN), attacker.text
    assert set_cookies(attacker) == []


async def test_existing_user_without_a_password_cannot_switch_to_the_new_account_with_an_invite_set_password(  # noqa: E501
    database_url: str, tmp_path: Path, client: httpx.AsyncClient, ctx: AppContext
) -> None:
    acme, _ = await attacker_sets_the_password(client, ctx, keep_member=True)

    gamma = created(create_gamma(database_url, tmp_path, "--existing-user"))

    assert await role_in(client, gamma["apiKey"]) == "ADMIN"
    attacker = await login(client, FOUNDER, ATTACKER_PASSWORD)
    assert attacker.status_code == 200, attacker.text
    assert attacker.json()["accountId"] == acme.account_id  # the account whose link set it
    before = await state(ctx)
    switched = await as_session(
        client, "goToAccount", {"newAccountId": gamma["accountId"]}, token=session_token(attacker)
    )
    assert answer(switched) == (400, "Account not found"), switched.text
    assert set_cookies(switched) == []
    assert await state(ctx) == before


# --- acceptance by an unverified user ----------------------------------------------------------


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


# --- users the operator created are verified ---------------------------------------------------


async def test_a_founder_created_by_the_cli_accepts_invitations_with_their_password(
    database_url: str, tmp_path: Path, client: httpx.AsyncClient, ctx: AppContext
) -> None:
    gamma = created(create_gamma(database_url, tmp_path, "--admin-password", OPERATOR_PASSWORD))
    acme = await make_account(ctx, name="Acme", admin_email="admin@acme.com")
    await allow_any_domain(client, acme)

    response = await accept(client, await invite(client, acme), OPERATOR_PASSWORD)

    assert response.status_code == 200, response.text
    assert response.json()["userId"] == gamma["userId"]
    assert response.json()["accountId"] == acme.account_id
    assert await role_in(client, acme.api_key) == "MEMBER"


def serve_first_run(database_url: str, data_dir: Path) -> tuple[subprocess.Popen[str], str, str]:
    """`teamgate serve` on a database without accounts: (the process, its origin, the one-time
    setup token it printed), once it answers."""
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    env = {
        **os.environ, "TEAMGATE_DATABASE_URL": database_url,
        "TEAMGATE_DATA_DIR": str(data_dir), "TEAMGATE_PUBLIC_URL": origin,
    }  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "teamgate", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    token = None
    deadline = time.monotonic() + 30
    while token is None and time.monotonic() < deadline:
        match = re.search(r"/setup\?token=(\S+)", proc.stdout.readline())
        token = match.group(1) if match else None
    assert token is not None, "serve printed no setup link"
    while True:
        try:
            if httpx.get(f"{origin}/healthz", timeout=1).status_code == 200:
                return proc, origin, token
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.1)


@pytest.mark.processes
async def test_a_founder_from_the_setup_page_accepts_invitations_with_their_password(
    database_url: str, tmp_path: Path
) -> None:
    proc, origin, token = serve_first_run(database_url, tmp_path)
    db = Database(database_url)
    try:
        async with httpx.AsyncClient(base_url=origin, timeout=30) as http:
            form = {
                "token": token, "accountName": "Gamma", "adminEmail": FOUNDER,
                "adminName": "Founder", "password": OPERATOR_PASSWORD,
            }  # fmt: skip
            done = await http.post("/setup", data=form)
            assert done.status_code == 200, done.text
            created_acme = await create_account(
                db, name="Acme", admin_email="admin@acme.com", admin_name="Ada"
            )
            acme = Member(
                created_acme.user_id, "admin@acme.com", created_acme.api_key,
                created_acme.account_id,
            )  # fmt: skip
            await allow_any_domain(http, acme)

            response = await accept(http, await invite(http, acme), OPERATOR_PASSWORD)

            assert response.status_code == 200, response.text
            assert response.json()["accountId"] == acme.account_id
            assert await role_in(http, acme.api_key) == "MEMBER"
    finally:
        await db.dispose()
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
