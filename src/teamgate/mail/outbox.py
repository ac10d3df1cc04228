"""The outbox (the ``outbox`` table) and the worker that delivers it.

A change that means an email (an invitation made or replaced) writes one outbox row in its own
transaction: the email is as durable as the invitation, and never sent for a change that rolled
back. A worker delivers after commit: inside ``teamgate serve`` (woken at once by the change
that queued the row, and polling for the rest), or as ``teamgate worker``. Several workers on
several nodes share the table:

- a worker *claims* due rows (PostgreSQL ``FOR UPDATE SKIP LOCKED``; SQLite's writer lock lets
  one claimer in at a time), marking them ``sending`` with a lease, and delivers them outside
  any transaction; a row whose lease ran out (its worker died) is due again;
- it then records the outcome only if its lease still holds: ``sent``; ``retrying`` after a
  transient failure (refused connection, timeout, SMTP 4xx), with exponential backoff and
  jitter, capped; ``failed`` after a permanent one (SMTP 5xx) or the last attempt; ``dropped``
  when the invitation was replaced, revoked or accepted before it could be sent.

The body is rendered when the message is sent, from the invitation it names: the link is the
very one the API returned (the same signed claims), and it is never stored here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate.config import Settings
from teamgate.db import Database, now
from teamgate.errors import is_storage_failure
from teamgate.invitations import codes
from teamgate.mail import render
from teamgate.mail.message import DeliveryError, Message
from teamgate.mail.transport import Transport
from teamgate.models import accounts, invitations, outbox, users
from teamgate.users import password_resets as resets

log = logging.getLogger("teamgate")

INVITATION = "invitation"
INVITATION_REQUEST = "invitation_request"
PASSWORD_RESET = "password_reset"  # noqa: S105 (a kind of message, not a secret)
QUEUED, SENDING, RETRYING, SENT, FAILED, DROPPED = (
    "queued", "sending", "retrying", "sent", "failed", "dropped",
)  # fmt: skip
EXPIRED_UNSENT = "The invitation expired before its email could be sent"
LEASE_SECONDS = 120  # a claim lasts this long: far longer than one SMTP conversation
BATCH = 20


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    kind: str
    recipient: str
    invitation_jti: str | None
    password_reset_id: int | None
    about_email: str | None
    account_id: int | None
    origin: str | None
    message_key: str
    attempts: int  # this attempt included
    lease_until: int


async def enqueue_invitation(
    conn: AsyncConnection, *, account_id: int, recipient: str, jti: str, origin: str, at: int
) -> None:
    """Queue the email of an invitation, in the transaction that makes the invitation."""
    await _enqueue(
        conn, INVITATION, recipient, at, account_id=account_id, invitation_jti=jti, origin=origin
    )


async def enqueue_password_reset(
    conn: AsyncConnection, *, recipient: str, reset_id: int, at: int
) -> None:
    """Queue the email of a password link, in the transaction that makes the link."""
    await _enqueue(conn, PASSWORD_RESET, recipient, at, password_reset_id=reset_id)


async def enqueue_invitation_request(
    conn: AsyncConnection, *, account_id: int, admin_email: str, requester: str, at: int
) -> None:
    """Tell an ADMIN that ``requester`` asks for a new invitation (their link no longer works)."""
    await _enqueue(
        conn, INVITATION_REQUEST, admin_email, at, account_id=account_id, about_email=requester
    )


async def _enqueue(
    conn: AsyncConnection, kind: str, recipient: str, at: int, **about: object
) -> None:
    """A message due now; ``about`` names what it is rendered from when it is sent."""
    await conn.execute(
        insert(outbox).values(
            kind=kind,
            recipient=recipient,
            message_key=secrets.token_hex(16),
            status=QUEUED,
            attempts=0,
            next_attempt_at=at,
            created_at=at,
            **about,
        )
    )


def _due(at: int) -> ColumnElement[bool]:
    c = outbox.c
    return or_(
        and_(c.status.in_((QUEUED, RETRYING)), c.next_attempt_at <= at),
        and_(c.status == SENDING, c.claimed_until < at),  # its worker died mid-way
    )


async def claim(db: Database, at: int, *, limit: int = BATCH) -> list[Claimed]:
    """Claim up to ``limit`` due messages for this worker, oldest first."""
    c = outbox.c
    lease_until = at + LEASE_SECONDS
    async with db.read() as conn:  # most polls find nothing: no write transaction for them
        if (await conn.execute(select(c.id).where(_due(at)).limit(1))).first() is None:
            return []
    async with db.write() as conn:
        query = select(c.id).where(_due(at)).order_by(c.next_attempt_at, c.id).limit(limit)
        if conn.dialect.name != "sqlite":
            query = query.with_for_update(skip_locked=True)
        ids = list((await conn.execute(query)).scalars())
        if not ids:
            return []
        await conn.execute(
            update(outbox)
            .where(c.id.in_(ids))
            .values(status=SENDING, claimed_until=lease_until, attempts=c.attempts + 1)
        )
        rows = await conn.execute(
            select(
                c.id,
                c.kind,
                c.recipient,
                c.invitation_jti,
                c.password_reset_id,
                c.about_email,
                c.account_id,
                c.origin,
                c.message_key,
                c.attempts,
            )
            .where(c.id.in_(ids))
            .order_by(c.next_attempt_at, c.id)
        )
        return [Claimed(**row._mapping, lease_until=lease_until) for row in rows]


async def _record(
    db: Database,
    claimed: Claimed,
    *,
    status: str,
    error: str | None = None,
    retry_at: int | None = None,
) -> bool:
    """Record how an attempt ended, if this worker's lease still holds (else another worker
    took the message over, and its outcome stands)."""
    c = outbox.c
    values: dict[str, object] = {"status": status, "claimed_until": None, "last_error": error}
    if status == SENT:
        values["sent_at"] = now()
    if retry_at is not None:
        values["next_attempt_at"] = retry_at
    async with db.write() as conn:
        result = await conn.execute(
            update(outbox)
            .where(c.id == claimed.id, c.status == SENDING, c.claimed_until == claimed.lease_until)
            .values(**values)
        )
    return bool(result.rowcount)


@dataclass(frozen=True, slots=True)
class _InvitationNow:
    account_id: int
    email: str
    role: str
    expires_at: int
    created_at: int
    account_name: str
    inviter_name: str | None


async def _invitation(conn: AsyncConnection, jti: str) -> _InvitationNow | None:
    """The pending invitation a message is for, as it stands now (None once it is gone)."""
    i = invitations.c
    row = (
        await conn.execute(
            select(
                i.account_id,
                i.email,
                i.role,
                i.expires_at,
                i.created_at,
                accounts.c.name,
                users.c.name,
            )
            .join(accounts, accounts.c.id == i.account_id)
            .outerjoin(users, users.c.id == i.inviter_id)
            .where(i.jti == jti)
        )
    ).first()
    return _InvitationNow(*row) if row else None


def backoff(settings: Settings, attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed try: exponential from the base, capped,
    with jitter (half fixed, half random) so that many messages do not retry in step."""
    delay = min(
        settings.mail_retry_cap_seconds, settings.mail_retry_base_seconds * 2 ** (attempts - 1)
    )
    jittered: float = delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 (not a secret)
    return jittered


