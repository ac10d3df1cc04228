"""Races, with real concurrent requests on two server processes sharing one database."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select, text

from teamgate.accounts.service import create_account
from teamgate.auth.repository import create_api_key
from teamgate.db import Database, now
from teamgate.models import api_keys, invitations, memberships, users
from tests.conftest import password_hash_of
from tests.support import PASSWORD
from tests.support.backends import BACKENDS, clear_postgres, pg_dsn
from tests.support.servers import start_cheap_servers, stop_servers

pytestmark = pytest.mark.processes
ROUNDS = 8
GATE_LOCK_ID = 7_421_905_114  # the advisory lock a gated write waits for (see _gated)
STAGING_TIMEOUT = 60  # seconds for the requests of a race to reach their places: a loaded machine


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
        clear_postgres(url)
    procs, origins = start_cheap_servers(url, data_dir, 2)
    try:
        yield url, origins
    finally:
        stop_servers(procs)


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
    url, (first, second) = servers
    async with _gated(url, db, ("memberships", "DELETE")), httpx.AsyncClient(timeout=30) as http:
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
                b_removes_a, a_removes_b = await _race(url, db, removals[1], removals[0])
            else:
                a_removes_b, b_removes_a = await _race(url, db, removals[0], removals[1])
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
        acceptances = [
            functools.partial(
                http.post,
                f"{origins[i % 2]}/api/acceptInvite",
                json={"inviteCode": code, "name": "New", "password": PASSWORD},
            )
            for i in range(10)
        ]
        # The first is held inside its transaction until the nine others wait for it.
        async with _gated(servers[0], db, ("memberships", "INSERT")):
            answers = await _race(servers[0], db, acceptances[0], *acceptances[1:])
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
        async with _gated(servers[0], db, ("memberships", "INSERT")):
            answers = await _race(servers[0], db, acceptances[0], *acceptances[1:])
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
            await stack.enter_async_context(_gated(url, db, ("memberships", "INSERT")))
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
                answers = await _race(
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


Request = Callable[[], Awaitable[httpx.Response]]


async def _race(url: str, db: Database, first: Request, *rivals: Request) -> list[httpx.Response]:
    """The answers to ``first`` and ``rivals``, sent so that they really race.

    On PostgreSQL ``first`` is held at a gated write (see ``_gated``), inside its transaction,
    until every rival is seen waiting for a lock it holds; only then may it go on. The test
    fails if the requests do not get there, rather than passing without having raced.
    SQLite runs write transactions one at a time (``BEGIN IMMEDIATE``), and its waiters cannot
    be seen from outside: there the requests are only sent at once.
    """
    if url.startswith("sqlite"):
        return list(await asyncio.gather(first(), *(rival() for rival in rivals)))
    gate = await asyncpg.connect(pg_dsn(url))
    tasks: list[asyncio.Future[httpx.Response]] = []
    try:
        await gate.execute("SELECT pg_advisory_lock($1)", GATE_LOCK_ID)
        tasks.append(asyncio.ensure_future(first()))
        await _until_waiting(db, ["advisory"], 1, "the first request at the gate", tasks)
        tasks.extend(asyncio.ensure_future(rival()) for rival in rivals)
        await _until_waiting(
            db,
            ["transactionid", "tuple"],
            len(rivals),
            "the rivals waiting for the first request's locks",
            tasks,
        )
    finally:
        await gate.close()  # opens the gate
        done = await asyncio.gather(*tasks, return_exceptions=True)
    answers = []
    for answer in done:
        if isinstance(answer, BaseException):
            raise answer
        answers.append(answer)
    return answers


async def _until_waiting(
    db: Database,
    lock_kinds: list[str],
    count: int,
    what: str,
    requests: list[asyncio.Future[httpx.Response]],
) -> None:
    """Until ``count`` sessions of the test database wait for locks of the kinds given; none
    of the ``requests`` may be answered meanwhile."""
    deadline = time.monotonic() + STAGING_TIMEOUT
    while True:
        for request in requests:
            if request.done():
                answer = request.result()  # one that failed raises here
                pytest.fail(
                    f"The race was not staged: a request was answered ({answer.status_code} "
                    f"{answer.text[:200]}) before {what} showed up",
                    pytrace=False,
                )
        async with db.read() as conn:
            waiting = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock' AND wait_event = ANY(:kinds)"
                    ),
                    {"kinds": lock_kinds},
                )
            ).scalar_one()
        if waiting >= count:
            return
        if time.monotonic() > deadline:
            pytest.fail(
                f"The race was not staged: {what} did not show up in {STAGING_TIMEOUT}s "
                f"({waiting} of {count} waiting)",
                pytrace=False,
            )
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def _gated(url: str, db: Database, *writes: tuple[str, str]) -> AsyncIterator[None]:
    """On PostgreSQL, a trigger makes each (table, operation) in ``writes`` wait for the gate,
    an advisory lock that ``_race`` holds while it stages a race."""
    if url.startswith("sqlite"):
        yield
        return
    async with db.write() as conn:
        await conn.exec_driver_sql(
            "CREATE FUNCTION test_gate() RETURNS trigger AS $$ BEGIN"
            f" PERFORM pg_advisory_xact_lock_shared({GATE_LOCK_ID});"
            " IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW;"
            " END $$ LANGUAGE plpgsql"
        )
        for table, operation in writes:
            await conn.exec_driver_sql(
                f"CREATE TRIGGER test_gate BEFORE {operation} ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION test_gate()"
            )
    try:
        yield
    finally:
        async with db.write() as conn:
            for table, _ in writes:
                await conn.exec_driver_sql(f"DROP TRIGGER test_gate ON {table}")
            await conn.exec_driver_sql("DROP FUNCTION test_gate()")


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
    gated = _gated(url, db, ("memberships", "DELETE"), ("api_keys", "INSERT"))
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
                answers = await _race(url, db, add_key, remove)
            else:
                answers = (await _race(url, db, remove, add_key))[::-1]
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
