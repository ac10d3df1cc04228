"""Every query about invitations and the account settings they depend on."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate.db import dialect_insert
from teamgate.models import account_email_domains, accounts, invitations, users


@dataclass(frozen=True, slots=True)
class PendingInvitation:
    id: int
    account_id: int
    account_name: str
    email: str
    name: str | None
    role: str
    expires_at: int
    jti: str


async def invites_enabled(conn: AsyncConnection, account_id: int) -> bool:
    enabled: bool = (
        await conn.execute(select(accounts.c.invites_enabled).where(accounts.c.id == account_id))
    ).scalar_one()
    return enabled


async def allowed_domains(conn: AsyncConnection, account_id: int) -> list[str]:
    rows = await conn.execute(
        select(account_email_domains.c.domain).where(
            account_email_domains.c.account_id == account_id
        )
    )
    return list(rows.scalars())


async def upsert(
    conn: AsyncConnection,
    *,
    account_id: int,
    email: str,
    name: str | None,
    role: str,
    inviter_id: int,
    jti: str,
    created_at: int,
    expires_at: int,
) -> None:
    """Create the invitation, or replace the pending one (and with it, its code)."""
    values = {
        "name": name,
        "role": role,
        "inviter_id": inviter_id,
        "jti": jti,
        "created_at": created_at,
        "expires_at": expires_at,
    }
    stmt = dialect_insert(conn, invitations).values(account_id=account_id, email=email, **values)
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=["account_id", "email"], set_=values)
    )


async def pending_inviter(conn: AsyncConnection, account_id: int, email: str) -> int | None:
    """Who sent the pending invitation for this email (None if there is none, or no inviter)."""
    inviter: int | None = (
        await conn.execute(
            select(invitations.c.inviter_id).where(
                invitations.c.account_id == account_id, invitations.c.email == email
            )
        )
    ).scalar_one_or_none()
    return inviter


async def pending_by_jti(conn: AsyncConnection, jti: str, at: int) -> PendingInvitation | None:
    row = (
        await conn.execute(
            select(
                invitations.c.id,
                invitations.c.account_id,
                accounts.c.name,
                invitations.c.email,
                invitations.c.name,
                invitations.c.role,
                invitations.c.expires_at,
                invitations.c.jti,
            )
            .join(accounts, accounts.c.id == invitations.c.account_id)
            .where(invitations.c.jti == jti, invitations.c.expires_at > at)
        )
    ).first()
    return PendingInvitation(*row) if row else None


async def consume(conn: AsyncConnection, invitation_id: int, jti: str, at: int) -> str | None:
    """Delete the invitation if it still holds this code and is unexpired: the one-use gate.

    Of any number of concurrent calls, exactly one gets the role back; the rest get None.
    """
    result = await conn.execute(
        delete(invitations)
        .where(
            invitations.c.id == invitation_id,
            invitations.c.jti == jti,
            invitations.c.expires_at > at,
        )
        .returning(invitations.c.role)
    )
    role: str | None = result.scalar_one_or_none()
    return role


async def user_by_email(conn: AsyncConnection, email: str) -> tuple[int, str | None] | None:
    row = (
        await conn.execute(select(users.c.id, users.c.password_hash).where(users.c.email == email))
    ).first()
    return (row[0], row[1]) if row else None


async def delete_for_email(
    conn: AsyncConnection, account_id: int, email: str, inviter_id: int | None
) -> bool:
    """Delete a pending invitation; restricted to one inviter's own when ``inviter_id`` is set."""
    stmt = delete(invitations).where(
        invitations.c.account_id == account_id, invitations.c.email == email
    )
    if inviter_id is not None:
        stmt = stmt.where(invitations.c.inviter_id == inviter_id)
    return bool((await conn.execute(stmt)).rowcount)
