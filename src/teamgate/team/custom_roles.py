"""Custom roles: per-account names that behave as their base role everywhere."""

from __future__ import annotations

from typing import Any

from teamgate import audit
from teamgate.auth.caller import Credential, acting, resolve
from teamgate.db import Database, now
from teamgate.errors import AppError
from teamgate.roles import ALIASES, CUSTOM_ROLE_NAME, Action, Role, built_in, role_input
from teamgate.team import repository as repo
from teamgate.team.service import LAST_ADMIN

INVALID_NAME = "Role name must be 1 to 50 upper-case letters, digits, '-' or '_'"
RESERVED = "Role name is reserved"
EXISTS = "Role already exists"
NOT_FOUND = "Role not found"
IN_USE = "Role is in use"
INVALID_BASE = "Invalid base role"


def _name(value: object) -> str:
    name = value.strip().upper() if isinstance(value, str) else ""
    if not CUSTOM_ROLE_NAME.match(name):
        raise AppError(INVALID_NAME)
    if built_in(name) is not None or name in ALIASES:
        raise AppError(RESERVED)
    return name


def _base(value: object) -> Role:
    base = built_in(role_input(value) or "")
    if base is None:
        raise AppError(INVALID_BASE)
    return base


async def list_roles(db: Database, cred: Credential) -> dict[str, Any]:
    async with db.read() as conn:
        caller = await resolve(conn, cred)
        caller.require(Action.READ_TEAM)
        return {"roles": await repo.custom_roles_of(conn, caller.account_id)}


async def create_role(
    db: Database, cred: Credential, data: dict[str, Any], request_id: str | None
) -> dict[str, Any]:
    async with acting(db, cred, Action.MANAGE_MEMBERS) as (conn, caller):
        name, base = _name(data.get("roleName")), _base(data.get("baseRole"))
        at = now()
        if not await repo.add_custom_role(conn, caller.account_id, name, base, at):
            raise AppError(EXISTS)
        await audit.record(
            conn, "role.create", account_id=caller.account_id, actor_user_id=caller.user_id,
            target=name, detail=base.value, request_id=request_id,
        )  # fmt: skip
    return {"name": name, "baseRole": base.value, "createdAt": at}


async def update_role(
    db: Database, cred: Credential, data: dict[str, Any], request_id: str | None
) -> dict[str, Any]:
    """Give a custom role another base role; the last ADMIN is never demoted this way either."""
    async with acting(db, cred, Action.MANAGE_MEMBERS) as (conn, caller):
        name, base = _name(data.get("roleName")), _base(data.get("baseRole"))
        old_base = await repo.role_base(conn, caller.account_id, name)
        if old_base is None:
            raise AppError(NOT_FOUND)
        await repo.set_custom_role_base(conn, caller.account_id, name, base)
        if old_base is Role.ADMIN and await repo.admin_count(conn, caller.account_id) == 0:
            raise AppError(LAST_ADMIN)  # raised inside the transaction: the change rolls back
        await repo.prune_invitations(conn, caller.account_id)
        await audit.record(
            conn, "role.update", account_id=caller.account_id, actor_user_id=caller.user_id,
            target=name, detail=f"{old_base.value} -> {base.value}", request_id=request_id,
        )  # fmt: skip
    return {"name": name, "baseRole": base.value}


async def delete_role(
    db: Database, cred: Credential, data: dict[str, Any], request_id: str | None
) -> dict[str, Any]:
    async with acting(db, cred, Action.MANAGE_MEMBERS) as (conn, caller):
        name = _name(data.get("roleName"))
        if await repo.role_base(conn, caller.account_id, name) is None:
            raise AppError(NOT_FOUND)
        if await repo.role_in_use(conn, caller.account_id, name):
            raise AppError(IN_USE)
        await repo.delete_custom_role(conn, caller.account_id, name)
        await audit.record(
            conn, "role.delete", account_id=caller.account_id, actor_user_id=caller.user_id,
            target=name, request_id=request_id,
        )  # fmt: skip
    return {"name": name}
