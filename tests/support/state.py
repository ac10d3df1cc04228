"""What the database holds, for tests that assert a refused request changed nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from teamgate.context import AppContext
from teamgate.models import (
    account_email_domains,
    accounts,
    api_keys,
    custom_roles,
    invitations,
    memberships,
    sessions,
    users,
)


async def snapshot(ctx: AppContext) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a denied request must leave as it was (the audit log may grow)."""
    tables = {
        "users": users, "memberships": memberships, "invitations": invitations,
        "api_keys": api_keys, "sessions": sessions, "accounts": accounts,
        "account_email_domains": account_email_domains, "custom_roles": custom_roles,
    }  # fmt: skip
    async with ctx.db.read() as conn:
        return {
            name: sorted(tuple(row) for row in await conn.execute(select(table)))
            for name, table in tables.items()
        }
