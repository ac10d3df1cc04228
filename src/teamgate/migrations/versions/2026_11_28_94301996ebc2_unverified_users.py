"""unverified users

Revision ID: 94301996ebc2
Revises: 0e24ba0f9351
Create Date: 2026-11-28 13:11:32.915206
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "94301996ebc2"
down_revision: str | None = "0e24ba0f9351"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unverified_account_id", sa.Integer(), nullable=True))
    # Users who joined by accepting an invitation as new users chose their password through a
    # link their inviter held too: their password opens the account of their first acceptance
    # only. Founders (created by the operator) stay verified.
    op.execute(
        """
        UPDATE users SET unverified_account_id = (
            SELECT a.account_id FROM audit_log a
            WHERE a.action = 'invitation.accept' AND a.actor_user_id = users.id
              AND a.outcome = 'success'
            ORDER BY a.id LIMIT 1
        )
        WHERE NOT EXISTS (
            SELECT 1 FROM audit_log f
            WHERE f.action = 'account.create' AND f.actor_user_id = users.id
        )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("unverified_account_id")
