"""Alembic environment: runs on the connection handed over by ``teamgate.migrate``."""

from alembic import context
from sqlalchemy import text

from teamgate.models import PREFIX_SEARCH_INDEXES, metadata

MIGRATION_LOCK_ID = 7_421_905_113  # any constant; serialises concurrent upgrades on PostgreSQL


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, other: object
) -> bool:
    """Everything but the expression indexes, which Alembic cannot compare (see models.py)."""
    return not (type_ == "index" and name in PREFIX_SEARCH_INDEXES)


connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    # ``teamgate.migrate.check`` may compare against another metadata (tests build a modified copy)
    target_metadata=context.config.attributes.get("target_metadata", metadata),
    render_as_batch=connection.dialect.name == "sqlite",
    # `teamgate db check` must see every difference a migration would have to make
    compare_type=True,
    compare_server_default=True,
    include_object=include_object,
)
with context.begin_transaction():
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"))
    context.run_migrations()