class Worker:
    """Delivers the outbox: ``deliver_due()`` once, or ``run()`` until stopped."""

    def __init__(self, settings: Settings, db: Database, transport: Transport) -> None:
        self.settings = settings
        self.db = db
        self.transport = transport
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something was queued: deliver now rather than at the next poll."""
        self._wake.set()

    async def woken(self) -> None:
        """``wake`` as an after-commit effect."""
        self.wake()

    async def deliver_due(self) -> int:
        """Deliver every message due now; how many were attempted."""
        done = 0
        while True:
            batch = await claim(self.db, now())
            if not batch:
                return done
            await asyncio.gather(*(self._deliver(claimed) for claimed in batch))
            done += len(batch)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; storage trouble is logged and waited out."""
        while not stop.is_set():
            try:
                await self.deliver_due()
            except Exception as error:  # never stop delivering: what was claimed is retried
                if is_storage_failure(error):
                    log.warning("mail delivery waits for the database: %s", type(error).__name__)
                else:
                    log.exception("mail delivery failed; it goes on at the next poll")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                waiters = [
                    asyncio.ensure_future(self._wake.wait()),
                    asyncio.ensure_future(stop.wait()),
                ]
                try:
                    await asyncio.wait(
                        waiters,
                        timeout=self.settings.mail_poll_seconds,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    for waiter in waiters:
                        waiter.cancel()

    async def _deliver(self, claimed: Claimed) -> None:
        message = await self._message(claimed)
        if message is None:
            return
        try:
            await self.transport.send(message)
        except DeliveryError as error:
            await self._failed(claimed, error)
            return
        await _record(self.db, claimed, status=SENT)

    async def _message(self, claimed: Claimed) -> Message | None:
        """The message to send now, or None (recorded as dropped or failed) when it must not be."""
        if claimed.kind == PASSWORD_RESET:
            return await self._password_reset(claimed)
        if claimed.kind == INVITATION_REQUEST:
            return await self._invitation_request(claimed)
        async with self.db.read() as conn:
            invitation = await _invitation(conn, claimed.invitation_jti or "")
        if invitation is None:  # replaced, revoked or accepted: its link is dead
            await _record(self.db, claimed, status=DROPPED)
            return None
        if invitation.expires_at <= now():
            await _record(self.db, claimed, status=FAILED, error=EXPIRED_UNSENT)
            return None
        claims = codes.InviteClaims(
            claimed.invitation_jti or "",
            invitation.email,
            invitation.account_id,
            invitation.expires_at,
        )
        code = codes.sign(self.settings.signing_key, claims, invitation.created_at)
        origin = claimed.origin or self.settings.public_origins[0]
        email = render.InvitationEmail(
            to=claimed.recipient,
            inviter_name=invitation.inviter_name,
            account_name=invitation.account_name,
            role=invitation.role,
            expires_at=invitation.expires_at,
            link=codes.link(origin, code, invitation.email),
        )
        return render.invitation(
            self.settings, email, render.message_id(self.settings, claimed.message_key)
        )

    async def _password_reset(self, claimed: Claimed) -> Message | None:
        async with self.db.read() as conn:
            reset = await resets.pending(conn, claimed.password_reset_id or 0, now())
        if reset is None:  # used, replaced by a newer one, or expired: never send it dead
            await _record(self.db, claimed, status=DROPPED)
            return None
        token = resets.token_for(self.settings.signing_key, reset.nonce)
        origin = self.settings.public_origins[0]
        return render.password_reset(
            self.settings,
            render.PasswordResetEmail(
                to=claimed.recipient,
                expires_at=reset.expires_at,
                link=f"{origin}/reset?{urlencode({'token': token})}",
            ),
            render.message_id(self.settings, claimed.message_key),
        )

    async def _invitation_request(self, claimed: Claimed) -> Message | None:
        async with self.db.read() as conn:
            name = (
                await conn.execute(
                    select(accounts.c.name).where(accounts.c.id == (claimed.account_id or 0))
                )
            ).scalar_one_or_none()
        if name is None:
            await _record(self.db, claimed, status=DROPPED)
            return None
        return render.invitation_request(
            self.settings,
            render.InvitationRequestEmail(
                to=claimed.recipient,
                requester=claimed.about_email or "",
                account_name=name,
                team_link=f"{self.settings.public_origins[0]}/team",
            ),
            render.message_id(self.settings, claimed.message_key),
        )

    async def _failed(self, claimed: Claimed, error: DeliveryError) -> None:
        reason = error.reason[:500]
        if error.permanent or claimed.attempts >= self.settings.mail_max_attempts:
            log.warning("an email to %s failed: %s", claimed.recipient, reason)
            await _record(self.db, claimed, status=FAILED, error=reason)
            return
        retry_at = now() + max(1, round(backoff(self.settings, claimed.attempts)))
        await _record(self.db, claimed, status=RETRYING, error=reason, retry_at=retry_at)


@contextlib.asynccontextmanager
async def delivering(worker: Worker | None) -> AsyncIterator[None]:
    """Run ``worker`` in the background while the block runs (a server's lifetime)."""
    if worker is None:
        yield
        return
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop), name="teamgate-mail")
    try:
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, timeout=10)
        except TimeoutError:
            log.warning("mail delivery did not stop in time; what it was sending stays claimed")
        except Exception:
            log.exception("mail delivery stopped with an error")
