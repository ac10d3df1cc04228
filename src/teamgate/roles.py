"""Built-in roles, their strict hierarchy, and what each may do."""

from __future__ import annotations

import re
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"
    DEVELOPER = "DEVELOPER"
    VIEWER = "VIEWER"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def can_assign(self, other: Role) -> bool:
        return other.rank <= self.rank


_RANK = {Role.ADMIN: 4, Role.MEMBER: 3, Role.DEVELOPER: 2, Role.VIEWER: 1}
BUILT_IN = [Role.ADMIN, Role.MEMBER, Role.DEVELOPER, Role.VIEWER]  # highest first
ALIASES = {"GUEST": Role.VIEWER}
CUSTOM_ROLE_NAME = re.compile(r"^[A-Z0-9_-]{1,50}$")


def role_input(value: object) -> str | None:
    """A role name as a client sent it, upper-cased and with aliases resolved; None if unusable."""
    if not isinstance(value, str):
        return None
    name = value.strip().upper()
    if name in ALIASES:
        return ALIASES[name].value
    return name if CUSTOM_ROLE_NAME.match(name) else None


def built_in(name: str) -> Role | None:
    try:
        return Role(name)
    except ValueError:
        return None


class Action(StrEnum):
    READ_TEAM = "read_team"
    INVITE = "invite"
    MANAGE_MEMBERS = "manage_members"
    READ_HISTORY = "read_history"
    OWN_KEYS = "own_keys"
    SWITCH_ACCOUNT = "switch_account"


_MINIMUM = {
    Action.READ_TEAM: Role.VIEWER,
    Action.INVITE: Role.MEMBER,
    Action.MANAGE_MEMBERS: Role.ADMIN,
    Action.READ_HISTORY: Role.ADMIN,
    Action.OWN_KEYS: Role.VIEWER,
    Action.SWITCH_ACCOUNT: Role.VIEWER,
}
# Actions a browser session may take and an API key may not: a key never mints, lists or
# deletes keys (a leaked key cannot entrench itself), nor moves to another account.
SESSION_ONLY = frozenset({Action.OWN_KEYS, Action.SWITCH_ACCOUNT})


def permits(base_role: Role, action: Action) -> bool:
    return base_role.rank >= _MINIMUM[action].rank
