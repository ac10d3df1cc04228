"""Custom roles: per-account names that behave as their base role everywhere."""

from __future__ import annotations

from dataclasses import dataclass

from teamgate import unit
from teamgate.auth.caller import Credential
from teamgate.db import Database
from teamgate.errors import AppError
from teamgate.inputs import Parsed, Refusal, valid
from teamgate.invitations import repository as invitations
from teamgate.roles import ALIASES, CUSTOM_ROLE_NAME, Action, Role, built_in, role_input
from teamgate.team import repository as repo
from teamgate.team.repository import CustomRole
from teamgate.team.service import LAST_ADMIN, prune_invitations

INVALID_NAME = "Role name must be 1 to 50 upper-case letters, digits, '-' or '_'"
RESERVED = "Role name is reserved"
EXISTS = "Role already exists"
NOT_FOUND = "Role not found"
IN_USE = "Role is in use"
INVALID_BASE = "Invalid base role"


@dataclass(frozen=True, slots=True)
class RoleDefinition:
    name: Parsed[str]
    base: Parsed[Role]


def role_name(value: object) -> Parsed[str]:
    """A custom role's name as a client sent it: upper-cased, never a built-in name."""
    name = value.strip().upper() if isinstance(value, str) else ""
    if not CUSTOM_ROLE_NAME.match(name):
        return Refusal(INVALID_NAME)
    if built_in(name) is not None or name in ALIASES:
        return Refusal(RESERVED)
    return name


def base_role(value: object) -> Parsed[Role]:
    base = built_in(role_input(value) or "")
    return Refusal(INVALID_BASE) if base is None else base


async def list_roles(db: Database, cred: Credential) -> list[CustomRole]:
    async with unit.reading(db, cred, Action.READ_TEAM) as view:
        return await repo.custom_roles_of(view.conn, view.caller.account_id)


async def create_role(db: Database, cred: Credential, definition: RoleDefinition) -> CustomRole:
    async with unit.acting(db, cred, Action.MANAGE_MEMBERS) as tx:
        name, base = valid(definition.name), valid(definition.base)
        if not await repo.add_custom_role(tx.conn, tx.caller.account_id, name, base, tx.at):
            raise AppError(EXISTS)
        await tx.record("role.create", target=name, detail=base.value)
    return CustomRole(name, base, tx.at)


async def update_role(db: Database, cred: Credential, definition: RoleDefinition) -> CustomRole:
    """Give a custom role another base role; the last ADMIN is never demoted this way either."""
    async with unit.acting(db, cred, Action.MANAGE_MEMBERS) as tx:
        account_id = tx.caller.account_id
        name, base = valid(definition.name), valid(definition.base)
        existing = await repo.custom_role(tx.conn, account_id, name)
        if existing is None:
            raise AppError(NOT_FOUND)
        await repo.set_custom_role_base(tx.conn, account_id, name, base)
        if existing.base_role is Role.ADMIN and await repo.admin_count(tx.conn, account_id) == 0:
            raise AppError(LAST_ADMIN)  # raised inside the transaction: the change rolls back
        await prune_invitations(tx.conn, account_id)
        detail = f"{existing.base_role.value} -> {base.value}"
        await tx.record("role.update", target=name, detail=detail)
    return CustomRole(name, base, existing.created_at)


async def delete_role(db: Database, cred: Credential, name_value: Parsed[str]) -> str:
    async with unit.acting(db, cred, Action.MANAGE_MEMBERS) as tx:
        account_id = tx.caller.account_id
        name = valid(name_value)
        if await repo.role_base(tx.conn, account_id, name) is None:
            raise AppError(NOT_FOUND)
        if await repo.role_held(tx.conn, account_id, name) or await invitations.role_pending(
            tx.conn, account_id, name
        ):
            raise AppError(IN_USE)
        await repo.delete_custom_role(tx.conn, account_id, name)
        await tx.record("role.delete", target=name)
    return name
