"""Rate limits on failures (logins, acceptances) and on invitations, via the `limits` library.

Attempts are counted *before* they are judged (so parallel guesses cannot overrun a budget)
and refunded unless they fail through the client's fault, so a budget counts failures only.
Fixed windows: a refund is an exact decrement. Storage is in memory by default; point
``TEAMGATE_RATE_LIMIT_STORAGE`` at Redis (``redis://host:6379``) so that several server
processes share one budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

from teamgate import metrics
from teamgate.config import Settings
from teamgate.errors import AppError, RateLimited


def _storage_uri(uri: str) -> str:
    """`limits` names its asyncio storages ``async+<scheme>://``; accept the plain form too."""
    return uri if uri.startswith("async+") else "async+" + uri


class Limits:
    def __init__(self, settings: Settings) -> None:
        # Storage failures surface as limits.errors.StorageError: a 503, like the database's.
        self.storage = storage_from_string(
            _storage_uri(settings.rate_limit_storage), wrap_exceptions=True
        )
        self.limiter = FixedWindowRateLimiter(self.storage)
        self.login_per_email = parse(settings.rate_limit_login_per_email)
        self.login_per_client = parse(settings.rate_limit_login_per_client)
        self.accept_per_client = parse(settings.rate_limit_accept_per_client)
        self.invite_per_account = parse(settings.rate_limit_invite_per_account)
        self.resend_per_invitation = parse(settings.rate_limit_resend_per_invitation)
        self.reset_per_email = parse(settings.rate_limit_reset_per_email)
        self.reset_per_client = parse(settings.rate_limit_reset_per_client)
        self.ask_per_email = parse(settings.rate_limit_ask_per_email)

    async def close(self) -> None:
        """Close the storage's connections, if it holds any (Redis). `limits` has no call for
        this: reach the client its Redis storage wraps."""
        client = getattr(getattr(self.storage, "bridge", None), "storage", None)
        pool = getattr(client, "connection_pool", None)
        if pool is not None:
            pool.disconnect()

    async def try_take(self, item: RateLimitItem, *key: str) -> bool:
        """Count one use if the budget has one left: whether it had (nothing is raised)."""
        return await self.limiter.hit(item, *key)

    async def take(self, item: RateLimitItem, *key: str) -> None:
        """Count one use, or raise 429 (counting nothing) when the budget is already spent."""
        (await self.reserve(item, *key)).check()

    @asynccontextmanager
    async def counting_failures(self, item: RateLimitItem, *key: str) -> AsyncIterator[None]:
        """Count the attempt in the block before it is judged (429 at once, counting nothing,
        when the budget is spent), and give it back unless the block ends in the client's
        failure: on success, on a 429 from another budget, and on errors that are not the
        client's doing (storage unavailable) it is not a failed attempt."""
        await self.take(item, *key)
        try:
            yield
        except AppError as error:
            if isinstance(error, RateLimited):
                await self.refund(item, *key)
            raise
        except Exception:
            await self.refund(item, *key)
            raise
        await self.refund(item, *key)

    async def reserve(self, item: RateLimitItem, *key: str) -> Reservation:
        """Count one use now and judge it later: for a budget spent inside a transaction, whose
        storage (possibly remote) must not be called from inside it."""
        if await self.limiter.hit(item, *key):
            return Reservation(self, item, key, retry_after=None)
        await self.refund(item, *key)
        stats = await self.limiter.get_window_stats(item, *key)
        return Reservation(self, item, key, max(1, math.ceil(stats.reset_time - time.time())))

    async def reserve_up_to(self, item: RateLimitItem, count: int, *key: str) -> Allowance:
        """Count up to ``count`` uses now (as many as the budget has left), to be spent inside
        a transaction and the rest given back after it (see ``Allowance``)."""
        stats = await self.limiter.get_window_stats(item, *key)
        granted = min(count, max(0, stats.remaining))
        if granted and not await self.limiter.hit(item, *key, cost=granted):
            granted = 0  # taken meanwhile by someone else: none this time
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        return Allowance(self, item, key, granted, retry_after)

    async def refund(self, item: RateLimitItem, *key: str) -> None:
        """Give back one use: the attempt turned out not to be a failure."""
        await self.limiter.hit(item, *key, cost=-1)


@dataclass(frozen=True, slots=True)
class Reservation:
    """One use of a budget, counted; ``retry_after`` is set when the budget was already spent
    (and then nothing was counted)."""

    limits: Limits
    item: RateLimitItem
    key: tuple[str, ...]
    retry_after: int | None

    def check(self) -> None:
        """429 if the budget was spent."""
        if self.retry_after is not None:
            metrics.rate_limited(self.key[0])
            raise RateLimited(self.retry_after)

    async def cancel(self) -> None:
        """Give the use back (the attempt did not happen after all)."""
        if self.retry_after is None:
            await self.limits.refund(self.item, *self.key)


@dataclass(slots=True)
class Allowance:
    """Uses of a budget counted ahead (``reserve_up_to``): ``spend()`` one (429 once none is
    left), then ``settle()`` to give back those not spent."""

    limits: Limits
    item: RateLimitItem
    key: tuple[str, ...]
    granted: int
    retry_after: int
    spent: int = 0

    def spend(self) -> None:
        if self.spent >= self.granted:
            metrics.rate_limited(self.key[0])
            raise RateLimited(self.retry_after)
        self.spent += 1

    async def settle(self, *, committed: bool = True) -> None:
        """Give back what was not spent (all of it when the work did not commit)."""
        unused = self.granted - (self.spent if committed else 0)
        if unused:
            await self.limits.limiter.hit(self.item, *self.key, cost=-unused)
