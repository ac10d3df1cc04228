"""Acceptance racing rival admin actions, staged on two server processes sharing PostgreSQL.

The membership gate (tests/support/races.py) holds every insert into ``memberships``: an
acceptance stopped there has consumed its invitation but not yet created the membership; the
rival request is sent only once that pause is seen in ``pg_locks``, and the gate opens only once
the rival is seen waiting on a lock (or has answered). Each step is asserted: a race that was not
staged fails the test instead of passing it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select

from teamgate.accounts.service import CreatedAccount, create_account
from teamgate.db import Database
from teamgate.models import custom_roles, invitations, memberships, users
from tests.support import PASSWORD
from tests.support.api import answer
from tests.support.backends import pg_dsn
from tests.support.races import Gate, answered_or_waiting, membership_gate, observe

HELD = "Role is associated with users. Cannot delete."

pytestmark = [
    pytest.mark.processes,
    pytest.mark.parametrize("servers", ["postgresql"], indirect=True),  # staged on PostgreSQL only
]
ROUNDS = 4
BUILT_IN = {"ADMIN", "MEMBER", "DEVELOPER", "VIEWER"}


# --- seeding and reading ---------------------------------------------------------------------


async def admin_account(db: Database, name: str, email: str) -> CreatedAccount:
    return await create_account(db, name=name, admin_email=email, admin_name="Boss")


async def post(
    http: httpx.AsyncClient,
    origin: str,
    endpoint: str,
    body: dict[str, Any],
    key: str | None = None,
) -> httpx.Response:
    headers = {"X-API-KEY": key} if key is not None else {}
    return await http.post(f"{origin}/api/{endpoint}", json=body, headers=headers)


async def invite(
    http: httpx.AsyncClient, origin: str, key: str, email: str, role: str
) -> httpx.Response:
    return await post(
        http, origin, "inviteUsers", {"inviteeEmail": email, "inviteeRole": role}, key
    )


async def membership_and_invitation(db: Database, account_id: int, email: str) -> tuple[int, int]:
    """How many memberships and pending invitations (account, email) has."""
    async with db.read() as conn:
        members: int = (
            await conn.execute(
                select(func.count())
                .select_from(memberships.join(users, users.c.id == memberships.c.user_id))
                .where(memberships.c.account_id == account_id, users.c.email == email)
            )
        ).scalar_one()
        pending: int = (
            await conn.execute(
                select(func.count()).where(
                    invitations.c.account_id == account_id, invitations.c.email == email
                )
            )
        ).scalar_one()
    return members, pending


async def roles_held_that_do_not_exist(db: Database, account_id: int) -> list[tuple[str, str]]:
    """(email, role) of the members whose role is neither built in nor a custom role here."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(users.c.email, memberships.c.role)
            .select_from(memberships.join(users, users.c.id == memberships.c.user_id))
            .outerjoin(
                custom_roles,
                (custom_roles.c.account_id == memberships.c.account_id)
                & (custom_roles.c.name == memberships.c.role),
            )
            .where(memberships.c.account_id == account_id, custom_roles.c.id.is_(None))
        )
        return [(email, role) for email, role in rows if role not in BUILT_IN]


async def custom_role_exists(db: Database, account_id: int, name: str) -> bool:
    async with db.read() as conn:
        found = await conn.execute(
            select(custom_roles.c.id).where(
                custom_roles.c.account_id == account_id, custom_roles.c.name == name
            )
        )
        return found.first() is not None


def session_cookie(response: httpx.Response) -> dict[str, str]:
    return {"Cookie": f"teamgate_session={response.cookies['teamgate_session']}"}


# --- deleteCustomRole racing acceptInvite ----------------------------------------------------


