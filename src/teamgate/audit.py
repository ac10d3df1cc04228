"""The membership history: who did what to whom, when, and how it ended. Never a secret."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate.db import now
from teamgate.models import audit_log


async def record(
    conn: AsyncConnection,
    action: str,
    *,
    outcome: str = "success",
    account_id: int | None = None,
    actor_user_id: int | None = None,
    target: str | None = None,
    detail: str | None = None,
    request_id: str | None = None,
) -> None:
    await conn.execute(
        insert(audit_log).values(
            at=now(),
            request_id=request_id,
            account_id=account_id,
            actor_user_id=actor_user_id,
            action=action,
            target=target,
            outcome=outcome,
            detail=detail,
        )
    )
