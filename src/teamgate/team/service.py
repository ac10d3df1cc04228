"""Members: list them, change their role, remove them. Every rule is enforced here, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate import unit
from teamgate.accounts import policy as policies
from teamgate.auth import repository as credentials
from teamgate.auth.caller import Caller, Credential
from teamgate.db import Database, now
from teamgate.errors import AppError, Unauthorized
from teamgate.inputs import Parsed, Refusal, valid
from teamgate.invitations import repository as invitations
from teamgate.roles import Action, Role, permits
from teamgate.team import history, listing
from teamgate.team import repository as repo
from teamgate.team.listing import Entry, Filter
from teamgate.users import repository as users

LAST_ADMIN = "An account must keep at least one ADMIN"
NOT_YOURSELF = "You cannot perform this action on yourself"
USER_NOT_FOUND = "User not found"
INVALID_ROLE = "Invalid role"
# makeAdmin answers with Akto's own words.
INVALID_USER_ROLE = "Invalid user role"
NOT_ALLOWED_TO_MODIFY = "User doesn't have access to modify this role."


@dataclass(frozen=True, slots=True)
class Removal:
    email: str
    user_id: int  # 0 when a pending invitation was deleted
    caller_role: str
    assignable_roles: list[str]


@dataclass(frozen=True, slots=True)
class RoleChange:
    email: Parsed[str]
    role: str | None  # None: not a role name at all


@dataclass(frozen=True, slots=True)
class RoleChanged:
    email: str
    user_id: int
    role: str


async def team_json(db: Database, cred: Credential) -> bytes | AsyncIterator[bytes]:
    """getTeamData: one query authenticates and renders (the API's hottest path); a big team
    comes as the parts of a streamed body.

    Every role may read the team, so membership is the whole permission check.
    """
    team = await listing.team_json_for(db, cred.kind, cred.token_hash, now())
    if team is None:
        raise Unauthorized()
    return team


PAGE_SIZE = 50
MAX_ID = 2**31 - 1  # ids are 32-bit


@dataclass(frozen=True, slots=True)
class TeamQuery:
    search: str | None = None
    role: str | None = None
    after: tuple[int, int] | None = None  # the last entry of the previous page


@dataclass(frozen=True, slots=True)
class TeamView:
    """One page of the team as a caller sees it, with what the caller may do."""

    caller: Caller
    entries: list[Entry]
    next_after: tuple[int, int] | None  # None on the last page
    member_count: int  # matching the query
    invitation_count: int
    roles: list[str]  # every role of the account, built-in first
    assignable_roles: list[str]  # those the caller may give
    may_invite: bool  # the caller's role and the account policy let them invite
    invites_enabled: bool


async def team_view(
    db: Database, cred: Credential, query: TeamQuery, *, limit: int = PAGE_SIZE
) -> TeamView:
    """A page of members and invitations (members first), filtered, for any size of team."""
    async with unit.reading(db, cred, Action.READ_TEAM) as view:
        caller, conn = view.caller, view.conn
        where = Filter(search=query.search, role=query.role)
        found = await listing.page(
            conn, caller.account_id, where, after=query.after, limit=limit + 1
        )
        members, pending = await listing.counts(conn, caller.account_id, where)
        roles = list(await repo.role_bases(conn, caller.account_id))
        assignable = await repo.assignable_roles(conn, caller.account_id, caller.base_role)
        policy = await policies.load(conn, caller.account_id)
    entries = found[:limit]
    next_after = entries[-1].cursor if len(found) > limit else None
    may_invite = permits(caller.base_role, Action.INVITE) and policies.may_invite(policy, caller)
    return TeamView(
        caller,
        entries,
        next_after,
        members,
        pending,
        roles,
        assignable,
        may_invite=may_invite,
        invites_enabled=policy.invites_enabled,
    )


BAD_ROLE_FILTER = "role must be the name of one of the account's roles"


@dataclass(frozen=True, slots=True)
class PageRequest:
    """getTeamPage's input, parsed (``history.limit``, ``page_cursor``, ``page_search``,
    ``page_role``): its limit and cursor read as getAuditLogs's do."""

    limit: Parsed[int] = history.DEFAULT_LIMIT
    after: Parsed[tuple[int, int] | None] = None
    search: Parsed[str | None] = None
    role: Parsed[str | None] = None


