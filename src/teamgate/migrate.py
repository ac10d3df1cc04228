"""Schema changes, by Alembic migrations only."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.config import Config

from teamgate.db import Database


def _config(connection: Any) -> Config:
    config = Config()
    config.set_main_option("script_location", "teamgate:migrations")
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


async def upgrade(database: Database, revision: str = "head") -> None:
    """Apply every pending migration (safe to run from several processes at once)."""
    async with database.writer.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(_config(sync), revision))


async def revision(database: Database, message: str) -> None:
    """Autogenerate a new migration from the models (a developer command)."""
    async with database.writer.begin() as conn:
        await conn.run_sync(
            lambda sync: command.revision(_config(sync), message=message, autogenerate=True)
        )
