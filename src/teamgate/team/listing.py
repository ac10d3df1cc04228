"""The team list: members and pending invitations together.

The one read model that spans tables it does not own (memberships, users, invitations, and the
outbox for each invitation's delivery status): both forms of the list need them in one
statement. ``team_json_for`` serves getTeamData, rendered to
JSON by the database in the statement that authenticates the caller (it runs on every dashboard
refresh); ``page`` serves the team page, a filtered page at a time, for teams of any size.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    case,
    func,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy import column as column_from
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate.auth.repository import ACCOUNT_OF
from teamgate.db import Database
from teamgate.models import invitations, memberships, outbox, users

# The team list is rendered to JSON text by the database, a slice of up to SLICE entries per
# statement, read in order of arrival from the (account, id) indexes: no statement sorts or
# holds a whole big team, and the first one also authenticates the caller, so a team of up to
# SLICE members and SLICE invitations takes one round trip. Each slice is the entries' JSON
# objects joined by commas, with the id of its last entry and how many it holds.
SLICE = 1000  # the first slice of each kind (SQLite reads it on the event loop)
NEXT_SLICE_SIZE = 5000  # the next ones (read off the loop)
SLICES_AT_ONCE = 2  # read side by side: the database's work for a big team spreads over cores
MAX_ID = 2**31 - 1  # ids are 32-bit
_MEMBER_JSON = {
    "postgresql": """'{"id":' || u.id || ',"login":' || to_json(u.email) || ',"name":'
        || to_json(u.name) || ',"role":' || to_json(m.role) || '}'""",
    "sqlite": "json_object('id', u.id, 'login', u.email, 'name', u.name, 'role', m.role)",
}
_INVITATION_JSON = {
    "postgresql": """'{"id":' || coalesce(i.inviter_id, 0) || ',"login":' || to_json(i.email)
        || ',"name":' || to_json(coalesce(i.name, '-'))
        || ',"role":' || to_json('Invitation sent for ' || i.role)
        || ',"isInvitation":' || 'true,"invitedRole":' || to_json(i.role)
        || ',"expiresAt":' || i.expires_at
        || ',"expired":' || CASE WHEN i.expires_at <= :now THEN 'true' ELSE 'false' END
        || ',"deliveryStatus":' || coalesce(to_json(
               CASE o.status WHEN 'sending' THEN 'queued' ELSE o.status END)::text, 'null')
        || ',"deliveryError":' || coalesce(to_json(o.last_error)::text, 'null') || '}'""",
    "sqlite": """json_object(
        'id', coalesce(i.inviter_id, 0), 'login', i.email, 'name', coalesce(i.name, '-'),
        'role', 'Invitation sent for ' || i.role, 'isInvitation', json('true'),
        'invitedRole', i.role, 'expiresAt', i.expires_at,
        'expired', CASE WHEN i.expires_at <= :now THEN json('true') ELSE json('false') END,
        'deliveryStatus', CASE o.status WHEN 'sending' THEN 'queued' ELSE o.status END,
        'deliveryError', o.last_error)""",
}
_JOIN = {"postgresql": "string_agg(t.doc, ',' ORDER BY t.id)", "sqlite": "group_concat(t.doc, ',')"}
# A slice is the rows after a place in the (account, id) order, up to the end of the account,
# written as a range of that order rather than "this account, ids above": PostgreSQL's generic
# plan for a prepared statement cannot see which account, and given an equality it may walk
# the primary key in id order through every account's rows; a range of (account, id) pairs
# only the (account, id) index serves.
# Each entry's own rows by their indexes, one at a time (a subquery per row, or a LATERAL
# one): a planner left to join a slice with whole tables may hash all of them on every slice.
# A member's user: SQLite's planner joins by the primary key; PostgreSQL's, left to join a
# slice to users, may hash the whole table, so it reads each user by a subquery of its own.
_USER_OF_MEMBER = {
    "postgresql": ("(SELECT {doc} FROM users u WHERE u.id = m.user_id)", ""),
    "sqlite": ("{doc}", "JOIN users u ON u.id = m.user_id"),
}
_OUTBOX_OF_INVITATION = {
    "postgresql": """LEFT JOIN LATERAL (
          SELECT status, last_error FROM outbox WHERE invitation_jti = i.jti LIMIT 1
        ) o ON true""",
    "sqlite": "LEFT JOIN outbox o ON o.invitation_jti = i.jti",
}
_SLICE_OF = {
    "members": """SELECT {join}, max(t.id), count(*) FROM (
          SELECT m.id, {member_doc} AS doc FROM memberships m {user_join}
          WHERE {where} ORDER BY m.account_id, m.id {limit}
        ) t""",
    "invitations": """SELECT {join}, max(t.id), count(*) FROM (
          SELECT i.id, {doc} AS doc FROM invitations i {outbox}
          WHERE {where} ORDER BY i.account_id, i.id {limit}
        ) t""",
}
_TABLE = {"members": "memberships m", "invitations": "invitations i"}
_ALIAS = {"members": "m", "invitations": "i"}
# The rows of an account after a place in (account, id) order: the first slice's (up to SLICE
# of them), and the bounds of the next ones.
_AFTER = {
    "postgresql": "({a}.account_id, {a}.id) > ({account}, {after}) AND {a}.account_id <= {account}",
    "sqlite": "{a}.account_id = {account} AND {a}.id > {after}",
}
# The next slices: a range of ids, ``(:after, :upto]``, ended by NEXT_BOUND.
_RANGE = {
    "postgresql": "({a}.account_id, {a}.id) > (:account, :after)"
    " AND ({a}.account_id, {a}.id) <= (:account, :upto)",
    "sqlite": "{a}.account_id = :account AND {a}.id > :after AND {a}.id <= :upto",
}
# Where the next range ends: the id NEXT_SLICE_SIZE rows on (an index walk, no row read).
_NEXT_BOUND = """SELECT {a}.id FROM {table} WHERE {after}
    ORDER BY {a}.account_id, {a}.id LIMIT 1 OFFSET :skip"""


CALLERS_ACCOUNT = "(SELECT account_id FROM c)"


def _slice(dialect: str, kind: str, account: str | None) -> str:
    """The first slice of ``kind`` (of ``account``, an SQL expression), or with ``account``
    None a range of it."""
    alias = _ALIAS[kind]
    if account is None:
        where, limit = _RANGE[dialect].format(a=alias), ""
    else:
        after = f":after_{kind.removesuffix('s')}"
        where = _AFTER[dialect].format(a=alias, account=account, after=after)
        limit = f"LIMIT {SLICE}"
    member_doc, user_join = _USER_OF_MEMBER[dialect]
    return _SLICE_OF[kind].format(
        join=_JOIN[dialect],
        member_doc=member_doc.format(doc=_MEMBER_JSON[dialect]),
        user_join=user_join,
        doc=_INVITATION_JSON[dialect],
        outbox=_OUTBOX_OF_INVITATION[dialect],
        where=where,
        limit=limit,
    )


# Composed from the constant fragments above only; values travel as parameters.
FIRST_SLICES = {
    (dialect, kind): (
        f"WITH c AS ({caller}) SELECT c.account_id, ms.*, inv.* FROM c, "  # noqa: S608
        f"({_slice(dialect, 'members', CALLERS_ACCOUNT)}) ms, "
        f"({_slice(dialect, 'invitations', CALLERS_ACCOUNT)}) inv"
    )
    for dialect in _JOIN
    for kind, caller in ACCOUNT_OF.items()
}
RANGE_SLICE = {
    (dialect, kind): _slice(dialect, kind, None)
    for dialect in _JOIN
    for kind in ("members", "invitations")
}
NEXT_BOUND = {
    (dialect, kind): _NEXT_BOUND.format(
        a=_ALIAS[kind],
        table=_TABLE[kind],
        after=_AFTER[dialect].format(a=_ALIAS[kind], account=":account", after=":after"),
    )
    for dialect in _JOIN
    for kind in ("members", "invitations")
}


@dataclass(frozen=True, slots=True)
class Slice:
    json: str | None  # the entries' objects, joined by commas; None when there are none
    last: int | None  # the id of the last one
    size: int

    @property
    def full(self) -> bool:
        """There may be more after it."""
        return self.size == SLICE


async def team_json_for(
    db: Database, kind: str, token_hash: str, at: int
) -> bytes | AsyncIterator[bytes] | None:
    """The caller's team as a JSON array: whole, or, for a team too big for one statement, as
    the parts of a streamed body. None when the credential does not (or no longer) work.

    Every role may read the team, so membership is the whole permission check. The slices
    after the first are read as they are sent: someone who joins or leaves meanwhile may or
    may not be listed, but nobody else is skipped or listed twice.
    """
    row = await db.raw.fetchrow(
        FIRST_SLICES[db.dialect, kind],
        {"token": token_hash, "now": at, "after_member": 0, "after_invitation": 0},
    )
    if row is None:
        return None
    account_id, members, invitations = row[0], Slice(*row[1:4]), Slice(*row[4:7])
    if not members.full and not invitations.full:
        parts = [part.json for part in (members, invitations) if part.json]
        return b"[" + ",".join(parts).encode() + b"]"
    return _streamed(db, account_id, at, members, invitations)


async def _streamed(
    db: Database, account_id: int, at: int, members: Slice, invitations: Slice
) -> AsyncIterator[bytes]:
    """``[`` members, slice by slice, then invitations ``]``."""
    separator = b"["
    for kind, first in (("members", members), ("invitations", invitations)):
        async with aclosing(_slices(db, kind, account_id, at, first)) as slices:
            async for part in slices:
                yield separator + part.encode()
                separator = b","
    yield b"]"


async def _slices(
    db: Database, kind: str, account_id: int, at: int, first: Slice
) -> AsyncGenerator[str]:
    """The entries of ``kind``: its first slice, then the rest in ranges of NEXT_SLICE_SIZE,
    read SLICES_AT_ONCE at a time (each on a connection, or in a thread, of its own), in
    order."""
    if first.json:
        yield first.json
    if not first.full or first.last is None:
        return
    reading: deque[asyncio.Future[tuple[Any, ...] | None]] = deque()
    after: int | None = first.last
    try:
        while after is not None:
            # The bound is a short index walk (on the event loop, on SQLite); the range's rows
            # and their JSON are read off it, SLICES_AT_ONCE ranges side by side.
            where = {"account": account_id, "after": after, "skip": NEXT_SLICE_SIZE - 1}
            bound = await db.raw.fetchrow(NEXT_BOUND[db.dialect, kind], where)
            upto = bound[0] if bound is not None else MAX_ID
            params = {"account": account_id, "after": after, "upto": upto, "now": at}
            sql = RANGE_SLICE[db.dialect, kind]
            reading.append(asyncio.ensure_future(db.raw.fetchrow_off_loop(sql, params)))
            after = bound[0] if bound is not None else None
            if len(reading) == SLICES_AT_ONCE and (text := _json_of(await reading.popleft())):
                yield text
        while reading:
            if text := _json_of(await reading.popleft()):
                yield text
    finally:
        for task in reading:  # the client went away: read no further
            task.cancel()


def _json_of(row: tuple[Any, ...] | None) -> str | None:
    return row[0] if row is not None else None


MEMBER, INVITATION = 0, 1  # the two kinds of entry, members first
LAST_CODE_POINT = "\U0010ffff"
SEARCH_CANDIDATES = 2000  # see _queries


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of the team list: a member, or a pending invitation."""

    kind: int  # MEMBER or INVITATION
    id: int  # the membership's or the invitation's id: with ``kind``, the place in the list
    user_id: int | None  # members only
    email: str
    name: str | None
    role: str
    inviter_id: int | None  # invitations only
    inviter_name: str | None
    created_at: int
    expires_at: int | None  # invitations only
    # What became of the invitation's email (queued, retrying, sent, failed), and the last
    # error of a retrying or failed one; None for members and for an invitation without email.
    delivery_status: str | None
    delivery_error: str | None

    @property
    def is_invitation(self) -> bool:
        return self.kind == INVITATION

    @property
    def cursor(self) -> tuple[int, int]:
        return self.kind, self.id

    def wire(self, at: int) -> dict[str, Any]:
        """The entry as getTeamData writes it (``at``: now, for ``expired``)."""
        if self.kind == MEMBER:
            return {"id": self.user_id, "login": self.email, "name": self.name, "role": self.role}
        return {
            "id": self.inviter_id or 0,
            "login": self.email,
            "name": self.name or "-",
            "role": f"Invitation sent for {self.role}",
            "isInvitation": True,
            "invitedRole": self.role,
            "expiresAt": self.expires_at,
            "expired": self.expires_at is not None and self.expires_at <= at,
            "deliveryStatus": self.delivery_status,
            "deliveryError": self.delivery_error,
        }


