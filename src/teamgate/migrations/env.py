"""Alembic environment: runs on the connection handed over by ``teamgate.migrate``."""

from alembic import context
from sqlalchemy import text

from teamgate.models import metadata

MIGRATION_LOCK_ID = 7_421_905_113  # any constant; serialises concurrent upgrades on PostgreSQL

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    # ``teamgate.migrate.check`` may compare against another metadata (tests build a modified copy)
    target_metadata=context.config.attributes.get("target_metadata", metadata),
    render_as_batch=connection.dialect.name == "sqlite",
    # `teamgate db check` must see every difference a migration would have to make
    compare_type=True,
    compare_server_default=True,
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"))
    context.run_migrations()
