"""The ``invitations`` table: every query on it.

One row per pending (account, email). Accepting, replacing or revoking an invitation deletes or
rewrites its row, so the row and its ``jti`` decide whether a code still works.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate.db import dialect_insert
from teamgate.models import invitations


@dataclass(frozen=True, slots=True)
class Invitation:
    id: int
    account_id: int
    email: str
    name: str | None
    role: str
    inviter_id: int | None
    jti: str
    expires_at: int
    created_at: int  # when its code was issued (the code's ``iat``)


_COLUMNS = (
    invitations.c.id,
    invitations.c.account_id,
    invitations.c.email,
    invitations.c.name,
    invitations.c.role,
    invitations.c.inviter_id,
    invitations.c.jti,
    invitations.c.expires_at,
    invitations.c.created_at,
)


async def upsert(
    conn: AsyncConnection,
    *,
    account_id: int,
    email: str,
    name: str | None,
    role: str,
    inviter_id: int | None,
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


async def pending_inviter(
    conn: AsyncConnection, account_id: int, email: str
) -> tuple[bool, int | None]:
    """(whether an invitation for this email is pending, who sent it: None for the operator)."""
    row = (
        await conn.execute(
            select(invitations.c.inviter_id).where(
                invitations.c.account_id == account_id, invitations.c.email == email
            )
        )
    ).first()
    return (False, None) if row is None else (True, row[0])


async def pending_count(
    conn: AsyncConnection, account_id: int, *, besides: str | None = None
) -> int:
    """How many invitations are pending in the account (besides the one for ``besides``)."""
    query = (
        select(func.count()).select_from(invitations).where(invitations.c.account_id == account_id)
    )
    if besides is not None:
        query = query.where(invitations.c.email != besides)
    count: int = (await conn.execute(query)).scalar_one()
    return count


async def pending_for_email(
    conn: AsyncConnection, account_id: int, email: str
) -> Invitation | None:
    row = (
        await conn.execute(
            select(*_COLUMNS).where(
                invitations.c.account_id == account_id, invitations.c.email == email
            )
        )
    ).first()
    return Invitation(*row) if row else None


async def is_pending(conn: AsyncConnection, account_id: int, email: str) -> bool:
    found = await conn.execute(
        select(invitations.c.id).where(
            invitations.c.account_id == account_id, invitations.c.email == email
        )
    )
    return found.first() is not None


async def pending_by_jti(conn: AsyncConnection, jti: str, at: int) -> Invitation | None:
    """The unexpired invitation that holds this code."""
    row = (
        await conn.execute(
            select(*_COLUMNS).where(invitations.c.jti == jti, invitations.c.expires_at > at)
        )
    ).first()
    return Invitation(*row) if row else None


async def pending_of(conn: AsyncConnection, account_id: int) -> list[Invitation]:
    rows = await conn.execute(select(*_COLUMNS).where(invitations.c.account_id == account_id))
    return [Invitation(*row) for row in rows]


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


async def delete_for_email(
    conn: AsyncConnection, account_id: int, email: str, *, inviter_id: int | None = None
) -> bool:
    """Delete a pending invitation; restricted to one inviter's own when ``inviter_id`` is set."""
    stmt = delete(invitations).where(
        invitations.c.account_id == account_id, invitations.c.email == email
    )
    if inviter_id is not None:
        stmt = stmt.where(invitations.c.inviter_id == inviter_id)
    return bool((await conn.execute(stmt)).rowcount)


async def delete_sent_by(conn: AsyncConnection, account_id: int, inviter_id: int) -> None:
    """Delete every pending invitation one member sent in the account."""
    await conn.execute(
        delete(invitations).where(
            invitations.c.account_id == account_id, invitations.c.inviter_id == inviter_id
        )
    )


async def delete_ids(conn: AsyncConnection, ids: list[int]) -> None:
    if ids:
        await conn.execute(delete(invitations).where(invitations.c.id.in_(ids)))


async def role_pending(conn: AsyncConnection, account_id: int, role: str) -> bool:
    """Whether a pending invitation of the account grants this role."""
    found = await conn.execute(
        select(invitations.c.id)
        .where(invitations.c.account_id == account_id, invitations.c.role == role)
        .limit(1)
    )
    return found.first() is not None
