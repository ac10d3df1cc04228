"""What the operator's commands (``teamgate accounts``, ``members``, ``audit`` ...) read and print.

- ``accounts_overview``: every account with its member and invitation counts. The operator's
  read model: like ``team/listing.py`` it spans tables it does not own (accounts, memberships,
  invitations), read-only, in one statement. It has no caller: whoever runs it on the server's
  shell holds the database already.
- ``team_rows``: an account's members then its pending invitations, page by page, through the
  same service as the team page.
- ``audit_rows``: the membership history export, streamed newest first.
- ``write``: lists rendered as a Rich table, CSV, a JSON array or JSON Lines, written as they
  are read; nothing is written until the first row is (or the list turns out empty), so a
  refusal leaves stdout empty.

Times are UTC: epoch seconds in JSON (as the API gives them), ISO-8601 in tables and CSV.
"""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import func, select

from teamgate.audit import Recorded
from teamgate.auth.caller import Credential
from teamgate.db import Database
from teamgate.inputs import Parsed, Refusal
from teamgate.models import accounts, invitations, memberships
from teamgate.team import history
from teamgate.team.history import HistoryFilter
from teamgate.team.listing import Entry
from teamgate.team.service import TeamQuery, team_view

TEAM_PAGE = 500
BAD_MOMENT = "{option} must be a date (YYYY-MM-DD, UTC) or a time in epoch seconds"


class Shape(StrEnum):
    """How a list is written: ``json`` is one JSON array, ``jsonl`` one object per line."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"
    JSONL = "jsonl"


def iso_time(at: int) -> str:
    """Epoch seconds as ISO-8601 UTC, to the second: ``2026-11-28T09:30:00Z``."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_date(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def moment(value: str | None, option: str, *, end_of_day: bool = False) -> Parsed[int | None]:
    """``--since``/``--until``: a UTC date (its first second, or with ``end_of_day`` its last:
    a range ``--until`` a date includes that whole day) or epoch seconds."""
    if value is None:
        return None
    text = value.strip()
    seconds: int | None = None
    if text.isascii() and text.isdigit():
        seconds = int(text)
    else:
        seconds = history.utc_day(text, end=end_of_day)
    found = history.time(seconds, option) if seconds is not None else None
    if found is None or isinstance(found, Refusal):
        return Refusal(BAD_MOMENT.format(option=option))
    return found


class Row(Protocol):
    """One line of a list: typed values for JSON, text for a table or CSV."""

    HEADER: ClassVar[tuple[str, ...]]

    def json(self) -> dict[str, Any]: ...

    def cells(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class AccountRow:
    HEADER: ClassVar[tuple[str, ...]] = ("id", "name", "members", "invitations", "created")

    id: int
    name: str
    members: int
    invitations: int  # pending, expired ones included (until replaced or removed)
    created_at: int

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "members": self.members,
            "invitations": self.invitations,
            "created": self.created_at,
        }

    def cells(self) -> list[str]:
        return [
            str(self.id),
            self.name,
            str(self.members),
            str(self.invitations),
            iso_date(self.created_at),
        ]


@dataclass(frozen=True, slots=True)
class TeamRow:
    HEADER: ClassVar[tuple[str, ...]] = ("email", "name", "role", "invitation", "expires")

    entry: Entry

    def json(self) -> dict[str, Any]:
        entry = self.entry
        return {
            "email": entry.email,
            "name": entry.name,
            "role": entry.role,
            "invitation": entry.is_invitation,
            "expires": entry.expires_at,
        }

    def cells(self) -> list[str]:
        entry = self.entry
        expires = entry.expires_at
        return [
            entry.email,
            entry.name or "",
            entry.role,
            "yes" if entry.is_invitation else "no",
            "" if expires is None else iso_time(expires),
        ]


@dataclass(frozen=True, slots=True)
class EventRow:
    HEADER: ClassVar[tuple[str, ...]] = (
        "id", "time", "accountId", "actor", "action", "target", "details",
    )  # fmt: skip

    event: Recorded

    def json(self) -> dict[str, Any]:
        return self.event.wire()

    def cells(self) -> list[str]:
        event = self.event
        return [
            str(event.id),
            iso_time(event.at),
            "" if event.account_id is None else str(event.account_id),
            event.actor or "",
            event.action,
            event.target or "",
            _json(event.details),
        ]


async def accounts_overview(db: Database) -> AsyncGenerator[AccountRow, None]:
    """Every account, oldest first, with how many members and pending invitations it has."""
    members = (
        select(func.count())
        .select_from(memberships)
        .where(memberships.c.account_id == accounts.c.id)
        .scalar_subquery()
    )
    pending = (
        select(func.count())
        .select_from(invitations)
        .where(invitations.c.account_id == accounts.c.id)
        .scalar_subquery()
    )
    query = select(
        accounts.c.id, accounts.c.name, members, pending, accounts.c.created_at
    ).order_by(accounts.c.id)
    async with db.read() as conn:
        rows = await conn.stream(query.execution_options(yield_per=500))
        async for row in rows:
            yield AccountRow(*row)


async def team_rows(
    db: Database, cred: Credential, *, page_size: int = TEAM_PAGE
) -> AsyncGenerator[TeamRow, None]:
    """The members, then the pending invitations, as getTeamData lists them, a page at a time."""
    after: tuple[int, int] | None = None
    while True:
        view = await team_view(db, cred, TeamQuery(after=after), limit=page_size)
        for entry in view.entries:
            yield TeamRow(entry)
        if view.next_after is None:
            return
        after = view.next_after


async def audit_rows(
    db: Database, cred: Credential, where: HistoryFilter
) -> AsyncGenerator[EventRow, None]:
    """The matching history, newest first, streamed from the database."""
    # Closed here when the reader stops early (a broken pipe).
    async with aclosing(history.export(db, cred, where)) as events:
        async for event in events:
            yield EventRow(event)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


async def write(
    out: TextIO, shape: Shape, rows: AsyncGenerator[Row, None], header: Sequence[str]
) -> int:
    """Write ``rows`` to ``out`` in ``shape`` as they come; returns how many were written.

    A table is printed once every row is read; the other shapes stream. Nothing is written
    before the first row arrives, so an error raised while reading it leaves ``out`` empty.
    """
    count = 0
    async with aclosing(rows):
        if shape is Shape.TABLE:
            table = Table(*header)
            async for row in rows:
                table.add_row(*(Text(cell) for cell in row.cells()))
                count += 1
            Console(file=out).print(table)
            return count
        writer = csv.writer(out, lineterminator="\n")
        async for row in rows:
            if shape is Shape.CSV:
                if count == 0:
                    writer.writerow(header)
                writer.writerow([inert(cell) for cell in row.cells()])
            elif shape is Shape.JSONL:
                out.write(_json_line(row))
            else:
                out.write(("[" if count == 0 else ",\n") + _json_line(row).rstrip("\n"))
            count += 1
    if count == 0:
        if shape is Shape.CSV:
            writer.writerow(header)
        elif shape is Shape.JSON:
            out.write("[")
    if shape is Shape.JSON:
        out.write("]\n")
    return count


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(cell: str) -> str:
    """A CSV cell a spreadsheet shows as text: one that would start a formula (a name such as
    ``=HYPERLINK(...)``, which any invitee can choose) gets a leading ``'``, as OWASP advises."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _json_line(row: Row) -> str:
    return json.dumps(row.json(), ensure_ascii=False) + "\n"