async def test_a_custom_role_stays_in_use_while_an_acceptance_turns_its_invitation_into_a_member(
    servers: tuple[str, list[str]], db: Database
) -> None:
    """deleteCustomRole checks the memberships, then the invitations, each seeing what is
    committed at that moment. Staged: the acceptance has consumed the invitation and waits at
    the gate; the deletion is sent and, to arrive where the two checks meet, its look at the
    invitations queues behind a table lock the test requests (it waits for the acceptance).
    The gate opens: the acceptance commits, then the deletion's second check runs."""
    url, (first, second) = servers
    boss = await admin_account(db, "Role race", "boss@rolerace.io")
    failures: list[str] = []
    async with (
        membership_gate(url) as gate,
        httpx.AsyncClient(timeout=30) as http,
    ):
        for round_no in range(ROUNDS):
            role, email = f"RACER_{round_no}", f"new{round_no}@rolerace.io"
            made = await post(
                http, first, "createCustomRole", {"roleName": role, "baseRole": "DEVELOPER"},
                boss.api_key,
            )  # fmt: skip
            assert made.status_code == 200, made.text
            invited = await invite(http, first, boss.api_key, email, role)
            assert invited.status_code == 200, invited.text
            link = invited.json()["finalInviteCode"]

            accepted, deleted = await _race_delete_with_acceptance(
                url, gate, http, first, second, boss.api_key, role, link
            )

            problems = []
            if answer(accepted)[0] != 200:
                problems.append(f"acceptInvite answered {accepted.status_code} {accepted.text}")
            if answer(deleted) != (400, HELD):
                problems.append(
                    f"deleteCustomRole answered {deleted.status_code} {deleted.text} "
                    "while the role was in use"
                )
            dangling = [
                held for held in await roles_held_that_do_not_exist(db, boss.account_id)
                if held[0] == email
            ]  # fmt: skip
            if dangling:
                problems.append(f"members hold roles that do not exist: {dangling}")
            if not await custom_role_exists(db, boss.account_id, role):
                problems.append(f"{role} is gone")
            state = await membership_and_invitation(db, boss.account_id, email)
            if state != (1, 0):
                problems.append(f"(memberships, pending invitations) of {email}: {state}")
            if accepted.status_code == 200:
                # The new member's session works; the role they hold still cannot be deleted.
                hierarchy = await http.post(
                    f"{first}/api/getRoleHierarchy", json={}, headers=session_cookie(accepted)
                )
                if hierarchy.status_code != 200 or role not in hierarchy.json():
                    problems.append(
                        f"the new member's getRoleHierarchy answered {hierarchy.status_code} "
                        f"{hierarchy.text}"
                    )
                again = await post(
                    http, second, "deleteCustomRole", {"roleName": role}, boss.api_key
                )
                if answer(again) != (400, HELD):
                    problems.append(
                        f"deleting {role} from a member then answered {again.status_code} "
                        f"{again.text}"
                    )
            if problems:
                failures.append(f"round {round_no}: " + "; ".join(problems))

    assert not failures, f"{len(failures)} of {ROUNDS} rounds went wrong:\n" + "\n".join(failures)


async def _race_delete_with_acceptance(
    url: str,
    gate: Gate,
    http: httpx.AsyncClient,
    first: str,
    second: str,
    key: str,
    role: str,
    link: str,
) -> tuple[httpx.Response, httpx.Response]:
    queue = await asyncpg.connect(pg_dsn(url))
    tasks: list[asyncio.Task[Any]] = []
    try:
        await gate.close()
        acceptance = asyncio.create_task(
            post(
                http,
                second,
                "acceptInvite",
                {"inviteCode": link, "name": "New", "password": PASSWORD},
            )
        )
        tasks.append(acceptance)
        accepting = await observe(
            gate.held_insert, acceptance, "the acceptance paused in its membership insert"
        )

        async def lock_invitations() -> None:
            async with queue.transaction():
                await queue.execute("LOCK TABLE invitations IN ACCESS EXCLUSIVE MODE")

        queued = asyncio.create_task(lock_invitations())
        tasks.append(queued)
        queue_pid = queue.get_server_pid()

        async def queue_waits_or_holds() -> bool:
            return queued.done() or await gate.waiting_on_a_lock(queue_pid)

        await observe(queue_waits_or_holds, None, "the test's table lock request")
        deletion = asyncio.create_task(
            post(http, first, "deleteCustomRole", {"roleName": role}, key)
        )
        tasks.append(deletion)
        await answered_or_waiting(gate, deletion, [accepting, queue_pid])
        await gate.open()
        accepted, _, deleted = await asyncio.gather(acceptance, queued, deletion)
        return accepted, deleted
    finally:
        await gate.open()
        await asyncio.gather(*tasks, return_exceptions=True)
        await queue.close()