@dataclass(frozen=True, slots=True)
class Filter:
    search: str | None = None  # a prefix of the email or of the name, any case
    role: str | None = None  # exact role name (the invited role, for invitations)
    email: str | None = None  # exactly this (canonical) email


def starts_with(text: ColumnElement[str], prefix: str, collate: str | None) -> ColumnElement[bool]:
    """``text`` begins with ``prefix``, as a range that a B-tree index on ``text`` serves: the
    strings from ``prefix`` up to ``prefix`` followed by the last code point. The order is the
    code points' (SQLite's BINARY; PostgreSQL's "C", named since a database's default collation
    may order by language)."""
    if collate is not None:
        text = text.collate(collate)
    return and_(text >= prefix, text < prefix + LAST_CODE_POINT)


async def _queries(
    conn: AsyncConnection, account_id: int, where: Filter
) -> tuple[Select[Any], Select[Any], ColumnElement[int]]:
    """The filtered members and invitations, each row in the shape of ``Entry``, and the
    order to read the members in.

    A search first looks the prefix up in the users' indexes. When few people match (up to
    ``SEARCH_CANDIDATES``), the members are read by those users' ids; when many do, by reading
    the account's members in order, which soon finds a page of them. Either way no query
    walks a whole big team for a rare prefix, nor sorts one for a common prefix."""
    inviters = users.alias("inviters")
    member_order: ColumnElement[int] = memberships.c.id
    members = (
        select(
            literal(MEMBER, Integer).label("kind"),
            memberships.c.id.label("id"),
            users.c.id.label("user_id"),
            users.c.email.label("email"),
            users.c.name.label("name"),
            memberships.c.role.label("role"),
            null().label("inviter_id"),
            null().label("inviter_name"),
            memberships.c.created_at.label("created_at"),
            null().label("expires_at"),
        )
        .join(users, users.c.id == memberships.c.user_id)
        .where(memberships.c.account_id == account_id)
    )
    pending = (
        select(
            literal(INVITATION, Integer),
            invitations.c.id,
            null(),
            invitations.c.email,
            invitations.c.name,
            invitations.c.role,
            invitations.c.inviter_id,
            inviters.c.name,
            invitations.c.created_at,
            invitations.c.expires_at,
        )
        .outerjoin(inviters, inviters.c.id == invitations.c.inviter_id)
        .where(invitations.c.account_id == account_id)
    )
    if where.search:
        prefix = where.search.strip().lower()
        collate = "C" if conn.dialect.name == "postgresql" else None
        person = or_(
            starts_with(users.c.email, prefix, collate),
            starts_with(func.lower(users.c.name), prefix, collate),
        )
        candidates = select(users.c.id).where(person).limit(SEARCH_CANDIDATES + 1)
        ids = list((await conn.execute(candidates)).scalars())
        if len(ids) <= SEARCH_CANDIDATES:
            # On both sides of the join, so that neither side is read whole.
            members = members.where(
                _among(conn.dialect.name, memberships.c.user_id, ids),
                _among(conn.dialect.name, users.c.id, ids),
            )
            # Sorting these few is cheaper than walking the team in order to find them: an
            # expression, not the column, keeps SQLite from choosing that walk.
            member_order = memberships.c.id + 0
        else:
            members = members.where(person)
        pending = pending.where(
            or_(
                starts_with(invitations.c.email, prefix, collate),
                starts_with(func.lower(invitations.c.name), prefix, collate),
            )
        )
    if where.role:
        members = members.where(memberships.c.role == where.role)
        pending = pending.where(invitations.c.role == where.role)
    if where.email:
        members = members.where(users.c.email == where.email)
        pending = pending.where(invitations.c.email == where.email)
    return members, pending, member_order


