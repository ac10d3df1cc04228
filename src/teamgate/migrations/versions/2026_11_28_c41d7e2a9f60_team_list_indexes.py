"""indexes for the team list's keyset pages and its prefix search

Revision ID: c41d7e2a9f60
Revises: 3f7a9c2e5b81
Create Date: 2026-11-28 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c41d7e2a9f60"
down_revision: str | None = "3f7a9c2e5b81"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYSET = {
    "memberships": ("ix_memberships_account_id_id", "ix_memberships_account_id_role_id"),
    "invitations": ("ix_invitations_account_id_id", "ix_invitations_account_id_role_id"),
}


def upgrade() -> None:
    for table, (by_id, by_role) in KEYSET.items():
        op.create_index(by_id, table, ["account_id", "id"])
        op.create_index(by_role, table, ["account_id", "role", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.create_index("ix_users_email_c", "users", [sa.text('email COLLATE "C"')])
        op.create_index("ix_users_lower_name_c", "users", [sa.text('lower(name) COLLATE "C"')])
    else:
        op.create_index("ix_users_lower_name", "users", [sa.text("lower(name)")])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_users_lower_name_c", "users")
        op.drop_index("ix_users_email_c", "users")
    else:
        op.drop_index("ix_users_lower_name", "users")
    for table, (by_id, by_role) in KEYSET.items():
        op.drop_index(by_role, table)
        op.drop_index(by_id, table)