@dataclass(frozen=True, slots=True)
class Page:
    entries: list[dict[str, Any]]  # as getTeamData writes them
    next_cursor: str | None  # None on the last page


def page_cursor(value: object) -> Parsed[tuple[int, int] | None]:
    """A ``nextCursor``: ``<kind>-<id>`` of the previous page's last entry."""
    if value is None:
        return None
    if isinstance(value, str):
        kind, _, last = value.partition("-")
        if kind in ("0", "1") and last.isascii() and last.isdigit() and len(last) <= 10:
            return (int(kind), int(last)) if int(last) <= MAX_ID else Refusal(history.BAD_CURSOR)
    return Refusal(history.BAD_CURSOR)


def page_search(value: object) -> Parsed[str | None]:
    """The start of an email or a name: text as getAuditLogs's filters take it, in lower case."""
    found = history.text(value, "search")
    return found.lower() if isinstance(found, str) else found


def page_role(value: object) -> Parsed[str | None]:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 50:
        return Refusal(BAD_ROLE_FILTER)
    return value


async def team_page(db: Database, cred: Credential, request: PageRequest) -> Page:
    """getTeamPage: the entries of getTeamData, members then invitations, a page at a time,
    filtered by a prefix of the email or name and by role."""
    async with unit.reading(db, cred, Action.READ_TEAM) as view:
        caller, conn = view.caller, view.conn
        limit, role = valid(request.limit), valid(request.role)
        where = Filter(search=valid(request.search), role=role)
        after = valid(request.after)
        if role is not None and await repo.role_base(conn, caller.account_id, role) is None:
            raise AppError(BAD_ROLE_FILTER)
        found = await listing.page(conn, caller.account_id, where, after=after, limit=limit + 1)
    entries = found[:limit]
    more = len(found) > limit
    return Page(
        [entry.wire(view.at) for entry in entries],
        "{}-{}".format(*entries[-1].cursor) if more else None,
    )


async def entry_for(db: Database, cred: Credential, email: Parsed[str]) -> Entry | None:
    """The member or the pending invitation with this email (a member first)."""
    async with unit.reading(db, cred, Action.READ_TEAM) as view:
        found = await listing.page(
            view.conn,
            view.caller.account_id,
            Filter(email=valid(email)),
            after=None,
            limit=1,
        )
    return found[0] if found else None


async def role_hierarchy(db: Database, cred: Credential) -> list[str]:
    async with unit.reading(db, cred, Action.READ_TEAM) as view:
        caller = view.caller
        return await repo.assignable_roles(view.conn, caller.account_id, caller.base_role)


async def member_by_email(
    conn: AsyncConnection, account_id: int, email: str
) -> tuple[int, str] | None:
    """(user id, role name) of the account's member with this email."""
    user = await users.by_email(conn, email)
    role = await repo.role_of(conn, account_id, user.id) if user else None
    return (user.id, role) if user and role else None


async def grantable(
    conn: AsyncConnection,
    caller: Caller,
    role: str | None,
    *,
    above_caller: str,
    invalid: str = INVALID_ROLE,
) -> tuple[str, Role]:
    """A role the caller may give someone: its name and base role. 400 ``invalid`` when it is
    no role of the account, ``above_caller`` when it reaches above the caller's own."""
    base = await repo.role_base(conn, caller.account_id, role) if role else None
    if role is None or base is None:
        raise AppError(invalid)
    if not caller.base_role.can_assign(base):
        raise AppError(above_caller)
    return role, base


