"""The ``memberships`` and ``custom_roles`` tables: every query on them (the team list, which
spans members, users and invitations, is ``team/listing.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate.db import dialect_insert
from teamgate.models import custom_roles, memberships
from teamgate.roles import BUILT_IN, Role, built_in


@dataclass(frozen=True, slots=True)
class CustomRole:
    name: str
    base_role: Role
    created_at: int


async def custom_roles_of(conn: AsyncConnection, account_id: int) -> list[CustomRole]:
    """The account's custom roles, by name."""
    rows = await conn.execute(
        select(custom_roles.c.name, custom_roles.c.base_role, custom_roles.c.created_at)
        .where(custom_roles.c.account_id == account_id)
        .order_by(custom_roles.c.name)
    )
    return [CustomRole(name, Role(base), created_at) for name, base, created_at in rows]


async def custom_role(conn: AsyncConnection, account_id: int, name: str) -> CustomRole | None:
    row = (
        await conn.execute(
            select(custom_roles.c.name, custom_roles.c.base_role, custom_roles.c.created_at).where(
                custom_roles.c.account_id == account_id, custom_roles.c.name == name
            )
        )
    ).first()
    return CustomRole(row[0], Role(row[1]), row[2]) if row else None


async def role_bases(conn: AsyncConnection, account_id: int) -> dict[str, Role]:
    """Every role name usable in the account (built-in and custom) and its base role."""
    bases = {role.value: role for role in BUILT_IN}
    bases.update({role.name: role.base_role for role in await custom_roles_of(conn, account_id)})
    return bases


async def role_base(conn: AsyncConnection, account_id: int, name: str) -> Role | None:
    """The base role of a built-in or of this account's custom role; None if neither."""
    role = built_in(name)
    if role is not None:
        return role
    base = (
        await conn.execute(
            select(custom_roles.c.base_role).where(
                custom_roles.c.account_id == account_id, custom_roles.c.name == name
            )
        )
    ).scalar_one_or_none()
    return Role(base) if base else None


async def assignable_roles(conn: AsyncConnection, account_id: int, base: Role) -> list[str]:
    """Roles a caller with base role ``base`` may assign: built-ins first, then custom ones."""
    names = [role.value for role in BUILT_IN if base.can_assign(role)]
    names += [
        r.name for r in await custom_roles_of(conn, account_id) if base.can_assign(r.base_role)
    ]
    return names


async def role_of(conn: AsyncConnection, account_id: int, user_id: int) -> str | None:
    """The user's role name in the account; None when they are not a member."""
    role: str | None = (
        await conn.execute(
            select(memberships.c.role).where(
                memberships.c.account_id == account_id, memberships.c.user_id == user_id
            )
        )
    ).scalar_one_or_none()
    return role


async def first_account_of(conn: AsyncConnection, user_id: int) -> int | None:
    """The account the user joined first (where a login starts)."""
    account_id: int | None = (
        await conn.execute(
            select(memberships.c.account_id)
            .where(memberships.c.user_id == user_id)
            .order_by(memberships.c.id)
            .limit(1)
        )
    ).scalar_one_or_none()
    return account_id


async def memberships_of(conn: AsyncConnection, user_id: int) -> list[tuple[int, str]]:
    """(account id, role name) of every account the user belongs to, in joining order."""
    rows = await conn.execute(
        select(memberships.c.account_id, memberships.c.role)
        .where(memberships.c.user_id == user_id)
        .order_by(memberships.c.id)
    )
    return [(account_id, role) for account_id, role in rows]


async def roles_of_members(conn: AsyncConnection, account_id: int) -> dict[int, str]:
    """Each member's role name, by user id."""
    rows = await conn.execute(
        select(memberships.c.user_id, memberships.c.role).where(
            memberships.c.account_id == account_id
        )
    )
    return {user_id: role for user_id, role in rows}


async def member_count(conn: AsyncConnection, account_id: int) -> int:
    count: int = (
        await conn.execute(
            select(func.count())
            .select_from(memberships)
            .where(memberships.c.account_id == account_id)
        )
    ).scalar_one()
    return count


async def admin_user_ids(conn: AsyncConnection, account_id: int) -> list[int]:
    """The account's ADMINs (custom roles based on ADMIN included), in joining order."""
    base = func.coalesce(custom_roles.c.base_role, memberships.c.role)
    rows = await conn.execute(
        select(memberships.c.user_id)
        .select_from(memberships)
        .outerjoin(
            custom_roles,
            (custom_roles.c.account_id == memberships.c.account_id)
            & (custom_roles.c.name == memberships.c.role),
        )
        .where(memberships.c.account_id == account_id, base == Role.ADMIN.value)
        .order_by(memberships.c.id)
    )
    return list(rows.scalars())


async def admin_count(conn: AsyncConnection, account_id: int) -> int:
    base = func.coalesce(custom_roles.c.base_role, memberships.c.role)
    query = (
        select(func.count())
        .select_from(memberships)
        .outerjoin(
            custom_roles,
            (custom_roles.c.account_id == memberships.c.account_id)
            & (custom_roles.c.name == memberships.c.role),
        )
        .where(memberships.c.account_id == account_id, base == Role.ADMIN.value)
    )
    count: int = (await conn.execute(query)).scalar_one()
    return count


async def add_member(
    conn: AsyncConnection, *, account_id: int, user_id: int, role: str, at: int
) -> bool:
    """False when the user is already a member of the account."""
    inserted = await conn.execute(
        dialect_insert(conn, memberships)
        .values(account_id=account_id, user_id=user_id, role=role, created_at=at)
        .on_conflict_do_nothing(index_elements=["account_id", "user_id"])
        .returning(memberships.c.id)
    )
    return inserted.first() is not None


async def delete_member(conn: AsyncConnection, account_id: int, user_id: int) -> None:
    await conn.execute(
        delete(memberships).where(
            memberships.c.account_id == account_id, memberships.c.user_id == user_id
        )
    )


async def set_role(conn: AsyncConnection, account_id: int, user_id: int, role: str) -> None:
    await conn.execute(
        update(memberships)
        .where(memberships.c.account_id == account_id, memberships.c.user_id == user_id)
        .values(role=role)
    )


async def role_held(conn: AsyncConnection, account_id: int, name: str) -> bool:
    """Whether a member of the account holds this role."""
    held = await conn.execute(
        select(memberships.c.id)
        .where(memberships.c.account_id == account_id, memberships.c.role == name)
        .limit(1)
    )
    return held.first() is not None


async def add_custom_role(
    conn: AsyncConnection, account_id: int, name: str, base: Role, at: int
) -> bool:
    """False when the account already has a role of that name."""
    result = await conn.execute(
        dialect_insert(conn, custom_roles)
        .values(account_id=account_id, name=name, base_role=base.value, created_at=at)
        .on_conflict_do_nothing(index_elements=["account_id", "name"])
        .returning(custom_roles.c.id)
    )
    return result.first() is not None


async def set_custom_role_base(
    conn: AsyncConnection, account_id: int, name: str, base: Role
) -> None:
    await conn.execute(
        update(custom_roles)
        .where(custom_roles.c.account_id == account_id, custom_roles.c.name == name)
        .values(base_role=base.value)
    )


async def delete_custom_role(conn: AsyncConnection, account_id: int, name: str) -> None:
    await conn.execute(
        delete(custom_roles).where(
            custom_roles.c.account_id == account_id, custom_roles.c.name == name
        )
    )
