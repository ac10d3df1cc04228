"""Every query about members, roles and the team list."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate.db import Database, dialect_insert
from teamgate.models import api_keys, custom_roles, invitations, memberships, sessions, users
from teamgate.roles import BUILT_IN, Role, built_in

# The team list is rendered to JSON by the database, in the same query that authenticates the
# caller: one round trip, no per-row Python work. ``c`` is the caller's membership.
_TEAM_OF_CALLER = {
    "postgresql": """
        SELECT coalesce(json_agg(t.doc ORDER BY t.kind, t.ord), '[]'::json)::text FROM (
          SELECT 0 AS kind, m.id AS ord, json_build_object(
                   'id', u.id, 'login', u.email, 'name', u.name, 'role', m.role) AS doc
          FROM memberships m JOIN users u ON u.id = m.user_id
          WHERE m.account_id = c.account_id
          UNION ALL
          SELECT 1, i.id, json_build_object(
                   'id', coalesce(i.inviter_id, 0), 'login', i.email,
                   'name', coalesce(i.name, '-'), 'role', 'Invitation sent for ' || i.role,
                   'isInvitation', true, 'invitedRole', i.role,
                   'expiresAt', i.expires_at, 'expired', i.expires_at <= :now)
          FROM invitations i
          WHERE i.account_id = c.account_id
        ) t
    """,
    "sqlite": """
        SELECT coalesce(json_group_array(json(t.doc)), '[]') FROM (
          SELECT 0 AS kind, m.id AS ord, json_object(
                   'id', u.id, 'login', u.email, 'name', u.name, 'role', m.role) AS doc
          FROM memberships m JOIN users u ON u.id = m.user_id
          WHERE m.account_id = c.account_id
          UNION ALL
          SELECT 1, i.id, json_object(
                   'id', coalesce(i.inviter_id, 0), 'login', i.email,
                   'name', coalesce(i.name, '-'), 'role', 'Invitation sent for ' || i.role,
                   'isInvitation', json('true'), 'invitedRole', i.role,
                   'expiresAt', i.expires_at,
                   'expired',
                   CASE WHEN i.expires_at <= :now THEN json('true') ELSE json('false') END)
          FROM invitations i
          WHERE i.account_id = c.account_id
          ORDER BY kind, ord
        ) t
    """,
}
_CALLER = {
    "api_key": """
        SELECT m.account_id FROM api_keys k
        JOIN memberships m ON m.account_id = k.account_id AND m.user_id = k.user_id
        WHERE k.key_hash = :token
    """,
    "session": """
        SELECT m.account_id FROM sessions s
        JOIN memberships m ON m.account_id = s.account_id AND m.user_id = s.user_id
        WHERE s.id_hash = :token AND s.expires_at > :now
    """,
}
TEAM_JSON_FOR_CALLER = {
    # Composed from the constant fragments above only; values travel as parameters.
    (dialect, kind): f"WITH c AS ({caller}) SELECT ({team}) FROM c"  # noqa: S608
    for dialect, team in _TEAM_OF_CALLER.items()
    for kind, caller in _CALLER.items()
}


async def team_json_for(db: Database, kind: str, token_hash: str, at: int) -> str | None:
    """The caller's team as JSON text, or None when the credential does not (or no longer) work.

    Every role may read the team, so membership is the whole permission check.
    """
    row = await db.raw.fetchrow(
        TEAM_JSON_FOR_CALLER[db.dialect, kind], {"token": token_hash, "now": at}
    )
    return row[0] if row is not None else None


async def custom_role_bases(conn: AsyncConnection, account_id: int) -> list[tuple[str, Role]]:
    rows = await conn.execute(
        select(custom_roles.c.name, custom_roles.c.base_role)
        .where(custom_roles.c.account_id == account_id)
        .order_by(custom_roles.c.name)
    )
    return [(name, Role(base)) for name, base in rows]


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
    names += [name for name, b in await custom_role_bases(conn, account_id) if base.can_assign(b)]
    return names


async def member_by_email(
    conn: AsyncConnection, account_id: int, email: str
) -> tuple[int, str] | None:
    """(user id, role name) of a member of this account."""
    row = (
        await conn.execute(
            select(users.c.id, memberships.c.role)
            .join(memberships, memberships.c.user_id == users.c.id)
            .where(users.c.email == email, memberships.c.account_id == account_id)
        )
    ).first()
    return (row[0], row[1]) if row else None


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


async def remove_membership(conn: AsyncConnection, account_id: int, user_id: int) -> None:
    """Remove a member and end, at once, every API key and session of theirs for this account,
    and every invitation they sent that is still pending (they hold those links)."""
    await conn.execute(
        delete(invitations).where(
            invitations.c.account_id == account_id, invitations.c.inviter_id == user_id
        )
    )
    for table in (api_keys, sessions):
        await conn.execute(
            delete(table).where(table.c.account_id == account_id, table.c.user_id == user_id)
        )
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


async def custom_roles_of(conn: AsyncConnection, account_id: int) -> list[dict[str, object]]:
    rows = await conn.execute(
        select(custom_roles.c.name, custom_roles.c.base_role, custom_roles.c.created_at)
        .where(custom_roles.c.account_id == account_id)
        .order_by(custom_roles.c.name)
    )
    return [{"name": n, "baseRole": b, "createdAt": c} for n, b, c in rows]


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


async def role_in_use(conn: AsyncConnection, account_id: int, name: str) -> bool:
    """Whether a member holds the role or a pending invitation grants it."""
    for table in (memberships, invitations):
        used = await conn.execute(
            select(table.c.id)
            .where(table.c.account_id == account_id, table.c.role == name)
            .limit(1)
        )
        if used.first() is not None:
            return True
    return False


async def delete_custom_role(conn: AsyncConnection, account_id: int, name: str) -> None:
    await conn.execute(
        delete(custom_roles).where(
            custom_roles.c.account_id == account_id, custom_roles.c.name == name
        )
    )


async def prune_invitations(conn: AsyncConnection, account_id: int) -> list[str]:
    """Delete the pending invitations whose inviter could no longer send them.

    An invitation is only as good as its inviter's current role: after a demotion, or after a
    custom role's base changes, links that now reach above the inviter's ceiling stop working.
    Returns the emails whose invitation was deleted.
    """
    bases = {role.value: role for role in BUILT_IN}
    bases.update(dict(await custom_role_bases(conn, account_id)))
    members = await conn.execute(
        select(memberships.c.user_id, memberships.c.role).where(
            memberships.c.account_id == account_id
        )
    )
    holders: dict[int, str] = {user_id: role for user_id, role in members}
    pending = await conn.execute(
        select(
            invitations.c.id, invitations.c.email, invitations.c.role, invitations.c.inviter_id
        ).where(invitations.c.account_id == account_id, invitations.c.inviter_id.is_not(None))
    )
    stale = []
    for invitation_id, email, role, inviter_id in pending:
        inviter_base = bases.get(holders.get(inviter_id, ""))
        invited_base = bases.get(role)
        if (
            inviter_base is None
            or invited_base is None
            or not inviter_base.can_assign(invited_base)
        ):
            stale.append((invitation_id, email))
    if stale:
        await conn.execute(delete(invitations).where(invitations.c.id.in_([i for i, _ in stale])))
    return [email for _, email in stale]