async def remove_user(db: Database, cred: Credential, email: Parsed[str]) -> Removal:
    async with unit.acting(db, cred, Action.MANAGE_MEMBERS) as tx:
        caller, conn = tx.caller, tx.conn
        target = valid(email)
        if target == caller.email:
            raise AppError(NOT_YOURSELF)
        member = await member_by_email(conn, caller.account_id, target)
        removed_id = 0
        if member is not None:
            removed_id, role = member
            target_base = await repo.role_base(conn, caller.account_id, role)
            if target_base is Role.ADMIN and await repo.admin_count(conn, caller.account_id) <= 1:
                raise AppError(LAST_ADMIN)
            await _remove_member(conn, caller.account_id, removed_id)
            await invitations.delete_for_email(conn, caller.account_id, target)
            await tx.record("member.remove", target=target, role_before=role)
        elif await invitations.delete_for_email(conn, caller.account_id, target):
            await tx.record("invitation.revoke", target=target)
        else:
            raise AppError(USER_NOT_FOUND)
        assignable = await repo.assignable_roles(conn, caller.account_id, caller.base_role)
    return Removal(target, removed_id, caller.role, assignable)


async def _remove_member(conn: AsyncConnection, account_id: int, user_id: int) -> None:
    """Remove a member and end, at once, every API key and session of theirs for this account,
    and every invitation they sent that is still pending (they hold those links)."""
    await invitations.delete_sent_by(conn, account_id, user_id)
    await credentials.revoke_member(conn, account_id, user_id)
    await repo.delete_member(conn, account_id, user_id)


async def change_role(db: Database, cred: Credential, change: RoleChange) -> RoleChanged:
    """Akto's ``makeAdmin``: give a member another role, within the caller's hierarchy."""
    async with unit.acting(db, cred, Action.MANAGE_MEMBERS) as tx:
        caller, conn = tx.caller, tx.conn
        email = valid(change.email)
        if email == caller.email:
            raise AppError(NOT_YOURSELF)
        member = await member_by_email(conn, caller.account_id, email)
        if member is None:
            raise AppError(USER_NOT_FOUND)
        role, new_base = await grantable(
            conn, caller, change.role, above_caller=NOT_ALLOWED_TO_MODIFY, invalid=INVALID_USER_ROLE
        )
        user_id, old_role = member
        old_base = await repo.role_base(conn, caller.account_id, old_role)
        if old_base is None or not caller.base_role.can_assign(old_base):
            raise AppError(NOT_ALLOWED_TO_MODIFY)  # nobody changes a role above their own
        if (
            old_base is Role.ADMIN
            and new_base is not Role.ADMIN
            and await repo.admin_count(conn, caller.account_id) <= 1
        ):
            raise AppError(LAST_ADMIN)
        await repo.set_role(conn, caller.account_id, user_id, role)
        await prune_invitations(conn, caller.account_id)
        await tx.record("member.role_change", target=email, role_before=old_role, role_after=role)
    return RoleChanged(email, user_id, role)


async def prune_invitations(conn: AsyncConnection, account_id: int) -> list[str]:
    """Delete the pending invitations whose inviter could no longer send them.

    An invitation is only as good as its inviter's current role: after a demotion, or after a
    custom role's base changes, links that now reach above the inviter's ceiling stop working.
    Returns the emails whose invitation was deleted.
    """
    bases = await repo.role_bases(conn, account_id)
    holders = await repo.roles_of_members(conn, account_id)
    stale = []
    for invitation in await invitations.pending_of(conn, account_id):
        if invitation.inviter_id is None:
            continue
        inviter_base = bases.get(holders.get(invitation.inviter_id, ""))
        invited_base = bases.get(invitation.role)
        if (
            inviter_base is None
            or invited_base is None
            or not inviter_base.can_assign(invited_base)
        ):
            stale.append(invitation)
    await invitations.delete_ids(conn, [invitation.id for invitation in stale])
    return [invitation.email for invitation in stale]
