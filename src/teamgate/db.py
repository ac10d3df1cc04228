"""Engines and transactions.

SQLite gets two engines on one file: readers begin deferred transactions, writers begin with
``BEGIN IMMEDIATE`` so that every write transaction holds the database's write lock from its
first statement (checks inside it cannot go stale). PostgreSQL gets one engine; write
transactions that guard an invariant lock the account row with ``SELECT ... FOR NO KEY UPDATE``.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_READ_THREADS = 2  # SQLite's slow reads, off the event loop (see RawReader)
RAW_QUERY_TIMEOUT_SECONDS = 30  # a stalled database becomes a 503 (TimeoutError), not a hang


def async_url(url: str) -> str:
    """Accept plain ``sqlite:///`` and ``postgresql://`` URLs and pick the async driver."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend in ("postgresql", "postgres"):
        query = dict(parsed.query)
        if "sslmode" in query:  # libpq's spelling; asyncpg calls it ssl
            query["ssl"] = query.pop("sslmode")
        asyncpg_url = parsed.set(drivername="postgresql+asyncpg", query=query)
        return asyncpg_url.render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")


def now() -> int:
    return int(time.time())


def _sqlite_engine(url: str, begin: str) -> AsyncEngine:
    engine = create_async_engine(url)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine


_NAMED_PARAM = re.compile(r"(?<!:):(\w+)")


def _positional(sql: str) -> tuple[str, list[str]]:
    """``:name`` parameters (sqlite3's style) as asyncpg's ``$1``; ``::type`` casts untouched."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _NAMED_PARAM.sub(number, sql), names


# Query parameters that asyncpg's DSN parser understands; anything else in the URL is meant
# for SQLAlchemy's dialect and would reach PostgreSQL as an unknown server setting.
_ASYNCPG_DSN_PARAMS = {"host", "port", "sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl"}


def _asyncpg_dsn(url: URL) -> str:
    query = {"sslmode" if k == "ssl" else k: v for k, v in url.query.items()}
    query = {k: v for k, v in query.items() if k in _ASYNCPG_DSN_PARAMS}
    dsn = url.set(drivername="postgresql", query=query)
    return dsn.render_as_string(hide_password=False)


def _first_row(
    conn: sqlite3.Connection, sql: str, params: dict[str, Any]
) -> tuple[Any, ...] | None:
    # fetchall() steps the statement to its end, so no read transaction stays open.
    rows: list[tuple[Any, ...]] = conn.execute(sql, params).fetchall()
    return rows[0] if rows else None


class RawReader:
    """The hottest reads on the bare driver: asyncpg's pool with its prepared-statement cache,
    or one sqlite3 connection used from the event loop (WAL readers never wait for writers).

    SQLAlchemy's async layer costs a few hundred microseconds per statement; a read that runs
    on every API call should not pay that.
    """

    def __init__(self, url: str, dialect: str, pool_size: int) -> None:
        self._url = make_url(url)
        self._dialect = dialect
        self._pool_size = pool_size
        self._pg_pool: asyncpg.Pool | None = None
        self._pg_lock: asyncio.Lock | None = None
        self._pg_sql: dict[str, tuple[str, list[str]]] = {}
        self._sqlite: sqlite3.Connection | None = None
        # Slow SQLite reads: a few threads, each with its own connection.
        self._threads = ThreadPoolExecutor(SQLITE_READ_THREADS, thread_name_prefix="sqlite-read")
        self._per_thread = threading.local()
        self._thread_lock = threading.Lock()
        self._thread_connections: list[sqlite3.Connection] = []

    async def fetchrow(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row of a read-only query written with ``:name`` parameters. On SQLite it
        runs on the event loop: for small, indexed reads only (see ``fetchrow_off_loop``)."""
        if self._dialect == "sqlite":
            return _first_row(self._sqlite_connection(), sql, params)
        return await self._pg_fetchrow(sql, params)

    async def fetchrow_off_loop(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """``fetchrow`` for a read that takes a while: on SQLite it runs in a worker thread, on
        a connection of that thread's (sqlite3 lets go of the GIL while SQLite works), so the
        event loop goes on serving other requests."""
        if self._dialect == "sqlite":
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._threads, lambda: _first_row(self._thread_connection(), sql, params)
            )
        return await self._pg_fetchrow(sql, params)

    async def _pg_fetchrow(self, sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
        if sql not in self._pg_sql:
            self._pg_sql[sql] = _positional(sql)
        query, names = self._pg_sql[sql]
        pool = self._pg_pool or await self._open_pool()
        record = await pool.fetchrow(
            query, *(params[name] for name in names), timeout=RAW_QUERY_TIMEOUT_SECONDS
        )
        return tuple(record) if record is not None else None

    def _sqlite_connection(self) -> sqlite3.Connection:
        if self._sqlite is None:
            self._sqlite = self._sqlite_reader()
        return self._sqlite

    def _thread_connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._per_thread, "conn", None)
        if conn is None:
            conn = self._sqlite_reader()
            self._per_thread.conn = conn
            with self._thread_lock:
                self._thread_connections.append(conn)
        return conn

    def _sqlite_reader(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._url.database or "", isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA query_only=ON")
        return conn

    async def _open_pool(self) -> asyncpg.Pool:
        self._pg_lock = self._pg_lock or asyncio.Lock()
        async with self._pg_lock:
            if self._pg_pool is None:
                dsn = _asyncpg_dsn(self._url)
                try:
                    self._pg_pool = await asyncpg.create_pool(
                        dsn, min_size=1, max_size=self._pool_size
                    )
                except asyncpg.PostgresError as exc:  # e.g. a refused login: storage unavailable
                    raise ConnectionError("PostgreSQL refused the connection") from exc
        return self._pg_pool

    @property
    def pg_pool(self) -> asyncpg.Pool | None:
        """The asyncpg pool, once the first read on PostgreSQL opened it."""
        return self._pg_pool

    async def close(self) -> None:
        if self._pg_pool is not None:
            await self._pg_pool.close()
            self._pg_pool = None
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        self._threads.shutdown(wait=True)
        with self._thread_lock:
            for conn in self._thread_connections:
                conn.close()
            self._thread_connections.clear()


class Database:
    """The storage of one server process: a reader and a writer engine (the same on PostgreSQL),
    and a raw reader for the hot path."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = async_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        if self.is_sqlite:
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.writer = _sqlite_engine(self.url, "BEGIN IMMEDIATE")
            self.reader = _sqlite_engine(self.url, "BEGIN")
        else:
            self.writer = create_async_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False
            )
            self.reader = self.writer
        self.raw = RawReader(self.url, self.dialect, pool_size)
        self._write_turn = asyncio.Lock() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.reader.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction, committed when the block ends without an error.

        On SQLite the process's writers take turns here: SQLite admits one writer at a time,
        and a second one waiting on the database's lock polls for it with growing sleeps (its
        busy handler), so without this queue a burst of writes waits far longer than it works.
        Other processes on the same file still wait on the database's lock."""
        if self._write_turn is None:
            async with self.writer.begin() as conn:
                yield conn
            return
        async with self._write_turn, self.writer.begin() as conn:
            yield conn

    async def dispose(self) -> None:
        await self.raw.close()
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


def dialect_insert(conn: AsyncConnection, table: Any) -> Any:
    """An INSERT that knows ``ON CONFLICT`` for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)
