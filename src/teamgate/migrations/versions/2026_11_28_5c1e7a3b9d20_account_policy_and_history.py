"""account policy, last account, membership history

Revision ID: 5c1e7a3b9d20
Revises: 94301996ebc2
Create Date: 2026-11-28 16:40:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c1e7a3b9d20"
down_revision: str | None = "94301996ebc2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "who_can_invite",
                sa.String(length=20),
                server_default=sa.text("'ADMINS_AND_MEMBERS'"),
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column(
                "invite_lifetime_days", sa.Integer(), server_default=sa.text("7"), nullable=False
            )
        )
        batch_op.add_column(sa.Column("seat_limit", sa.Integer(), nullable=True))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_account_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("actor", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("role_before", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("role_after", sa.String(length=50), nullable=True))
        batch_op.create_index("ix_audit_log_account_id", ["account_id", "id"], unique=False)
    _backfill_history()


def _backfill_history() -> None:
    """Earlier events kept roles in a free-text ``detail``: move them to the role columns, name
    each actor by email, and turn ``detail`` into a JSON object, so the history replays."""
    bind = op.get_bind()
    audit = sa.table(
        "audit_log",
        sa.column("id", sa.Integer),
        sa.column("actor_user_id", sa.Integer),
        sa.column("actor", sa.String),
        sa.column("action", sa.String),
        sa.column("role_before", sa.String),
        sa.column("role_after", sa.String),
        sa.column("detail", sa.Text),
    )
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("email", sa.String))
    # Set-based where it can be (most events, logins among them, carry no detail)...
    bind.execute(
        audit.update()
        .where(audit.c.actor_user_id.is_not(None))
        .values(
            actor=sa.select(users.c.email)
            .where(users.c.id == audit.c.actor_user_id)
            .scalar_subquery()
        )
    )
    bind.execute(
        audit.update().where(audit.c.action == "account.create").values(role_after="ADMIN")
    )
    # ...and row by row for the free-text details.
    rows = bind.execute(
        sa.select(audit.c.id, audit.c.action, audit.c.detail).where(audit.c.detail.is_not(None))
    ).all()
    for event_id, action, detail in rows:
        values: dict[str, str | None] = {"detail": None}
        if action in ("invitation.create", "invitation.accept"):
            values["role_after"] = detail
        elif action == "member.role_change" and " -> " in detail:
            values["role_before"], values["role_after"] = detail.split(" -> ", 1)
        elif action == "role.create":
            values["detail"] = json.dumps({"baseRole": detail})
        elif action == "role.update" and " -> " in detail:
            old, new = detail.split(" -> ", 1)
            values["detail"] = json.dumps({"baseRoleBefore": old, "baseRoleAfter": new})
        else:
            values["detail"] = json.dumps({"note": detail})
        bind.execute(audit.update().where(audit.c.id == event_id).values(**values))


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_account_id")
        batch_op.drop_column("role_after")
        batch_op.drop_column("role_before")
        batch_op.drop_column("actor")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("last_account_id")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("seat_limit")
        batch_op.drop_column("invite_lifetime_days")
        batch_op.drop_column("who_can_invite")
