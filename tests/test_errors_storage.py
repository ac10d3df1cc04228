"""Storage that fails is a clean 503 with Retry-After, never a 500: which errors count as storage
failures, and PostgreSQL connections killed under load on a real server process."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy.exc
from limits.errors import StorageError
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from teamgate.accounts.service import create_account
from teamgate.app import create_app
from teamgate.config import Settings
from teamgate.db import Database
from teamgate.errors import is_storage_failure
from teamgate.models import users
from tests.support import PASSWORD, PUBLIC_ORIGIN
from tests.support.api import assert_error, call, raw
from tests.support.backends import BACKENDS, clear_postgres, pg_dsn
from tests.support.servers import Server, start_server


async def test_storage_down_is_503_with_retry_after(tmp_path: Path) -> None:
    down = Settings(
        database_url="postgresql://postgres@127.0.0.1:1/nope",  # nothing listens on port 1
        data_dir=tmp_path,
        public_url=[PUBLIC_ORIGIN],
        secret_key="test-signing-key-" + "x" * 32,
        rate_limit_storage="memory://",
    )
    application = create_app(down)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_ORIGIN) as http:
            responses = [
                await call(http, "getTeamData", key="tg_some-key"),
                await call(
                    http,
                    "inviteUsers",
                    {"inviteeEmail": "new@acme.com", "inviteeRole": "VIEWER"},
                    key="tg_some-key",
                ),
                await call(http, "login", {"email": "admin@acme.com", "password": PASSWORD}),
                await http.get("/readyz"),
            ]
            # what needs no storage still answers as usual
            malformed = await raw(http, "getTeamData", b"{", key="tg_some-key")

    for response in responses:
        assert_error(response, 503)
        retry_after = response.headers["Retry-After"]
        assert retry_after.isdigit()
        assert int(retry_after) >= 1
        for leak in ("127.0.0.1", "nope", "postgres", "Connection"):
            assert leak not in response.text
    assert_error(malformed, 400)


# --- PostgreSQL connections killed under load ------------------------------------------------


LOAD_SECONDS = 3.0
KILL_PAUSES = (0.01, 0.05, 0.1, 0.2)  # seconds between kills, in turn: idle and busy connections


@pytest.fixture
def postgres_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, str]]:
    """A server on the throwaway PostgreSQL test database: (server, database URL)."""
    if "postgresql" not in BACKENDS:
        pytest.skip("needs PostgreSQL")
    url: str = request.getfixturevalue("postgres_url")
    clear_postgres(url)
    budgets = {  # not what is tested here
        "TEAMGATE_RATE_LIMIT_INVITE_PER_ACCOUNT": "1000000 per hour",
        "TEAMGATE_RATE_LIMIT_LOGIN_PER_EMAIL": "1000000 per 15 minutes",
        "TEAMGATE_RATE_LIMIT_LOGIN_PER_CLIENT": "1000000 per 15 minutes",
    }
    server = start_server(url, tmp_path, budgets)
    try:
        yield server, url
    finally:
        server.stop()


async def kill_connections(url: str, stop: asyncio.Event) -> int:
    """Terminates every other connection to the database, again and again until ``stop``;
    how many it terminated."""
    killed = 0
    conn = await asyncpg.connect(pg_dsn(url))
    try:
        for turn in range(100_000):
            if stop.is_set():
                break
            terminated = await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                make_url(url).database,
            )
            killed += sum(1 for (ok,) in terminated if ok)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), KILL_PAUSES[turn % len(KILL_PAUSES)])
    finally:
        await conn.close()
    return killed


Outcome = tuple[str, int, str]  # endpoint, status, body


async def keep_calling(
    http: httpx.AsyncClient, endpoint: str, bodies: Iterator[dict[str, Any]], key: str | None,
    until: float,
) -> list[Outcome]:  # fmt: skip
    outcomes: list[Outcome] = []
    while time.monotonic() < until and len(outcomes) < 10_000:
        response = await call(http, endpoint, next(bodies), key=key)
        http.cookies.clear()  # login's session cookie is not what the next call should use
        outcomes.append((endpoint, response.status_code, response.text))
        if response.status_code == 503:
            assert response.headers["Retry-After"] == "5", response.headers
            assert response.json()["error"] == "Storage is unavailable, try again shortly"
    return outcomes


def _cycle(make: Any) -> Iterator[dict[str, Any]]:
    for i in range(1_000_000):
        yield make(i)
    raise AssertionError("unreachable: the load is bounded in time")  # pragma: no cover


@pytest.mark.processes
async def test_killing_postgresql_connections_under_load_gives_503s_never_500s(
    postgres_server: tuple[Server, str],
) -> None:
    server, url = postgres_server
    db = Database(url)
    try:
        admin = await create_account(
            db, name="Acme", admin_email="ada@acme.com", admin_password=PASSWORD
        )
    finally:
        await db.dispose()
    calls: list[tuple[str, Any, str | None]] = [
        ("getTeamData", lambda i: {}, admin.api_key),
        ("getTeamData", lambda i: {}, admin.api_key),
        ("getTeamData", lambda i: {}, admin.api_key),
        ("getRoleHierarchy", lambda i: {}, admin.api_key),
        ("getRoleHierarchy", lambda i: {}, admin.api_key),
        ("inviteUsers", lambda i: {"inviteeEmail": f"guest{i % 20}@acme.com",
                                   "inviteeRole": "MEMBER"}, admin.api_key),
        ("inviteUsers", lambda i: {"inviteeEmail": f"other{i % 20}@acme.com",
                                   "inviteeRole": "VIEWER"}, admin.api_key),
        ("login", lambda i: {"email": "ada@acme.com", "password": PASSWORD}, None),
    ]  # fmt: skip

    stop = asyncio.Event()
    killer = asyncio.create_task(kill_connections(url, stop))
    until = time.monotonic() + LOAD_SECONDS
    try:
        async with httpx.AsyncClient(base_url=server.origin, timeout=30) as http:
            results = await asyncio.gather(
                *(keep_calling(http, e, _cycle(body), key, until) for e, body, key in calls)
            )
    finally:
        stop.set()
        killed = await killer
    outcomes = [outcome for result in results for outcome in result]

    # Recovery: once the killing stops, each endpoint answers 200 again (a first call may still
    # meet a connection that was killed last and answer 503).
    recovered: dict[str, list[int]] = {}
    async with httpx.AsyncClient(base_url=server.origin, timeout=30) as http:
        for endpoint, body, key in calls:
            statuses = recovered.setdefault(endpoint, [])
            for _attempt in range(3):
                response = await call(http, endpoint, body(0), key=key)
                http.cookies.clear()
                statuses.append(response.status_code)
                if response.status_code == 200:
                    break
    log = server.stop()

    by_status = Counter((endpoint, status) for endpoint, status, _body in outcomes)
    errors = Counter(re.findall(r"^(\w[\w.]*(?:Error|Exception)\b.*)$", log, re.MULTILINE))
    summary = f"{len(outcomes)} responses {dict(by_status)}; {killed} backends killed; {errors}"
    assert killed > 0, summary
    assert not [o for o in outcomes if o[1] == 500], summary
    assert {status for _endpoint, status, _body in outcomes} <= {200, 503}, summary
    assert by_status[("getTeamData", 200)] > 0, summary
    for endpoint, statuses in recovered.items():
        assert statuses[-1] == 200, (endpoint, statuses, summary)
        assert set(statuses) <= {200, 503}, (endpoint, statuses, summary)
    assert "unexpected error" not in log, summary


# --- which errors are storage failures -------------------------------------------------------


pg = asyncpg.exceptions
CLASSIFIED: list[tuple[BaseException, bool]] = [
    # storage failed: a 503
    (pg.AdminShutdownError("terminating connection due to administrator command"), True),
    (pg.CrashShutdownError("terminating connection because of crash of another process"), True),
    (pg.CannotConnectNowError("the database system is starting up"), True),
    (pg.QueryCanceledError("canceling statement due to statement timeout"), True),
    (pg.TooManyConnectionsError("sorry, too many clients already"), True),
    (pg.DiskFullError("could not extend file: No space left on device"), True),
    (pg.PostgresIOError("could not read block 0"), True),
    (pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"), True),
    (pg.ConnectionFailureError("connection failure"), True),
    (pg.SerializationError("could not serialize access"), True),
    (pg.DeadlockDetectedError("deadlock detected"), True),
    (pg.InterfaceError("connection is closed"), True),
    (
        pg.InternalClientError("cannot switch to state 12; another operation (2) is in progress"),
        True,
    ),
    (ConnectionRefusedError(111, "Connection refused"), True),
    (ConnectionResetError(104, "Connection reset by peer"), True),
    (TimeoutError(), True),
    (sqlalchemy.exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached"), True),
    (StorageError(ConnectionError("redis is down")), True),
    # a bug: a 500
    (pg.UniqueViolationError("duplicate key value violates unique constraint"), False),
    (pg.ForeignKeyViolationError("insert or update violates foreign key constraint"), False),
    (pg.PostgresSyntaxError('syntax error at or near "SELEC"'), False),
    (pg.UndefinedTableError('relation "nope" does not exist'), False),
    (pg.NumericValueOutOfRangeError("integer out of range"), False),
    (pg.InternalServerError("internal error"), False),
    (RuntimeError("a bug"), False),
    (KeyError("id"), False),
]


@pytest.mark.parametrize(
    ("error", "storage"),
    CLASSIFIED,
    ids=[f"{type(error).__name__}-{503 if storage else 500}" for error, storage in CLASSIFIED],
)
def test_driver_errors_are_classified(error: BaseException, storage: bool) -> None:
    assert is_storage_failure(error) is storage


async def _error_of(statements: list[str], db: Database) -> BaseException:
    try:
        async with db.write() as conn:
            for statement in statements:
                await conn.exec_driver_sql(statement)
    except Exception as exc:
        return exc
    raise AssertionError(f"no error from {statements}")


async def test_errors_from_the_real_database_are_classified(database_url: str) -> None:
    """As the drivers raise them, wrapped by SQLAlchemy: bugs stay bugs, failures are 503s."""
    db = Database(database_url)
    try:
        syntax = await _error_of(["SELEC 1"], db)
        missing_table = await _error_of(["SELECT * FROM no_such_table"], db)
        duplicate = None
        try:
            async with db.write() as conn:
                for _ in range(2):
                    await conn.execute(
                        insert(users).values(email="a@acme.com", name="A", created_at=0)
                    )
        except Exception as exc:
            duplicate = exc
        assert isinstance(duplicate, sqlalchemy.exc.IntegrityError)
        for bug in (syntax, missing_table, duplicate):
            assert not is_storage_failure(bug), repr(bug)

        if db.is_sqlite:
            return
        timeout = await _error_of(["SET LOCAL statement_timeout = 1", "SELECT pg_sleep(1)"], db)
        assert is_storage_failure(timeout), repr(timeout)
        killed: BaseException | None = None
        async with db.read() as conn:
            pid = (await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one()
            killer = await asyncpg.connect(pg_dsn(database_url))
            try:
                assert await killer.fetchval("SELECT pg_terminate_backend($1)", pid)
            finally:
                await killer.close()
            try:
                await conn.exec_driver_sql("SELECT 1")
            except Exception as exc:
                killed = exc
        assert isinstance(killed, sqlalchemy.exc.DBAPIError), repr(killed)
        assert is_storage_failure(killed), repr(killed)
    finally:
        await db.dispose()


def test_sqlite_errors_are_classified_by_result_code(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    holder = sqlite3.connect(path, isolation_level=None)
    waiter = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as locked:
            waiter.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as cannot_open:
            sqlite3.connect(tmp_path / "no" / "such" / "dir.db")
        with pytest.raises(sqlite3.OperationalError) as syntax:
            waiter.execute("SELEC 1")
    finally:
        holder.close()
        waiter.close()
    assert locked.value.sqlite_errorcode == sqlite3.SQLITE_BUSY
    assert is_storage_failure(locked.value)
    assert is_storage_failure(cannot_open.value)
    assert not is_storage_failure(syntax.value)
