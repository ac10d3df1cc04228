"""The unit of work: the single way a service reads as a caller or changes anything.

- ``acting(db, credential, action)``: a write transaction, as a caller re-read under their
  account's lock and allowed ``action``. Every write a caller makes starts here.
- ``transaction(db)``: a write transaction with no caller yet (logging in, accepting an
  invitation, creating an account).
- ``reading(db, credential, action)``: a read as a caller allowed ``action``.

A ``Tx`` carries the connection, the time, the request id and (when acting) the caller. Audit
events go through ``tx.record(...)``; side effects that must not happen unless the change does
(remote calls, later email) go through ``tx.after_commit(...)`` and run once the transaction
has committed. Nothing slow or remote belongs inside the transaction itself: on SQLite a write
transaction holds the whole database's write lock.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from teamgate import audit
from teamgate.accounts import repository as accounts
from teamgate.auth.caller import Caller, Credential, resolve
from teamgate.correlation import current_request_id
from teamgate.db import Database, now
from teamgate.roles import Action

log = logging.getLogger("teamgate")

Effect = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class Tx:
    """One write transaction in progress."""

    conn: AsyncConnection
    at: int
    request_id: str | None
    _effects: list[Effect] = field(default_factory=list)

    def _actor(self) -> tuple[int | None, int | None, str | None]:
        """(account id, user id, actor) that events record unless they name others."""
        return None, None, None

    async def record(
        self,
        action: str,
        *,
        target: str | None = None,
        role_before: str | None = None,
        role_after: str | None = None,
        details: Mapping[str, Any] | None = None,
        outcome: str = "success",
        account_id: int | None = None,
        actor_user_id: int | None = None,
        actor: str | None = None,
    ) -> None:
        """Append an event to the membership history, in this transaction."""
        default_account, default_user, default_actor = self._actor()
        await audit.append(
            self.conn,
            audit.Event(
                at=self.at,
                action=action,
                outcome=outcome,
                request_id=self.request_id,
                account_id=default_account if account_id is None else account_id,
                actor_user_id=default_user if actor_user_id is None else actor_user_id,
                actor=default_actor if actor is None else actor,
                target=target,
                role_before=role_before,
                role_after=role_after,
                details=details,
            ),
        )

    def after_commit(self, effect: Effect) -> None:
        """Run ``effect`` once this transaction has committed (never if it rolls back)."""
        self._effects.append(effect)


@dataclass(slots=True)
class ActingTx(Tx):
    """A write transaction on behalf of a caller, who is read under their account's lock.
    Its events record the caller's account and the caller as the actor."""

    caller: Caller = field(kw_only=True)

    def _actor(self) -> tuple[int | None, int | None, str | None]:
        return self.caller.account_id, self.caller.actor_user_id, self.caller.actor


@dataclass(frozen=True, slots=True)
class View:
    """A read as a caller."""

    conn: AsyncConnection
    at: int
    caller: Caller


async def _run_effects(tx: Tx) -> None:
    # The change stands once committed: an effect that fails is logged, and the rest still run.
    for effect in tx._effects:
        try:
            await effect()
        except Exception:
            log.warning("an after-commit effect failed", exc_info=True)


@asynccontextmanager
async def transaction(db: Database) -> AsyncIterator[Tx]:
    """A write transaction with no caller; committed when the block ends without an error."""
    async with db.write() as conn:
        tx = Tx(conn, now(), current_request_id.get())
        yield tx
    await _run_effects(tx)


@asynccontextmanager
async def acting(
    db: Database, cred: Credential, action: Action, *, lock: bool = True
) -> AsyncIterator[ActingTx]:
    """A write transaction as the credential's caller, who must be allowed ``action``.

    Rules that span several rows (never remove the last ADMIN, never leave a key or session
    behind a removed member) are checked after the caller's account is locked, and the caller
    is re-read under that lock: a caller removed by a concurrent request is no longer a caller.
    ``lock=False`` is for the one write (switching accounts) that locks another account instead.
    """
    async with db.write() as conn:
        at = now()
        caller = await resolve(conn, cred, at)
        if lock and conn.dialect.name != "sqlite":  # SQLite's writer holds the database lock
            await accounts.lock(conn, caller.account_id)
            caller = await resolve(conn, cred, at)
        caller.require(action)
        tx = ActingTx(conn, at, current_request_id.get(), caller=caller)
        yield tx
    await _run_effects(tx)


@asynccontextmanager
async def reading(db: Database, cred: Credential, action: Action) -> AsyncIterator[View]:
    """A read as the credential's caller, who must be allowed ``action``."""
    async with db.read() as conn:
        at = now()
        caller = await resolve(conn, cred, at)
        caller.require(action)
        yield View(conn, at, caller)
