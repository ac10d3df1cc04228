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

MAX_NAME_LENGTH = 50

# Akto's messages, word for word (clients written for Akto show them to people).
EMPTY_NAME = "Role names cannot be empty."
LONG_NAME = "Role names cannot be more than 50 characters."
BAD_NAME = "Role names can only be alphanumeric and contain '-'and '_'"
RESERVED = "{name} is a reserved keyword."
EXISTS = "Existing role with same name exists."
INVALID_BASE = "Base role does not exist"
NOT_FOUND = "Role does not exist."
HELD_BY_MEMBERS = "Role is associated with users. Cannot delete."
HELD_BY_INVITATIONS = "Role is associated with pending invites. Cannot delete."


@dataclass(frozen=True, slots=True)
class RoleDefinition:
    name: Parsed[str]
    base: Parsed[Role]


def role_name(value: object) -> Parsed[str]:
    """A custom role's name as a client sent it, upper-cased; judged as Akto does: empty, too
    long, other characters, then a built-in name (or GUEST)."""
    name = value.strip().upper() if isinstance(value, str) else ""
    if not name:
        return Refusal(EMPTY_NAME)
    if len(name) > MAX_NAME_LENGTH:
        return Refusal(LONG_NAME)
    if not CUSTOM_ROLE_NAME.match(name):
        return Refusal(BAD_NAME)
    if built_in(name) is not None or name in ALIASES:
        return Refusal(RESERVED.format(name=name))
    return name


def existing_name(value: object) -> str | None:
    """The name of a role to update or delete; None when it cannot name any custom role."""
    name = role_name(value)
    return None if isinstance(name, Refusal) else name


def base_role(value: object) -> Parsed[Role]:
    base = built_in(role_input(value) or "")
    return Refusal(INVALID_BASE) if base is None else base


async def list_roles(db: Database, cred: Credential) -> list[CustomRole]:
    async with unit.reading(db, cred, Action.READ_TEAM) as view:
        return await repo.custom_roles_of(view.conn, view.caller.account_id)


async def create_role(db: Database, cred: Credential, definition: RoleDefinition) -> CustomRole:
    async with unit.acting(db, cred, Action.MANAGE_MEMBERS) as tx:
        name = valid(definition.name)
        if await repo.custom_role(tx.conn, tx.caller.account_id, name) is not None:
            raise AppError(EXISTS)
        base = valid(definition.base)
        if not await repo.add_custom_role(tx.conn, tx.caller.account_id, name, base, tx.at):
            raise AppError(EXISTS)
        await tx.record("role.create", target=name, details={"baseRole": base.value})
    return CustomRole(name, base, tx.at)


async def update_role(db: Database, cred: Credential, definition: RoleDefinition) -> CustomRole:
    """Give a custom role another base role; the last ADMIN is never demoted this way either."""
    async with unit.acting(db, cred, Action.MANAGE_MEMBERS) as tx:
        account_id = tx.caller.account_id
        name = valid(definition.name)
        existing = await repo.custom_role(tx.conn, account_id, name)
        if existing is None:
            raise AppError(NOT_FOUND)
        base = valid(definition.base)
        await repo.set_custom_role_base(tx.conn, account_id, name, base)
        if existing.base_role is Role.ADMIN and await repo.admin_count(tx.conn, account_id) == 0:
            raise AppError(LAST_ADMIN)  # raised inside the transaction: the change rolls back
        await prune_invitations(tx.conn, account_id)
        await tx.record(
            "role.update",
            target=name,
            details={"baseRoleBefore": existing.base_role.value, "baseRoleAfter": base.value},
        )
    return CustomRole(name, base, existing.created_at)


async def delete_role(db: Database, cred: Credential, name: str | None) -> str:
    """Delete a custom role that no member holds and no pending invitation offers."""
    async with unit.acting(db, cred, Action.MANAGE_MEMBERS) as tx:
        account_id = tx.caller.account_id
        if name is None or await repo.custom_role(tx.conn, account_id, name) is None:
            raise AppError(NOT_FOUND)
        if await repo.role_held(tx.conn, account_id, name):
            raise AppError(HELD_BY_MEMBERS)
        if await invitations.role_pending(tx.conn, account_id, name):
            raise AppError(HELD_BY_INVITATIONS)
        await repo.delete_custom_role(tx.conn, account_id, name)
        await tx.record("role.delete", target=name)
    return name
