"""The membership history, read back: ``getAuditLogs``, the team at a past time, and the
operator's export. ADMIN only (it names former members)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import UTC, date, datetime

from teamgate import audit, unit
from teamgate.audit import FormerMember, Query, Recorded
from teamgate.auth.caller import Credential
from teamgate.db import Database
from teamgate.emails import InvalidEmail, canonical_email
from teamgate.inputs import Parsed, Refusal, valid
from teamgate.roles import Action

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
DAY_SECONDS = 24 * 3600
MAX_TIME = 2**53  # any later "time" is not one
BAD_LIMIT = f"limit must be a whole number from 1 to {MAX_LIMIT}"
BAD_CURSOR = "cursor must be a nextCursor this endpoint gave"
BAD_TIME = "{field} must be a time in epoch seconds"
BAD_TEXT = "{field} must be a string of at most 320 characters, without control characters"
MAX_CURSOR = 2**31 - 1  # event ids are 32-bit


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    action: Parsed[str | None] = None
    actor: Parsed[str | None] = None
    target: Parsed[str | None] = None
    since: Parsed[int | None] = None
    until: Parsed[int | None] = None


@dataclass(frozen=True, slots=True)
class HistoryPage:
    events: list[Recorded]
    next_cursor: str | None  # None on the last page


def time(value: object, field: str) -> Parsed[int | None]:
    """Epoch seconds (a fraction is dropped); None when absent."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Refusal(BAD_TIME.format(field=field))
    if not 0 <= value < MAX_TIME:
        return Refusal(BAD_TIME.format(field=field))
    return int(value)


def utc_day(value: str, *, end: bool = False) -> int | None:
    """A UTC day written yyyy-mm-dd (as ``<input type="date">`` sends it), from 1970-01-01 on:
    its first second, or with ``end`` its last (a range up to a day includes all of it); None
    for anything else."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return None
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    return None if start < 0 else start + (DAY_SECONDS - 1 if end else 0)


def text(value: object, field: str) -> Parsed[str | None]:
    """Text to match exactly: at most 320 characters, no control characters (the history
    holds none, and PostgreSQL refuses NUL outright)."""
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or len(value) > 320
        or any(unicodedata.category(char) == "Cc" for char in value)
    ):
        return Refusal(BAD_TEXT.format(field=field))
    return value.strip() or None


def who(value: object, field: str) -> Parsed[str | None]:
    """An actor or target as the history writes it: an email in its canonical form."""
    found = text(value, field)
    if isinstance(found, Refusal) or found is None:
        return found
    try:
        return canonical_email(found)
    except InvalidEmail:
        return found  # "cli", a role's name


def limit(value: object) -> Parsed[int]:
    if value is None:
        return DEFAULT_LIMIT
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LIMIT:
        return Refusal(BAD_LIMIT)
    return value


def cursor(value: object) -> Parsed[int | None]:
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        number = int(value)
        if 1 <= number <= MAX_CURSOR:
            return number
    return Refusal(BAD_CURSOR)


def _query(account_id: int, where: HistoryFilter, before_id: int | None = None) -> Query:
    return Query(
        account_id=account_id,
        action=valid(where.action),
        actor=valid(where.actor),
        target=valid(where.target),
        since=valid(where.since),
        until=valid(where.until),
        before_id=before_id,
    )


async def page(
    db: Database,
    cred: Credential,
    where: HistoryFilter,
    *,
    limit: Parsed[int] = DEFAULT_LIMIT,
    cursor: Parsed[int | None] = None,
) -> HistoryPage:
    """The newest ``limit`` matching events older than ``cursor``, and the cursor for the next
    page. Paging never skips or repeats an event, even while new ones are written."""
    async with unit.reading(db, cred, Action.READ_HISTORY) as view:
        query = _query(view.caller.account_id, where, valid(cursor))
        size = valid(limit)
        found = await audit.events(view.conn, query, size + 1)
    events = found[:size]
    more = len(found) > size
    return HistoryPage(events, str(events[-1].id) if more else None)


async def export(db: Database, cred: Credential, where: HistoryFilter) -> AsyncGenerator[Recorded]:
    """Every matching event, newest first, streamed (the operator's ``teamgate audit``)."""
    async with unit.reading(db, cred, Action.READ_HISTORY) as view:
        query = _query(view.caller.account_id, where)
        async for event in audit.stream(view.conn, query):
            yield event


async def team_at(db: Database, cred: Credential, at: Parsed[int | None]) -> list[FormerMember]:
    """Who was a member at ``at``, with the role they had then (replayed from the history)."""
    async with unit.reading(db, cred, Action.READ_HISTORY) as view:
        when = valid(at)
        assert when is not None
        return await audit.members_at(view.conn, view.caller.account_id, when)
