"""The membership history (the ``audit_log`` table): who did what to whom, when, and how it
ended. Append-only; never a secret. Services write it through ``Tx.record``."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate.models import audit_log


@dataclass(frozen=True, slots=True)
class Event:
    at: int
    action: str
    outcome: str
    request_id: str | None
    account_id: int | None
    actor_user_id: int | None
    target: str | None
    detail: str | None


async def append(conn: AsyncConnection, event: Event) -> None:
    await conn.execute(
        insert(audit_log).values(
            at=event.at,
            request_id=event.request_id,
            account_id=event.account_id,
            actor_user_id=event.actor_user_id,
            action=event.action,
            target=event.target,
            outcome=event.outcome,
            detail=event.detail,
        )
    )