def _among(dialect: str, column: ColumnElement[int], ids: list[int]) -> ColumnElement[bool]:
    """``column`` is one of ``ids``, bound as one parameter (a statement the driver prepares
    once, whatever the number of ids): an array on PostgreSQL, a JSON array on SQLite."""
    if dialect == "postgresql":
        return column == any_(bindparam("ids", ids, type_=postgresql.ARRAY(Integer), unique=True))
    listed: Select[Any] = select(column_from("value")).select_from(
        func.json_each(orjson.dumps(ids).decode())
    )
    return column.in_(listed.scalar_subquery())


async def page(
    conn: AsyncConnection,
    account_id: int,
    where: Filter,
    *,
    after: tuple[int, int] | None,
    limit: int,
) -> list[Entry]:
    """Up to ``limit`` entries after the ``after`` cursor: members first, each kind in order of
    arrival. A cursor stays valid while people join and leave.

    Members, then (when the page has room) invitations, each read by its own keyset query: an
    index on (account, id), or (account, role, id) with a role, gives the next rows in order
    without sorting the team."""
    members, pending, member_order = await _queries(conn, account_id, where)
    found: list[Entry] = []
    if after is None or after[0] == MEMBER:
        if after is not None:
            members = members.where(memberships.c.id > after[1])
        members = members.add_columns(
            null().label("delivery_status"), null().label("delivery_error")
        )
        rows = await conn.execute(
            members.order_by(memberships.c.account_id, member_order).limit(limit)
        )
        found = [Entry(*row) for row in rows]
        after = None
    if len(found) < limit:
        if after is not None:
            pending = pending.where(invitations.c.id > after[1])
        # Each invitation's email: the outbox row of its current code (one per code; a
        # replaced code's row is not this one). A message being sent is still queued to a reader.
        status = outbox.c.status
        pending = pending.outerjoin(
            outbox, outbox.c.invitation_jti == invitations.c.jti
        ).add_columns(
            case((status == "sending", literal("queued")), else_=status), outbox.c.last_error
        )
        rows = await conn.execute(
            pending.order_by(invitations.c.account_id, invitations.c.id).limit(limit - len(found))
        )
        found += [Entry(*row) for row in rows]
    return found


async def counts(conn: AsyncConnection, account_id: int, where: Filter) -> tuple[int, int]:
    """How many members and how many invitations match."""
    members, pending, _ = await _queries(conn, account_id, where)
    found = []
    for query in (members, pending):
        total: int = (
            await conn.execute(select(func.count()).select_from(query.subquery()))
        ).scalar_one()
        found.append(total)
    return found[0], found[1]
