"""Rate-limit budgets shared by several server processes through Redis."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import httpx
import pytest

from teamgate.app import create_app
from teamgate.config import Settings

from .conftest import PUBLIC_ORIGIN, call, error_of

REDIS_URL = "redis://127.0.0.1:6379"


@pytest.fixture
async def two_nodes(settings: Settings) -> AsyncIterator[list[httpx.AsyncClient]]:
    shared = settings.model_copy(
        update={"rate_limit_storage": REDIS_URL, "rate_limit_login_per_email": "3 per 15 minutes"}
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
