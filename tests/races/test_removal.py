"""Removals racing other writes on two server processes sharing one database: the last ADMIN and
the keys of a removed member."""

from __future__ import annotations

import functools

import httpx
import pytest
from sqlalchemy import func, select

from teamgate.accounts.service import create_account
from teamgate.auth.repository import create_api_key
from teamgate.db import Database, now
from teamgate.models import api_keys, memberships, users
from tests.conftest import password_hash_of
from tests.support import PASSWORD
from tests.support.races import gated_writes, race

pytestmark = pytest.mark.processes
ROUNDS = 8


async def _two_admins(db: Database, round_no: int) -> tuple[int, str, str]:
    created = await create_account(
        db, name=f"Race {round_no}", admin_email=f"a{round_no}@race.com", admin_name="A"
    )
    async with db.write() as conn:
        user_id = (
            await conn.execute(
                users.insert()
                .values(
                    email=f"b{round_no}@race.com", name="B", password_hash=None, created_at=now()
                )
                .returning(users.c.id)
            )
        ).scalar_one()
        await conn.execute(
            memberships.insert().values(
                account_id=created.account_id, user_id=user_id, role="ADMIN", created_at=now()
            )
        )
        key_b = (
            await create_api_key(
                conn, account_id=created.account_id, user_id=user_id, name="race", at=now()
            )
        ).key
    return created.account_id, created.api_key, key_b


async def _admins(db: Database, account_id: int) -> int:
    async with db.read() as conn:
        count: int = (
            await conn.execute(
                select(func.count()).where(
                    memberships.c.account_id == account_id, memberships.c.role == "ADMIN"
                )
            )
        ).scalar_one()
    return count


async def test_two_admins_removing_each_other_leave_one_admin(
    servers: tuple[str, list[str]], db: Database
) -> None:
    url, (first, second) = servers
    async with (
        gated_writes(url, db, ("memberships", "DELETE")),
        httpx.AsyncClient(timeout=30) as http,
    ):
        for round_no in range(ROUNDS):
            account_id, key_a, key_b = await _two_admins(db, round_no)

            removals = [
                functools.partial(http.post, f"{first}/api/removeUser",
                                  json={"email": f"b{round_no}@race.com"},
                                  headers={"X-API-KEY": key_a}),
                functools.partial(http.post, f"{second}/api/removeUser",
                                  json={"email": f"a{round_no}@race.com"},
                                  headers={"X-API-KEY": key_b}),
            ]  # fmt: skip
            # The first removal is held just before it deletes the membership, holding the
            # account lock, until the other one waits for that lock; each goes first in turn.
            if round_no % 2:
                b_removes_a, a_removes_b = await race(url, db, removals[1], removals[0])
            else:
                a_removes_b, b_removes_a = await race(url, db, removals[0], removals[1])
            statuses = sorted([a_removes_b.status_code, b_removes_a.status_code])
            # One removal wins; the loser was removed first, so its key no longer works.
            assert statuses == [200, 401], (a_removes_b.text, b_removes_a.text)
            assert await _admins(db, account_id) == 1
            # Both nodes see the outcome on the very next request.
            winner, loser = (key_a, key_b) if a_removes_b.status_code == 200 else (key_b, key_a)
            for origin in (first, second):
                seen = await http.post(f"{origin}/api/getTeamData", headers={"X-API-KEY": winner})
                assert [e["role"] for e in seen.json()] == ["ADMIN"]
                gone = await http.post(f"{origin}/api/getTeamData", headers={"X-API-KEY": loser})
                assert gone.status_code == 401


async def test_a_key_made_while_its_owner_is_removed_does_not_survive(
    servers: tuple[str, list[str]], db: Database
) -> None:
    url, (first, second) = servers
    created = await create_account(
        db, name="Orphans", admin_email="boss@orphan.com", admin_name="Boss"
    )
    async with db.write() as conn:
        await conn.execute(
            users.insert().values(
                email="leaver@orphan.com",
                name="Leaver",
                password_hash=await password_hash_of(PASSWORD),
                created_at=now(),
            )
        )
    gated = gated_writes(url, db, ("memberships", "DELETE"), ("api_keys", "INSERT"))
    async with gated, httpx.AsyncClient(timeout=30) as http:
        for round_no in range(ROUNDS):
            async with db.write() as conn:
                leaver = (
                    await conn.execute(
                        select(users.c.id).where(users.c.email == "leaver@orphan.com")
                    )
                ).scalar_one()
                await conn.execute(
                    memberships.insert().values(
                        account_id=created.account_id,
                        user_id=leaver,
                        role="MEMBER",
                        created_at=now(),
                    )
                )
            login = await http.post(
                f"{first}/api/login", json={"email": "leaver@orphan.com", "password": PASSWORD}
            )
            cookie = {"Cookie": f"teamgate_session={login.cookies['teamgate_session']}"}
            add_key = functools.partial(
                http.post, f"{second}/api/addApiToken", json={"name": "late"}, headers=cookie
            )
            remove = functools.partial(
                http.post, f"{first}/api/removeUser", json={"email": "leaver@orphan.com"},
                headers={"X-API-KEY": created.api_key},
            )  # fmt: skip
            # Each goes first in turn, held (with the account lock) at its write: the removal
            # at deleting the membership, the new key at its insert.
            if round_no % 2:
                answers = await race(url, db, add_key, remove)
            else:
                answers = (await race(url, db, remove, add_key))[::-1]
            assert answers[1].status_code == 200
            assert answers[0].status_code in (200, 401)
            async with db.read() as conn:
                left = (
                    await conn.execute(
                        select(func.count()).where(
                            api_keys.c.user_id == leaver,
                            api_keys.c.account_id == created.account_id,
                        )
                    )
                ).scalar_one()
            assert left == 0
            if answers[0].status_code == 200:
                late_key = answers[0].json()["key"]
                assert (
                    await http.post(f"{first}/api/getTeamData", headers={"X-API-KEY": late_key})
                ).status_code == 401
