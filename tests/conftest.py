"""Fixtures and factories: every test runs on SQLite and on PostgreSQL against the migrated schema.

Migrations run once per backend per test session (which tests them too). Each test then gets
a clean database: a copy of the migrated SQLite file, or the PostgreSQL test database with
every table emptied.
"""

from __future__ import annotations

import asyncio
import gc
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.engine import make_url

from teamgate import security
from teamgate.accounts.service import CreatedAccount, create_account
from teamgate.app import create_app
from teamgate.auth.repository import create_api_key
from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.db import now
from teamgate.models import memberships, users
from teamgate.security import hash_password
from tests.support import PASSWORD, PUBLIC_ORIGIN
from tests.support.backends import (
    BACKENDS,
    POSTGRES_ADMIN_URL,
    clear_postgres,
    migrate_database,
    pg_dsn,
)
from tests.support.cheap_teamgate import CHEAP_HASHER
from tests.support.smtp import SmtpServer, smtp_server

# argon2's cheapest parameters in every test (test_security checks the real ones), and in the
# servers the tests start (they run tests/support/cheap_teamgate.py).
security.use_hasher(CHEAP_HASHER)


def pytest_collection_finish(session: pytest.Session) -> None:
    """What is imported and collected by now lives until the end: the garbage collector need
    not scan it again (full collections are then fewer and cheaper)."""
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "teamgate.db"
    asyncio.run(migrate_database(f"sqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway database on the local PostgreSQL, migrated once, dropped at the end."""
    name = f"teamgate_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = pg_dsn(POSTGRES_ADMIN_URL)

    async def admin_sql(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin_sql(f'CREATE DATABASE "{name}"'))
    except OSError as exc:  # pragma: no cover - a machine without PostgreSQL
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({exc}); start it, or set "
            "TEAMGATE_TEST_BACKENDS=sqlite to run on SQLite only"
        )
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(migrate_database(url))
    yield url
    asyncio.run(admin_sql(f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A clean, migrated database of each backend."""
    if request.param == "sqlite":
        path = tmp_path / "teamgate.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    clear_postgres(url)
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        public_url=[PUBLIC_ORIGIN, "https://teams.example.com"],
        secret_key="test-signing-key-" + "x" * 32,
        rate_limit_storage="memory://",
        mail_worker=False,  # tests deliver the outbox themselves (tests/mail), when they mean to
    )


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""
    with smtp_server() as server:
        yield server


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def ctx(app: Any) -> AppContext:
    context: AppContext = app.state.ctx
    return context


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_ORIGIN) as http:
        yield http


# --- factories -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    user_id: int
    email: str
    api_key: str
    account_id: int


async def make_account(
    ctx: AppContext,
    name: str = "Acme",
    admin_email: str = "admin@acme.com",
    password: str | None = PASSWORD,
) -> Member:
    created: CreatedAccount = await create_account(
        ctx.db, name=name, admin_email=admin_email, admin_name="Ada Admin", admin_password=password
    )
    return Member(created.user_id, admin_email, created.api_key, created.account_id)


@pytest.fixture
async def acme(ctx: AppContext) -> Member:
    """The founding ADMIN of Acme (no password: nothing here logs in unless it says so)."""
    return await make_account(ctx, password=None)


_hashes: dict[str, str] = {}


async def password_hash_of(password: str) -> str:
    """argon2 is slow on purpose; tests reuse one hash per password."""
    if password not in _hashes:
        _hashes[password] = await hash_password(password)
    return _hashes[password]


async def make_member(
    ctx: AppContext,
    account_id: int,
    email: str,
    role: str = "MEMBER",
    *,
    name: str | None = None,
    password: str | None = PASSWORD,
) -> Member:
    """A member with an API key; an existing user (of another account) joins as is."""
    at = now()
    password_hash = await password_hash_of(password) if password else None
    async with ctx.db.write() as conn:
        user_id = (
            await conn.execute(select(users.c.id).where(users.c.email == email))
        ).scalar_one_or_none()
        if user_id is None:
            user_id = (
                await conn.execute(
                    insert(users)
                    .values(
                        email=email,
                        name=name or email.split("@")[0],
                        password_hash=password_hash,
                        created_at=at,
                    )
                    .returning(users.c.id)
                )
            ).scalar_one()
        await conn.execute(
            insert(memberships).values(
                account_id=account_id, user_id=user_id, role=role, created_at=at
            )
        )
        key = await create_api_key(conn, account_id=account_id, user_id=user_id, name="test", at=at)
    return Member(user_id, email, key.key, account_id)


async def give_password(ctx: AppContext, user: Member, password: str = PASSWORD) -> Member:
    """Set a user's password, after the fact."""
    password_hash = await password_hash_of(password)
    async with ctx.db.write() as conn:
        await conn.execute(
            update(users).where(users.c.id == user.user_id).values(password_hash=password_hash)
        )
    return user


async def new_account(ctx: AppContext, *, can_login: bool = True, **kwargs: Any) -> Member:
    """An account and its founding ADMIN (with the test PASSWORD when ``can_login``)."""
    admin = await make_account(ctx, password=None, **kwargs)
    return await give_password(ctx, admin) if can_login else admin


async def new_member(
    ctx: AppContext, account_id: int, email: str, role: str = "MEMBER", *, can_login: bool = False
) -> Member:
    created = await make_member(ctx, account_id, email, role, password=None)
    return await give_password(ctx, created) if can_login else created
