"""Rate-limit budgets: failures only, shared by several server processes through Redis; storage
that is down is a 503."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest
from limits import RateLimitItem

from teamgate.app import create_app
from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.errors import AppError, RateLimited
from teamgate.ratelimit import Limits
from tests.support import PASSWORD, PUBLIC_ORIGIN
from tests.support.api import call, error_of

REDIS_URL = "redis://127.0.0.1:6379"


@pytest.fixture
async def two_nodes(settings: Settings) -> AsyncIterator[list[httpx.AsyncClient]]:
    # Every test run on this machine shares the Redis server, and the in-process client address
    # is always the same: a per-client budget would add up across runs. These tests are about
    # the per-email budget, whose keys are fresh addresses each time.
    shared = settings.model_copy(
        update={
            "rate_limit_storage": REDIS_URL,
            "rate_limit_login_per_email": "3 per 15 minutes",
            "rate_limit_login_per_client": "1000000 per 15 minutes",
        }
    )
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(2):
            app = create_app(shared)
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            clients.append(
                await stack.enter_async_context(
                    httpx.AsyncClient(transport=transport, base_url=PUBLIC_ORIGIN)
                )
            )
        yield clients


async def test_failed_logins_count_across_nodes(two_nodes: list[httpx.AsyncClient]) -> None:
    email = f"victim-{secrets.token_hex(6)}@acme.com"
    statuses = [
        (
            await call(two_nodes[i % 2], "login", {"email": email, "password": "wrong password"})
        ).status_code
        for i in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    limited = await call(two_nodes[0], "login", {"email": email, "password": "wrong password"})
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert error_of(limited) == "Too many requests, try again later"
    # Another email still has its own budget.
    other = await call(two_nodes[1], "login", {"email": f"x-{email}", "password": "wrong password"})
    assert other.status_code == 401


async def test_a_login_that_storage_fails_spends_no_budget(settings: Settings) -> None:
    """Storage down is nobody's failed guess: once it is back, the owner can still log in."""
    unreachable = settings.model_copy(
        update={
            "database_url": "postgresql://postgres@127.0.0.1:1/teamgate",
            "rate_limit_login_per_email": "2 per 15 minutes",
            "rate_limit_login_per_client": "2 per 15 minutes",
        }
    )
    app = create_app(unreachable)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_ORIGIN) as http:
            statuses = [
                (
                    await call(http, "login", {"email": "ada@acme.com", "password": "whatever!"})
                ).status_code
                for _ in range(4)
            ]
    assert statuses == [503, 503, 503, 503]


async def _remaining(limits: Limits, item: RateLimitItem, key: str) -> int:
    return int((await limits.limiter.get_window_stats(item, key)).remaining)


async def test_counting_failures_keeps_only_the_clients_failures(settings: Settings) -> None:
    limits = Limits(settings.model_copy(update={"rate_limit_login_per_email": "5 per minute"}))
    item, key = limits.login_per_email, "budget-test"

    async with limits.counting_failures(item, key):
        assert await _remaining(limits, item, key) == 4  # counted before it is judged
    assert await _remaining(limits, item, key) == 5  # a success gives it back

    with pytest.raises(RateLimited):
        async with limits.counting_failures(item, key):
            raise RateLimited(3)  # another budget refused it: not judged, not counted
    with pytest.raises(ConnectionError):
        async with limits.counting_failures(item, key):
            raise ConnectionError  # storage failed: not the client's failure
    assert await _remaining(limits, item, key) == 5

    for _ in range(5):
        with pytest.raises(AppError):
            async with limits.counting_failures(item, key):
                raise AppError("Invalid email or password", 401)
    assert await _remaining(limits, item, key) == 0
    with pytest.raises(RateLimited):
        async with limits.counting_failures(item, key):
            raise AssertionError("an attempt over budget never runs")


async def test_rate_limit_storage_down_is_a_503(settings: Settings, ctx: AppContext) -> None:
    from teamgate.app import create_app

    broken = create_app(settings.model_copy(update={"rate_limit_storage": "redis://127.0.0.1:1"}))
    async with broken.router.lifespan_context(broken):
        transport = httpx.ASGITransport(app=broken)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await call(http, "login", {"email": "a@acme.com", "password": PASSWORD})
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()


async def test_an_app_closes_its_redis_connections_when_it_stops(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"rate_limit_storage": REDIS_URL}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_ORIGIN) as http:
            await call(http, "login", {"email": "ada@acme.com", "password": "wrong password"})
        # `limits` wraps a Redis client with no public way to see its connections: look in it.
        pool = app.state.ctx.limits.storage.bridge.storage.connection_pool
        connections = [*pool._available_connections, *pool._in_use_connections]
        assert any(connection.is_connected for connection in connections)
    assert not any(connection.is_connected for connection in connections)
