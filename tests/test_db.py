"""The database URL: driver options reach both the SQLAlchemy engine and the raw reader."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from teamgate import db as db_module
from teamgate.accounts.service import create_account
from teamgate.config import Settings
from teamgate.db import Database
from tests.support.api import call


async def test_driver_options_in_the_database_url_reach_both_paths(
    postgres_url: str, tmp_path: object
) -> None:
    from teamgate.app import create_app

    url = f"{postgres_url}?sslmode=disable&prepared_statement_cache_size=100"
    app = create_app(Settings(database_url=url, data_dir=str(tmp_path), secret_key="k" * 40))
    async with app.router.lifespan_context(app):
        created = await create_account(app.state.ctx.db, name="Ssl", admin_email="ssl@ssl-test.com")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            team = await call(http, "getTeamData", key=created.api_key)
            roles = await call(http, "getRoleHierarchy", key=created.api_key)
    assert team.status_code == 200
    assert team.json()[0]["login"] == "ssl@ssl-test.com"
    assert roles.status_code == 200


async def test_a_processs_sqlite_writers_take_turns_instead_of_polling_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no time to wait on SQLite's own lock, writers that overlap still all commit: the
    process queues them before they ask SQLite for it."""
    monkeypatch.setattr(db_module, "SQLITE_BUSY_TIMEOUT_MS", 0)
    database = Database(f"sqlite:///{tmp_path / 'turns.db'}")
    try:
        async with database.write() as conn:
            await conn.exec_driver_sql("CREATE TABLE hits (n INTEGER)")

        async def write(n: int) -> None:
            async with database.write() as conn:
                await conn.exec_driver_sql("INSERT INTO hits VALUES (?)", (n,))
                await asyncio.sleep(0.01)  # the others arrive while this one holds the lock

        await asyncio.gather(*(write(n) for n in range(12)))

        async with database.read() as conn:
            found = (await conn.exec_driver_sql("SELECT count(*) FROM hits")).scalar_one()
        assert found == 12
    finally:
        await database.dispose()
