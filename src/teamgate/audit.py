"""The membership history (the ``audit_log`` table): who did what to whom, when, and how it
ended. Append-only; never a secret. Services write it through ``Tx.record``; this module
also reads it back: the filtered, newest-first history and the team as it stood at a time.

Within one account, events are numbered in commit order: every write to an account's history
holds that account's lock (PostgreSQL) or the database's write lock (SQLite), so paging by id
never skips an event that committed between two pages.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate.models import audit_log, users

OPERATOR = "cli"  # the actor of the operator's commands

# The actions that change who is a member, and with which role; "at time T" replays them.
JOINED = ("account.create", "invitation.accept", "member.add")
ROLE_CHANGED = ("member.role_change",)
LEFT = ("member.remove",)
MEMBERSHIP_ACTIONS = JOINED + ROLE_CHANGED + LEFT


@dataclass(frozen=True, slots=True)
class Event:
    at: int
    action: str
    outcome: str
    request_id: str | None
    account_id: int | None
    actor_user_id: int | None
    actor: str | None
    target: str | None
    role_before: str | None = None
    role_after: str | None = None
    details: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Recorded:
    """An event as the history shows it."""

    id: int
    at: int
    account_id: int | None
    actor: str | None
    action: str
    target: str | None
    outcome: str
    request_id: str | None
    details: dict[str, Any]

    def wire(self) -> dict[str, Any]:
        """The event under its API names (getAuditLogs, and the operator's JSON export)."""
        return {
            "id": self.id,
            "time": self.at,
            "accountId": self.account_id,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "details": self.details,
        }


@dataclass(frozen=True, slots=True)
class Query:
    account_id: int
    action: str | None = None
    actor: str | None = None
    target: str | None = None
    since: int | None = None  # epoch seconds, inclusive
    until: int | None = None  # epoch seconds, inclusive
    before_id: int | None = None  # the cursor: events older than this one


@dataclass(frozen=True, slots=True)
class FormerMember:
    user_id: int
    email: str
    name: str
    role: str


async def append(conn: AsyncConnection, event: Event) -> None:
    await conn.execute(
        insert(audit_log).values(
            at=event.at,
            request_id=event.request_id,
            account_id=event.account_id,
            actor_user_id=event.actor_user_id,
            actor=event.actor,
            action=event.action,
            target=event.target,
            role_before=event.role_before,
            role_after=event.role_after,
            outcome=event.outcome,
            detail=json.dumps(dict(event.details), sort_keys=True) if event.details else None,
        )
    )


def _details(row: Any) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if row.detail:
        try:
            details = dict(json.loads(row.detail))
        except (ValueError, TypeError):  # free text, from a node not yet upgraded
            details = {"note": row.detail}
    if row.role_before is not None:
        details["roleBefore"] = row.role_before
    if row.role_after is not None:
        details["roleAfter"] = row.role_after
    if row.outcome != "success":
        details["outcome"] = row.outcome
    if row.request_id:
        details["requestId"] = row.request_id
    return details


def _select(query: Query) -> Select[Any]:
    c = audit_log.c
    stmt = select(audit_log).where(c.account_id == query.account_id)
    if query.action is not None:
        stmt = stmt.where(c.action == query.action)
    if query.actor is not None:
        stmt = stmt.where(c.actor == query.actor)
    if query.target is not None:
        stmt = stmt.where(c.target == query.target)
    if query.since is not None:
        stmt = stmt.where(c.at >= query.since)
    if query.until is not None:
        stmt = stmt.where(c.at <= query.until)
    if query.before_id is not None:
        stmt = stmt.where(c.id < query.before_id)
    return stmt.order_by(c.id.desc())


def _recorded(row: Any) -> Recorded:
    return Recorded(
        row.id,
        row.at,
        row.account_id,
        row.actor,
        row.action,
        row.target,
        row.outcome,
        row.request_id,
        _details(row),
    )


async def events(conn: AsyncConnection, query: Query, limit: int) -> list[Recorded]:
    """Up to ``limit`` matching events, newest first."""
    rows = await conn.execute(_select(query).limit(limit))
    return [_recorded(row) for row in rows]


async def stream(conn: AsyncConnection, query: Query) -> AsyncIterator[Recorded]:
    """Every matching event, newest first, without holding them all in memory."""
    result = await conn.stream(_select(query).execution_options(yield_per=500))
    async for row in result:
        yield _recorded(row)


async def members_at(conn: AsyncConnection, account_id: int, at: int) -> list[FormerMember]:
    """Who was a member of the account at ``at`` (epoch seconds), with the role they held then,
    in the order they (last) joined: the membership events up to then, replayed."""
    c = audit_log.c
    rows = await conn.stream(
        select(c.action, c.target, c.role_after)
        .where(
            c.account_id == account_id,
            c.at <= at,
            c.outcome == "success",
            c.action.in_(MEMBERSHIP_ACTIONS),
        )
        .order_by(c.id)
        .execution_options(yield_per=1000)
    )
    roles: dict[str, str] = {}
    async for action, target, role_after in rows:
        if target is None:
            continue
        if action in JOINED:
            roles.pop(target, None)  # a re-join moves them to the end
            roles[target] = role_after or ""
        elif action in ROLE_CHANGED and target in roles:
            roles[target] = role_after or roles[target]
        elif action in LEFT:
            roles.pop(target, None)
    if not roles:
        return []
    found: dict[str, tuple[int, str]] = {}
    emails = list(roles)
    for start in range(0, len(emails), 500):
        chunk = emails[start : start + 500]
        for user_id, email, name in await conn.execute(
            select(users.c.id, users.c.email, users.c.name).where(users.c.email.in_(chunk))
        ):
            found[email] = (user_id, name)
    return [
        FormerMember(found.get(email, (0, "-"))[0], email, found.get(email, (0, "-"))[1], role)
        for email, role in roles.items()
    ]
