"""Acceptances racing each other, or the invitation's replacement and revocation, on two server
processes sharing one database: a code is used once, and the server never fails."""

from __future__ import annotations

import contextlib
import functools

import httpx
import pytest
from sqlalchemy import func, select

from teamgate.accounts.service import create_account
from teamgate.db import Database, now
from teamgate.models import invitations, memberships, users
from tests.conftest import password_hash_of
from tests.support import PASSWORD
from tests.support.races import gated_writes, race

pytestmark = pytest.mark.processes


async def test_ten_concurrent_acceptances_use_the_code_once(
    servers: tuple[str, list[str]], db: Database
) -> None:
    _, origins = servers
    created = await create_account(
        db, name="Accept race", admin_email="boss@accept.com", admin_name="Boss"
    )
    async with httpx.AsyncClient(timeout=30) as http:
        invited = await http.post(
            f"{origins[0]}/api/inviteUsers",
            json={"inviteeEmail": "new@accept.com", "inviteeRole": "MEMBER"},
            headers={"X-API-KEY": created.api_key},
        )
        assert invited.status_code == 200
        code = invited.json()["finalInviteCode"]
        acceptances = [
            functools.partial(
                http.post,
                f"{origins[i % 2]}/api/acceptInvite",
                json={"inviteCode": code, "name": "New", "password": PASSWORD},
            )
            for i in range(10)
        ]
        # The first is held inside its transaction until the nine others wait for it.
        async with gated_writes(servers[0], db, ("memberships", "INSERT")):
            answers = await race(servers[0], db, acceptances[0], *acceptances[1:])
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [400] * 9, [a.text for a in answers]
    assert {a.json()["error"] for a in answers if a.status_code == 400} == {
        "Ask admin to invite you"
    }
    async with db.read() as conn:
        members = (
            await conn.execute(
                select(func.count())
                .select_from(memberships.join(users, users.c.id == memberships.c.user_id))
                .where(users.c.email == "new@accept.com")
            )
        ).scalar_one()
        pending = (
            await conn.execute(select(func.count()).where(invitations.c.email == "new@accept.com"))
        ).scalar_one()
    assert (members, pending) == (1, 0)


async def test_existing_user_accepting_concurrently_joins_once(
    servers: tuple[str, list[str]], db: Database
) -> None:
    _, origins = servers
    created = await create_account(
        db, name="Existing race", admin_email="boss@exist.com", admin_name="Boss"
    )
    async with db.write() as conn:
        await conn.execute(
            users.insert().values(
                email="old@exist.com",
                name="Old",
                password_hash=await password_hash_of(PASSWORD),
                created_at=now(),
            )
        )
    async with httpx.AsyncClient(timeout=30) as http:
        invited = await http.post(
            f"{origins[1]}/api/inviteUsers",
            json={"inviteeEmail": "old@exist.com", "inviteeRole": "VIEWER"},
            headers={"X-API-KEY": created.api_key},
        )
        code = invited.json()["finalInviteCode"]
        acceptances = [
            functools.partial(
                http.post,
                f"{origins[i % 2]}/api/acceptInvite",
                json={"inviteCode": code, "password": PASSWORD},
            )
            for i in range(10)
        ]
        async with gated_writes(servers[0], db, ("memberships", "INSERT")):
            answers = await race(servers[0], db, acceptances[0], *acceptances[1:])
    assert sorted(a.status_code for a in answers) == [200] + [400] * 9


async def test_accepting_while_the_invitation_is_replaced_or_revoked_never_fails_the_server(
    servers: tuple[str, list[str]], db: Database
) -> None:
    """Acceptance deletes the invitation, then inserts rows that reference the account; the
    rivals lock the account, then touch the invitation. On PostgreSQL the acceptance is held
    at its membership insert until the rival waits for it (that once ended in a deadlock and
    a 500)."""
    url, (first, second) = servers
    created = await create_account(db, name="Churn", admin_email="boss@churn.com", admin_name="B")
    headers = {"X-API-KEY": created.api_key}
    paused = not url.startswith("sqlite")
    async with contextlib.AsyncExitStack() as stack:
        if paused:
            await stack.enter_async_context(gated_writes(url, db, ("memberships", "INSERT")))
        async with httpx.AsyncClient(timeout=30) as http:
            for round_no in range(4):
                email = f"bob{round_no}@churn.com"
                invited = await http.post(
                    f"{first}/api/inviteUsers",
                    json={"inviteeEmail": email, "inviteeRole": "MEMBER"},
                    headers=headers,
                )
                code = invited.json()["finalInviteCode"]
                rival = "inviteUsers" if round_no % 2 else "removeUser"
                rival_body = (
                    {"inviteeEmail": email, "inviteeRole": "VIEWER"}
                    if rival == "inviteUsers"
                    else {"email": email}
                )
                answers = await race(
                    url,
                    db,
                    functools.partial(
                        http.post,
                        f"{second}/api/acceptInvite",
                        json={"inviteCode": code, "name": "Bob", "password": PASSWORD},
                    ),
                    functools.partial(
                        http.post, f"{first}/api/{rival}", json=rival_body, headers=headers
                    ),
                )
                assert all(a.status_code < 500 for a in answers), [a.text for a in answers]
                # The rival either wins, or finds the invitation already turned into a member.
                assert answers[1].status_code == 200 or (
                    answers[1].json()["error"] in ("User already exists", "User not found")
                )
