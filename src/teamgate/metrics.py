"""Prometheus metrics, served at ``/metrics`` (see docs/operations.md for every name and label).

Counts only, never a secret. Label values are bounded: a route is the template it matched
(``/accept/{code}``), or ``unmatched``; a method outside the usual ones is ``other``.

Several worker processes (``teamgate serve --workers N``) share their values through
prometheus-client's multi-process mode: ``serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a
fresh private directory before the workers start, and a scrape, whichever worker answers it,
adds up the files of all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import cache
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

if TYPE_CHECKING:
    from teamgate.db import Database

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
POOL_SAMPLE_SECONDS = 5.0

REQUESTS = Counter(
    "teamgate_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "teamgate_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route template and method.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
INVITATIONS_CREATED = Counter(
    "teamgate_invitations_created",
    "Invitations created (kind=new) or sent again with a new link (kind=resend), once committed.",
    ["kind"],
)
INVITATIONS_ACCEPTED = Counter(
    "teamgate_invitations_accepted", "Invitations accepted, once committed."
)
LOGIN_FAILURES = Counter(
    "teamgate_login_failures", "Failed logins (unknown email, wrong password, not a member)."
)
RATE_LIMITED = Counter(
    "teamgate_rate_limited",
    "Requests refused with 429 by a rate limit, by budget.",
    ["limit"],
)
DB_CONNECTIONS_IN_USE = Gauge(
    "teamgate_db_connections_in_use",
    "Database connections checked out of a pool, by pool (summed over live workers).",
    ["pool"],
    multiprocess_mode="livesum",
)
DB_CONNECTIONS_OPEN = Gauge(
    "teamgate_db_connections_open",
    "Database connections a pool holds open, by pool (summed over live workers).",
    ["pool"],
    multiprocess_mode="livesum",
)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_DIR_VARIABLE) or None


# --- what the code counts ---------------------------------------------------------------------


def invitation_created(*, resending: bool) -> Callable[[], Awaitable[None]]:
    """An after-commit effect that counts one invitation made (``tx.after_commit(...)``)."""
    return _resent if resending else _created


async def _created() -> None:
    INVITATIONS_CREATED.labels("new").inc()


async def _resent() -> None:
    INVITATIONS_CREATED.labels("resend").inc()


async def invitation_accepted() -> None:
    """An after-commit effect: one invitation accepted."""
    INVITATIONS_ACCEPTED.inc()


async def login_failed() -> None:
    """An after-commit effect: one failed login, recorded in the history."""
    LOGIN_FAILURES.inc()


def rate_limited(limit: str) -> None:
    """One request refused by the budget named ``limit`` (``login-email``, ``invite-account`` …)."""
    RATE_LIMITED.labels(limit).inc()


class RequestMetrics:
    """Counts and times requests, with each (route, method, status)'s label children resolved
    once: ``.labels()`` on every request would cost more than the increment itself."""

    def __init__(self) -> None:
        self._children: dict[
            tuple[str, str, int], tuple[Callable[[], None], Callable[[float], None]]
        ] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            if method not in METHODS:
                method = "other"
            children = (
                REQUESTS.labels(route, method, str(status)).inc,
                REQUEST_SECONDS.labels(route, method).observe,
            )
            self._children[key] = children
        inc, observe = children
        inc()
        observe(seconds)


# --- the database pools -----------------------------------------------------------------------


def sample_pools(db: Database) -> None:
    """Read the pools' state into the gauges: the SQLAlchemy engines' queue pools and, on
    PostgreSQL, the asyncpg pool of the hot-path reads."""
    engines = [("writer", db.writer)]
    if db.reader is not db.writer:  # SQLite: a reader engine of its own
        engines.append(("reader", db.reader))
    for name, engine in engines:
        pool = engine.sync_engine.pool
        checked_out = getattr(pool, "checkedout", None)
        checked_in = getattr(pool, "checkedin", None)
        if callable(checked_out) and callable(checked_in):
            in_use = int(checked_out())
            DB_CONNECTIONS_IN_USE.labels(name).set(in_use)
            DB_CONNECTIONS_OPEN.labels(name).set(in_use + int(checked_in()))
    raw = db.raw.pg_pool
    if raw is not None:
        size, idle = raw.get_size(), raw.get_idle_size()
        DB_CONNECTIONS_IN_USE.labels("raw").set(size - idle)
        DB_CONNECTIONS_OPEN.labels("raw").set(size)


@asynccontextmanager
async def sampling(db: Database) -> AsyncIterator[None]:
    """For the lifetime of a worker process: in multi-process mode, keep its pool gauges fresh
    (a scrape reads the other workers' from their files), and drop its live gauges when it
    stops. In one process a scrape reads the pools itself."""
    directory = multiprocess_dir()
    if directory is None:
        yield
        return

    async def sample() -> None:
        while True:
            sample_pools(db)
            await asyncio.sleep(POOL_SAMPLE_SECONDS)

    task = asyncio.create_task(sample())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        prometheus_multiprocess.mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]


@cache
def _registry(directory: str | None) -> CollectorRegistry:
    if directory is None:
        return REGISTRY
    registry = CollectorRegistry()
    prometheus_multiprocess.MultiProcessCollector(registry, directory)  # type: ignore[no-untyped-call]
    return registry


async def exposition(db: Database) -> bytes:
    """The text exposition of every metric (of every worker, in multi-process mode)."""
    sample_pools(db)
    registry = _registry(multiprocess_dir())
    if registry is REGISTRY:
        return generate_latest(registry)
    return await asyncio.to_thread(generate_latest, registry)  # reads every worker's files
