"""Members: list them, change their role, remove them. Every rule is enforced here, once."""

from __future__ import annotations

from typing import Any

from teamgate import audit
from teamgate.auth.caller import Credential, acting, resolve
from teamgate.db import Database, now
from teamgate.emails import InvalidEmail, canonical_email
from teamgate.errors import AppError, Unauthorized
from teamgate.invitations import repository as invitation_repo
from teamgate.roles import Action, Role, role_input
from teamgate.team import repository as repo

LAST_ADMIN = "An account must keep at least one ADMIN"
NOT_YOURSELF = "You cannot perform this action on yourself"
USER_NOT_FOUND = "User not found"


def email_or_error(value: object) -> str:
    try:
        return canonical_email(value)
    except InvalidEmail:
        raise AppError("Invalid email") from None


async def team_json(db: Database, cred: Credential) -> str:
    """getTeamData: one query authenticates and renders (the API's hottest path)."""
    team = await repo.team_json_for(db, cred.kind, cred.token_hash, now())
    if team is None:
        raise Unauthorized()
    return team


async def role_hierarchy(db: Database, cred: Credential) -> list[str]:
    async with db.read() as conn:
        caller = await resolve(conn, cred)
        caller.require(Action.READ_TEAM)
        return await repo.assignable_roles(conn, caller.account_id, caller.base_role)


async def remove_user(
    db: Database, cred: Credential, email_value: object, request_id: str | None
) -> dict[str, Any]:
    async with acting(db, cred, Action.MANAGE_MEMBERS) as (conn, caller):
        email = email_or_error(email_value)
        if email == caller.email:
            raise AppError(NOT_YOURSELF)
        member = await repo.member_by_email(conn, caller.account_id, email)
        removed_id = 0
        if member is not None:
            removed_id, role = member
            target_base = await repo.role_base(conn, caller.account_id, role)
            if target_base is Role.ADMIN and await repo.admin_count(conn, caller.account_id) <= 1:
                raise AppError(LAST_ADMIN)
            await repo.remove_membership(conn, caller.account_id, removed_id)
            await invitation_repo.delete_for_email(conn, caller.account_id, email, None)
            action = "member.remove"
        elif await invitation_repo.delete_for_email(conn, caller.account_id, email, None):
            action = "invitation.revoke"
        else:
            raise AppError(USER_NOT_FOUND)
        await audit.record(
            conn,
            action,
            account_id=caller.account_id,
            actor_user_id=caller.user_id,
            target=email,
            request_id=request_id,
        )
        assignable = await repo.assignable_roles(conn, caller.account_id, caller.base_role)
    return {
        "email": email,
        "id": removed_id,
        "passwordResetToken": None,
        "roleHierarchy": caller.role,
        "userRoleHierarchy": assignable,
        "users": None,
    }


async def change_role(
    db: Database, cred: Credential, email_value: object, role_value: object, request_id: str | None
) -> dict[str, Any]:
    """Akto's ``makeAdmin``: give a member another role, within the caller's hierarchy."""
    async with acting(db, cred, Action.MANAGE_MEMBERS) as (conn, caller):
        email = email_or_error(email_value)
        if email == caller.email:
            raise AppError(NOT_YOURSELF)
        member = await repo.member_by_email(conn, caller.account_id, email)
        if member is None:
            raise AppError(USER_NOT_FOUND)
        role = role_input(role_value)
        new_base = await repo.role_base(conn, caller.account_id, role) if role else None
        if role is None or new_base is None:
            raise AppError("Invalid role")
        if not caller.base_role.can_assign(new_base):
            raise AppError("User not allowed to assign this role")
        user_id, old_role = member
        old_base = await repo.role_base(conn, caller.account_id, old_role)
        if (
            old_base is Role.ADMIN
            and new_base is not Role.ADMIN
            and await repo.admin_count(conn, caller.account_id) <= 1
        ):
            raise AppError(LAST_ADMIN)
        await repo.set_role(conn, caller.account_id, user_id, role)
        await repo.prune_invitations(conn, caller.account_id)
        await audit.record(
            conn,
            "member.role_change",
            account_id=caller.account_id,
            actor_user_id=caller.user_id,
            target=email,
            detail=f"{old_role} -> {role}",
            request_id=request_id,
        )
    return {"email": email, "id": user_id, "role": role}
