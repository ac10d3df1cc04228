"""Races, with real concurrent requests on two server processes sharing one database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from teamgate.accounts.service import create_account
from teamgate.auth.repository import create_api_key
from teamgate.db import Database, now
from teamgate.models import api_keys, invitations, memberships, users

from .conftest import BACKENDS, PASSWORD, _truncate, password_hash_of

pytestmark = pytest.mark.processes
SECRET = "race-test-signing-key-" + "y" * 32
ROUNDS = 8


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_servers(
    database_url: str, data_dir: Path, count: int
) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
    ports = [_free_port() for _ in range(count)]
    origins = [f"http://127.0.0.1:{port}" for port in ports]
    env = {
        **os.environ,
        "TEAMGATE_DATABASE_URL": database_url,
        "TEAMGATE_DATA_DIR": str(data_dir),
        "TEAMGATE_SECRET_KEY": SECRET,
        "TEAMGATE_PUBLIC_URL": ",".join(origins),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "teamgate", "serve", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]  # fmt: skip
    deadline = time.monotonic() + 30
    for origin, proc in zip(origins, procs, strict=True):
        while True:
            assert proc.poll() is None, "server exited during start-up"
            try:
                if httpx.get(f"{origin}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
    return procs, origins


@pytest.fixture(scope="module", params=BACKENDS)
def servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, list[str]]]:
    """Two `teamgate serve` processes on one database: (database URL, their origins)."""
    data_dir = tmp_path_factory.mktemp("servers")
    if request.param == "sqlite":
        url = f"sqlite:///{data_dir / 'shared.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        _truncate(url)
    procs, origins = _start_servers(url, data_dir, 2)
    try:
        yield url, origins
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


@pytest.fixture
async def db(servers: tuple[str, list[str]]) -> AsyncIterator[Database]:
    database = Database(servers[0])
    yield database
    await database.dispose()


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
    _, (first, second) = servers
    async with httpx.AsyncClient(timeout=30) as http:
        for round_no in range(ROUNDS):
            account_id, key_a, key_b = await _two_admins(db, round_no)
            a_removes_b, b_removes_a = await asyncio.gather(
                http.post(f"{first}/api/removeUser", json={"email": f"b{round_no}@race.com"},
                          headers={"X-API-KEY": key_a}),
                http.post(f"{second}/api/removeUser", json={"email": f"a{round_no}@race.com"},
                          headers={"X-API-KEY": key_b}),
            )  # fmt: skip
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
        answers = await asyncio.gather(
            *(
                http.post(
                    f"{origins[i % 2]}/api/acceptInvite",
                    json={"inviteCode": code, "name": "New", "password": PASSWORD},
                )
                for i in range(10)
            )
        )
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
        answers = await asyncio.gather(
            *(
                http.post(
                    f"{origins[i % 2]}/api/acceptInvite",
                    json={"inviteCode": code, "password": PASSWORD},
                )
                for i in range(10)
            )
        )
    assert sorted(a.status_code for a in answers) == [200] + [400] * 9


async def test_accepting_while_the_invitation_is_replaced_or_revoked_never_fails_the_server(
    servers: tuple[str, list[str]], db: Database
) -> None:
    """Acceptance deletes the invitation, then inserts rows that reference the account; the
    rivals lock the account, then touch the invitation. On PostgreSQL a trigger that pauses
    membership inserts holds that window open (it once ended in a deadlock and a 500)."""
    url, (first, second) = servers
    created = await create_account(db, name="Churn", admin_email="boss@churn.com", admin_name="B")
    headers = {"X-API-KEY": created.api_key}
    paused = not url.startswith("sqlite")
    async with contextlib.AsyncExitStack() as stack:
        if paused:
            await stack.enter_async_context(_slow_membership_inserts(db))
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
                answers = await asyncio.gather(
                    http.post(
                        f"{second}/api/acceptInvite",
                        json={"inviteCode": code, "name": "Bob", "password": PASSWORD},
                    ),
                    _once_paused(
                        db,
                        paused,
                        http.post(f"{first}/api/{rival}", json=rival_body, headers=headers),
                    ),
                )
                assert all(a.status_code < 500 for a in answers), [a.text for a in answers]
                # The rival either wins, or finds the invitation already turned into a member.
                assert answers[1].status_code == 200 or (
                    answers[1].json()["error"] in ("User already exists", "User not found")
                )


async def _once_paused(
    db: Database, paused: bool, request: Awaitable[httpx.Response]
) -> httpx.Response:
    """Sends the rival while the acceptance's transaction sits in the paused insert."""
    for _ in range(300 if paused else 0):
        async with db.read() as conn:
            sleeping = await conn.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'"
            )
            if sleeping.scalar_one():
                break
        await asyncio.sleep(0.01)
    return await request


@contextlib.asynccontextmanager
async def _slow_membership_inserts(db: Database) -> AsyncIterator[None]:
    async with db.write() as conn:
        await conn.exec_driver_sql(
            "CREATE FUNCTION test_pause() RETURNS trigger AS "
            "$$ BEGIN PERFORM pg_sleep(0.6); RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        await conn.exec_driver_sql(
            "CREATE TRIGGER test_pause BEFORE INSERT ON memberships "
            "FOR EACH ROW EXECUTE FUNCTION test_pause()"
        )
    try:
        yield
    finally:
        async with db.write() as conn:
            await conn.exec_driver_sql("DROP TRIGGER test_pause ON memberships")
            await conn.exec_driver_sql("DROP FUNCTION test_pause()")


async def test_a_key_made_while_its_owner_is_removed_does_not_survive(
    servers: tuple[str, list[str]], db: Database
) -> None:
    _, (first, second) = servers
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
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(ROUNDS):
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
            answers = await asyncio.gather(
                http.post(f"{second}/api/addApiToken", json={"name": "late"}, headers=cookie),
                http.post(
                    f"{first}/api/removeUser", json={"email": "leaver@orphan.com"},
                    headers={"X-API-KEY": created.api_key},
                ),
            )  # fmt: skip
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
