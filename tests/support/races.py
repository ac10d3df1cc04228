"""Staging races between real server processes, so that they really race (on PostgreSQL).

Luck decides such races on a fast machine, so each one is staged: a trigger holds a write behind
an advisory lock the test owns (the gate), and the rivals are sent, or the gate opened, only once
the requests are seen where they must be in ``pg_stat_activity`` / ``pg_locks``. A race that was
not staged fails the test instead of passing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from sqlalchemy import text

from teamgate.db import Database
from tests.support.backends import pg_dsn

# --- a gated write, held until the rivals wait for its locks ---------------------------------


GATE_LOCK_ID = 7_421_905_114  # the advisory lock a gated write waits for (see gated_writes)
STAGING_TIMEOUT = 60  # seconds for the requests of a race to reach their places: a loaded machine
Request = Callable[[], Awaitable[httpx.Response]]


async def race(url: str, db: Database, first: Request, *rivals: Request) -> list[httpx.Response]:
    """The answers to ``first`` and ``rivals``, sent so that they really race.

    On PostgreSQL ``first`` is held at a gated write (see ``gated_writes``), inside its transaction,
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
        await until_waiting(db, ["advisory"], 1, "the first request at the gate", tasks)
        tasks.extend(asyncio.ensure_future(rival()) for rival in rivals)
        await until_waiting(
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


async def until_waiting(
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
async def gated_writes(url: str, db: Database, *writes: tuple[str, str]) -> AsyncIterator[None]:
    """On PostgreSQL, a trigger makes each (table, operation) in ``writes`` wait for the gate,
    an advisory lock that ``race`` holds while it stages a race."""
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


# --- the membership gate, and watching who waits on what -------------------------------------


T = TypeVar("T")
GATE_KEY = 748_213_905  # the advisory lock the trigger waits on (below 2**31: objid in pg_locks)
STAGE_TIMEOUT = 10.0


class Gate:
    """The trigger's advisory lock, held by the test, and a view of who waits on what."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def close(self) -> None:
        await self.conn.execute("SELECT pg_advisory_lock($1::bigint)", GATE_KEY)

    async def open(self) -> None:
        await self.conn.execute("SELECT pg_advisory_unlock_all()")

    async def held_insert(self) -> int | None:
        """The backend whose membership insert waits at the gate, if one does."""
        pid: int | None = await self.conn.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND classid = 0 AND objid = $1::oid AND objsubid = 1",
            GATE_KEY,
        )
        return pid

    async def waiting_on_a_lock(self, pid: int) -> bool:
        waiting: bool = await self.conn.fetchval(
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'",
            pid,
        )
        return waiting

    async def other_lock_waiter(self, known: list[int]) -> int | None:
        """A backend of this database waiting on a lock, other than the ``known`` ones."""
        pid: int | None = await self.conn.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> ALL($1::int[]) LIMIT 1",
            known,
        )
        return pid


@contextlib.asynccontextmanager
async def membership_gate(url: str) -> AsyncIterator[Gate]:
    conn = await asyncpg.connect(pg_dsn(url))
    try:
        await conn.execute(
            "CREATE FUNCTION teamgate_test_gate() RETURNS trigger AS $$ BEGIN "
            f"PERFORM pg_advisory_xact_lock_shared({GATE_KEY}); RETURN NEW; "
            "END $$ LANGUAGE plpgsql"
        )
        await conn.execute(
            "CREATE TRIGGER teamgate_test_gate BEFORE INSERT ON memberships "
            "FOR EACH ROW EXECUTE FUNCTION teamgate_test_gate()"
        )
        yield Gate(conn)
    finally:
        await conn.execute("SELECT pg_advisory_unlock_all()")
        await conn.execute("DROP TRIGGER IF EXISTS teamgate_test_gate ON memberships")
        await conn.execute("DROP FUNCTION IF EXISTS teamgate_test_gate()")
        await conn.close()


async def observe(
    probe: Callable[[], Awaitable[T | None]], watched: asyncio.Task[Any] | None, what: str
) -> T:
    """Poll ``probe`` until it finds something; fail if ``watched`` ends first or time runs out."""
    deadline = asyncio.get_running_loop().time() + STAGE_TIMEOUT
    while True:
        found = await probe()
        if found is not None and found is not False:
            return found
        if watched is not None and watched.done():
            outcome = watched.result()
            detail = outcome.text if isinstance(outcome, httpx.Response) else repr(outcome)
            pytest.fail(f"race not staged: {what} was never observed; it ended with {detail}")
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"race not staged: {what} was not observed within {STAGE_TIMEOUT}s")
        await asyncio.sleep(0.01)


async def answered_or_waiting(
    gate: Gate, rival: asyncio.Task[httpx.Response], known: list[int]
) -> None:
    """The rival must reach the contested rows before the acceptance goes on: either it waits
    on a lock (behind the acceptance's transaction) or it has already answered."""

    async def probe() -> bool:
        return rival.done() or await gate.other_lock_waiter(known) is not None

    await observe(probe, None, "the rival request answering or waiting on a lock")