# --- a re-invite racing the acceptance of the old link ---------------------------------------


async def test_a_reinvite_racing_the_acceptance_of_the_old_link_leaves_one_or_the_other(
    servers: tuple[str, list[str]], db: Database
) -> None:
    """Staged: the acceptance of the first link has consumed it and waits at the gate; the
    re-invite of the same email is sent then, and the gate opens once it waits on a lock.
    Either the acceptance wins (a member; the re-invite is refused) or the re-invite does (a
    new pending invitation; the old link is refused); never a member with a pending invitation
    for their own email. Odd rounds invite a user who already exists (another account's
    founder) and accepts with their password."""
    url, (first, second) = servers
    boss = await admin_account(db, "Reinvite race", "boss@reinvite.io")
    failures: list[str] = []
    async with (
        membership_gate(url) as gate,
        httpx.AsyncClient(timeout=30) as http,
    ):
        for round_no in range(ROUNDS):
            email = f"person{round_no}@reinvite.io"
            if round_no % 2:
                await create_account(
                    db, name=f"Own {round_no}", admin_email=email, admin_password=PASSWORD
                )
            invited = await invite(http, first, boss.api_key, email, "MEMBER")
            assert invited.status_code == 200, invited.text
            link = invited.json()["finalInviteCode"]

            accepted, reinvited = await _race_reinvite_with_acceptance(
                gate, http, first, second, boss.api_key, email, link
            )

            state = await membership_and_invitation(db, boss.account_id, email)
            acceptance_won = (
                answer(accepted)[0] == 200
                and answer(reinvited) == (400, "User already exists")
                and state == (1, 0)
            )
            reinvite_won = (
                answer(reinvited)[0] == 200
                and answer(accepted) == (400, "Ask admin to invite you")
                and state == (0, 1)
            )
            if not (acceptance_won or reinvite_won):
                failures.append(
                    f"round {round_no}: acceptInvite answered {answer(accepted)}, "
                    f"inviteUsers {answer(reinvited)}; (memberships, pending invitations) "
                    f"of {email}: {state}"
                )

    assert not failures, f"{len(failures)} of {ROUNDS} rounds went wrong:\n" + "\n".join(failures)


async def _race_reinvite_with_acceptance(
    gate: Gate,
    http: httpx.AsyncClient,
    first: str,
    second: str,
    key: str,
    email: str,
    link: str,
) -> tuple[httpx.Response, httpx.Response]:
    tasks: list[asyncio.Task[httpx.Response]] = []
    try:
        await gate.close()
        acceptance = asyncio.create_task(
            post(
                http,
                second,
                "acceptInvite",
                {"inviteCode": link, "name": "P", "password": PASSWORD},
            )
        )
        tasks.append(acceptance)
        accepting = await observe(
            gate.held_insert, acceptance, "the acceptance paused in its membership insert"
        )
        reinvite = asyncio.create_task(invite(http, first, key, email, "VIEWER"))
        tasks.append(reinvite)
        await answered_or_waiting(gate, reinvite, [accepting])
        await gate.open()
        accepted, reinvited = await asyncio.gather(acceptance, reinvite)
        return accepted, reinvited
    finally:
        await gate.open()
        await asyncio.gather(*tasks, return_exceptions=True)
