"""Seed teams directly in the database: bulk inserts (executemany), not the API.

Each team is an account made by ``create_account`` (its founding ADMIN and that ADMIN's API
key), then ``members - 1`` more members (1% ADMIN, 10% DEVELOPER, 10% VIEWER, the rest MEMBER)
and 10% as many pending invitations, each with the outbox row of an email already sent. One
more account, ``load``, takes the inviteUsers and acceptInvite load: its pending invitations
come with their signed codes, for acceptInvite to use.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate import migrate
from teamgate.accounts.service import create_account
from teamgate.db import Database, now
from teamgate.invitations import codes
from teamgate.models import invitations, memberships, outbox, users

BATCH = 2000
INVITE_LIFETIME_SECONDS = 7 * 86400
SENT_FROM = "http://127.0.0.1:8000"  # the origin the seeded invitation emails linked to
LOAD_DOMAIN = "load.bench.com"


@dataclass(frozen=True, slots=True)
class SeededAccount:
    account_id: int
    admin_id: int
    domain: str
    api_key: str
    members: int
    invitations: int


@dataclass(frozen=True, slots=True)
class Seeded:
    teams: dict[int, SeededAccount]  # by member count
    load: SeededAccount
    accept_codes: list[str]  # one per pending invitation of the load account
    seconds: float


def team_domain(members: int) -> str:
    return f"team{members}.bench.com"


def member_role(i: int) -> str:
    if i % 100 == 0:
        return "ADMIN"
    return {1: "DEVELOPER", 2: "VIEWER"}.get(i % 10, "MEMBER")


def batches(total: int, size: int = BATCH) -> Iterator[range]:
    for start in range(0, total, size):
        yield range(start, min(total, start + size))


async def _founded(db: Database, name: str, domain: str) -> tuple[int, int, str]:
    created = await create_account(db, name=name, admin_email=f"admin@{domain}", admin_name="Admin")
    return created.account_id, created.user_id, created.api_key


async def _add_members(
    conn: AsyncConnection, account_id: int, domain: str, numbers: range, at: int
) -> None:
    rows = [{"email": f"user{i}@{domain}", "name": f"User {i}", "created_at": at} for i in numbers]
    inserted = await conn.execute(
        insert(users).returning(users.c.id, sort_by_parameter_order=True), rows
    )
    ids = inserted.scalars().all()
    await conn.execute(
        insert(memberships),
        [
            {"account_id": account_id, "user_id": uid, "role": member_role(i), "created_at": at}
            for i, uid in zip(numbers, ids, strict=True)
        ],
    )


def _invitation_rows(
    account_id: int, inviter_id: int, emails: list[str], jtis: list[str], at: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The invitations and the outbox rows of their (already sent) emails."""
    pending = [
        {"account_id": account_id, "email": email, "role": ("MEMBER", "DEVELOPER", "VIEWER")[n % 3],
         "name": f"Invitee {n}" if n % 2 else None, "inviter_id": inviter_id, "jti": jti,
         "created_at": at, "expires_at": at + INVITE_LIFETIME_SECONDS}
        for n, (email, jti) in enumerate(zip(emails, jtis, strict=True))
    ]  # fmt: skip
    mail = [
        {"account_id": account_id, "kind": "invitation", "recipient": email,
         "invitation_jti": jti, "origin": SENT_FROM, "message_key": secrets.token_hex(16),
         "status": "sent", "attempts": 1, "next_attempt_at": at, "created_at": at, "sent_at": at}
        for email, jti in zip(emails, jtis, strict=True)
    ]  # fmt: skip
    return pending, mail


async def _add_invitations(
    conn: AsyncConnection, account_id: int, inviter_id: int, emails: list[str], at: int
) -> list[str]:
    """Pending invitations for ``emails``; their jtis."""
    jtis = [codes.new_jti() for _ in emails]
    pending, mail = _invitation_rows(account_id, inviter_id, emails, jtis, at)
    await conn.execute(insert(invitations), pending)
    await conn.execute(insert(outbox), mail)
    return jtis


async def _seed_team(db: Database, members: int, progress: Progress) -> SeededAccount:
    domain = team_domain(members)
    account_id, admin_id, key = await _founded(db, f"Team of {members}", domain)
    invited = members // 10
    task = progress.add_task(f"team of {members:,}", total=members - 1 + invited)
    at = now()
    for numbers in batches(members - 1):
        async with db.write() as conn:
            await _add_members(
                conn, account_id, domain, range(numbers.start + 1, numbers.stop + 1), at
            )
        progress.advance(task, len(numbers))
    for numbers in batches(invited):
        async with db.write() as conn:
            emails = [f"invitee{i}@{domain}" for i in numbers]
            await _add_invitations(conn, account_id, admin_id, emails, at)
        progress.advance(task, len(numbers))
    return SeededAccount(account_id, admin_id, domain, key, members, invited)


async def _seed_load(
    db: Database, signing_key: bytes, accept_codes: int, progress: Progress
) -> tuple[SeededAccount, list[str]]:
    """The load account, with ``accept_codes`` pending invitations and their signed codes."""
    account_id, admin_id, key = await _founded(db, "Load", LOAD_DOMAIN)
    task = progress.add_task("acceptInvite codes", total=accept_codes)
    at = now()
    signed: list[str] = []
    for numbers in batches(accept_codes):
        emails = [f"accept{i}@{LOAD_DOMAIN}" for i in numbers]
        async with db.write() as conn:
            jtis = await _add_invitations(conn, account_id, admin_id, emails, at)
        for email, jti in zip(emails, jtis, strict=True):
            claims = codes.InviteClaims(jti, email, account_id, at + INVITE_LIFETIME_SECONDS)
            signed.append(codes.sign(signing_key, claims, at))
        progress.advance(task, len(numbers))
    return SeededAccount(account_id, admin_id, LOAD_DOMAIN, key, 1, accept_codes), signed


async def _vacuum_analyze(database_url: str) -> None:
    """What autovacuum does on its own soon after a bulk load (PostgreSQL only)."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def seed(
    database_url: str, sizes: list[int], *, signing_key: bytes, accept_codes: int
) -> Seeded:
    started = time.monotonic()
    db = Database(database_url)
    try:
        await migrate.upgrade(db)
        columns = (
            TextColumn("{task.description:>20}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns) as progress:
            teams = {size: await _seed_team(db, size, progress) for size in sizes}
            load, signed = await _seed_load(db, signing_key, accept_codes, progress)
    finally:
        await db.dispose()
    if not database_url.startswith("sqlite"):
        await _vacuum_analyze(database_url)
    return Seeded(teams, load, signed, time.monotonic() - started)
