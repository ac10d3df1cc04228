"""The migrations build exactly the schema models.py describes, on each backend."""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import (
    Column,
    DefaultClause,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    false,
    text,
)
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from teamgate import audit, cli, migrate, models
from teamgate.db import Database
from tests.support.backends import BACKENDS, POSTGRES_ADMIN_URL, migrate_database, pg_dsn


async def _admin_sql(sql: str) -> None:
    conn = await asyncpg.connect(pg_dsn(POSTGRES_ADMIN_URL))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def _untouched_database(backend: str, directory: Path) -> Iterator[str]:
    """A database of the backend that no migration has touched yet, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'empty.db'}"
        return
    name = f"teamgate_migrations_{secrets.token_hex(4)}"
    asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin_sql(f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of each backend that no migration has touched yet."""
    with _untouched_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="module", params=BACKENDS)
def migrated_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database of each backend that the migrations built, once for this module: the checks
    that use it only read its schema."""
    with _untouched_database(request.param, tmp_path_factory.mktemp("migrated")) as url:
        asyncio.run(migrate_database(url))
        yield url


@pytest.fixture
async def migrated(migrated_url: str) -> AsyncIterator[Database]:
    database = Database(migrated_url)
    yield database
    await database.dispose()


def _copy_of_the_models() -> MetaData:
    copy = MetaData(naming_convention=models.metadata.naming_convention)
    for table in models.metadata.sorted_tables:
        table.to_metadata(copy)
    return copy


def _with_nickname() -> MetaData:
    """A copy of the models' metadata whose users table has a column no migration adds."""
    copy = _copy_of_the_models()
    copy.tables["users"].append_column(Column("nickname", String(50), nullable=True))
    return copy


async def test_the_migrations_match_the_models(migrated: Database) -> None:
    assert await migrate.check(migrated) == []


async def test_the_search_indexes_the_check_leaves_out_are_built(migrated: Database) -> None:
    """Alembic cannot compare expression indexes: read them back from each database."""
    async with migrated.read() as conn:
        if migrated.is_sqlite:
            rows = await conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'users'"
            )
        else:
            rows = await conn.exec_driver_sql(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'users'"
            )
        pairs: list[tuple[str, str | None]] = [tuple(row) for row in rows]
        found = {name: re.sub(r"\s+", " ", definition or "") for name, definition in pairs}
    if migrated.is_sqlite:
        assert "(lower(name))" in found["ix_users_lower_name"]
        expected = {"ix_users_lower_name"}
    else:
        assert 'USING btree (email COLLATE "C")' in found["ix_users_email_c"]
        assert 'USING btree (lower((name)::text) COLLATE "C")' in found["ix_users_lower_name_c"]
        expected = {"ix_users_email_c", "ix_users_lower_name_c"}
    assert expected <= set(found)
    assert (models.PREFIX_SEARCH_INDEXES - expected).isdisjoint(found)


def test_heads_read_from_the_scripts_are_alembics() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", "teamgate:migrations")
    assert migrate.heads() == frozenset(ScriptDirectory.from_config(config).get_heads())


async def test_upgrade_if_behind_migrates_only_a_database_behind(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    try:
        assert await migrate.applied(database) == frozenset()
        assert await migrate.upgrade_if_behind(database) is True
        assert await migrate.applied(database) == migrate.heads()
        assert await migrate.upgrade_if_behind(database) is False
    finally:
        await database.dispose()


async def test_check_lists_a_column_the_migrations_lack(migrated: Database) -> None:
    drifted = _with_nickname()

    assert await migrate.check(migrated, drifted) == ["add_column users.nickname VARCHAR(50)"]
    assert "nickname" not in models.metadata.tables["users"].c


async def test_check_compares_types_server_defaults_indexes_and_tables(migrated: Database) -> None:
    drifted = _copy_of_the_models()
    drifted.tables["users"].c.name.type = String(100)
    invites_enabled = drifted.tables["accounts"].c.invites_enabled
    invites_enabled.server_default = DefaultClause(false())
    invites_enabled.server_default.column = invites_enabled
    Index("ix_users_name", drifted.tables["users"].c.name)
    Table("extra", drifted, Column("id", Integer, primary_key=True))

    differences = sorted(await migrate.check(migrated, drifted))

    assert differences[0] == "add_index ix_users_name on users (name)"
    assert differences[1] == "add_table extra"
    # the reflected default reads "true" on PostgreSQL, "(true)" on SQLite
    assert re.fullmatch(
        r"modify_default accounts.invites_enabled: \(?true\)? -> false", differences[2]
    )
    assert differences[3:] == ["modify_type users.name: VARCHAR(200) -> VARCHAR(100)"]


def test_db_check_command(
    empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    env = {"TEAMGATE_DATABASE_URL": empty_database_url, "TEAMGATE_DATA_DIR": str(tmp_path)}

    def teamgate_db(command: str) -> tuple[int, str]:
        result = runner.invoke(cli.app, ["db", command], env=env)
        return result.exit_code, result.stderr

    assert teamgate_db("check") == (
        2, "Target database is not up to date. Run `teamgate db upgrade` first.\n"
    )  # fmt: skip
    assert teamgate_db("upgrade")[0] == 0
    assert teamgate_db("check") == (0, "The migrations match models.py.\n")
    # What a developer sees after adding a column to models.py without a migration:
    monkeypatch.setattr(models, "metadata", _with_nickname())
    code, output = teamgate_db("check")
    assert code == 1
    assert output.splitlines() == [
        "models.py and the migrations disagree. A new migration would have to:",
        "  add_column users.nickname VARCHAR(50)",
    ]


async def test_earlier_history_is_moved_into_the_new_columns(empty_database_url: str) -> None:
    """Events written before the history had role columns replay like new ones."""
    db = Database(empty_database_url)
    try:
        await migrate.upgrade(db, "94301996ebc2")
        async with db.write() as conn:
            await conn.execute(
                text(
                    "INSERT INTO accounts (id, name, invites_enabled, created_at)"
                    " VALUES (1, 'Acme', true, 1)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO users (id, email, name, created_at) VALUES"
                    " (1, 'ada@acme.com', 'Ada', 1), (2, 'bob@acme.com', 'Bob', 1)"
                )
            )
            old_events = [
                (10, 1, "account.create", "ada@acme.com", None),
                (20, 1, "role.create", "OPS", "MEMBER"),
                (30, 1, "invitation.create", "bob@acme.com", "OPS"),
                (40, 2, "invitation.accept", "bob@acme.com", "OPS"),
                (50, 1, "member.role_change", "bob@acme.com", "OPS -> VIEWER"),
                (60, 1, "api_key.delete", "7", None),
            ]
            for at, actor, action, target, detail in old_events:
                await conn.execute(
                    text(
                        "INSERT INTO audit_log (at, account_id, actor_user_id, action, target,"
                        " outcome, detail) VALUES (:at, 1, :actor, :action, :target, 'success',"
                        " :detail)"
                    ),
                    {
                        "at": at,
                        "actor": actor,
                        "action": action,
                        "target": target,
                        "detail": detail,
                    },
                )
        await migrate.upgrade(db)

        async with db.read() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT action, actor, role_before, role_after, detail FROM audit_log"
                        " ORDER BY id"
                    )
                )
            ).all()
            assert [tuple(row) for row in rows] == [
                ("account.create", "ada@acme.com", None, "ADMIN", None),
                ("role.create", "ada@acme.com", None, None, '{"baseRole": "MEMBER"}'),
                ("invitation.create", "ada@acme.com", None, "OPS", None),
                ("invitation.accept", "bob@acme.com", None, "OPS", None),
                ("member.role_change", "ada@acme.com", "OPS", "VIEWER", None),
                ("api_key.delete", "ada@acme.com", None, None, None),
            ]
            at_45 = await audit.members_at(conn, 1, 45)
            at_55 = await audit.members_at(conn, 1, 55)
        assert [(m.email, m.role) for m in at_45] == [
            ("ada@acme.com", "ADMIN"),
            ("bob@acme.com", "OPS"),
        ]
        assert [(m.email, m.role, m.user_id) for m in at_55][1] == ("bob@acme.com", "VIEWER", 2)
    finally:
        await db.dispose()
