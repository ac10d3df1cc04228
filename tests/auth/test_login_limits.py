"""Failed logins are limited per email and per client, also when they arrive at once."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from teamgate.config import Settings
from teamgate.context import AppContext
from tests.conftest import new_account, new_member
from tests.support import PASSWORD
from tests.support.api import error_of
from tests.support.sessions import login, set_cookies
from tests.support.state import snapshot

LOGIN_LIMIT_PER_EMAIL = 3
LOGIN_LIMIT_PER_CLIENT = 5


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Low login limits, so that rate limiting is cheap to reach (argon2 costs ~50 ms a try)."""
    return settings.model_copy(
        update={
            "rate_limit_login_per_email": f"{LOGIN_LIMIT_PER_EMAIL} per 15 minutes",
            "rate_limit_login_per_client": f"{LOGIN_LIMIT_PER_CLIENT} per 15 minutes",
        }
    )


async def test_failed_logins_per_email_are_limited(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await new_account(ctx)
    mia = await new_member(ctx, admin.account_id, "mia@acme.com", can_login=True)
    spellings = ["mia@acme.com", "MIA@acme.com", " Mia@Acme.com "]  # one email, one budget
    for attempt in range(LOGIN_LIMIT_PER_EMAIL):
        response = await login(client, spellings[attempt % len(spellings)], "wrong password")
        assert response.status_code == 401, response.text

    limited = await login(client, mia.email, "wrong password")
    assert limited.status_code == 429, limited.text
    error_of(limited)
    retry_after = limited.headers["Retry-After"]
    assert retry_after.isdigit()
    assert 1 <= int(retry_after) <= 15 * 60

    before = await snapshot(ctx)
    correct = await login(client, "MIA@acme.com", PASSWORD)
    assert correct.status_code == 429, correct.text
    assert correct.headers["Retry-After"].isdigit()
    assert set_cookies(correct) == []
    assert await snapshot(ctx) == before

    # another email from the same client is not affected
    assert (await login(client, admin.email)).status_code == 200


async def test_failed_logins_per_client_are_limited(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await new_account(ctx)
    for attempt in range(LOGIN_LIMIT_PER_CLIENT):
        response = await login(
            client,
            f"nobody{attempt}@acme.com",
            "wrong password",
            headers={"X-Forwarded-For": f"203.0.113.{attempt}"},  # no trusted proxy: ignored
        )
        assert response.status_code == 401, response.text

    limited = await login(
        client, "someone-else@acme.com", "x", headers={"X-Forwarded-For": "198.51.100.7"}
    )
    assert limited.status_code == 429, limited.text
    error_of(limited)
    assert limited.headers["Retry-After"].isdigit()

    before = await snapshot(ctx)
    correct = await login(client, admin.email)
    assert correct.status_code == 429, correct.text
    assert set_cookies(correct) == []
    assert await snapshot(ctx) == before


async def test_concurrent_failed_logins_cannot_exceed_the_limit(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    """A burst of parallel guesses must not get more tries than the limit allows."""
    admin = await new_account(ctx)
    responses = await asyncio.gather(
        *(
            client.post("/api/login", json={"email": admin.email, "password": f"guess {n}"})
            for n in range(LOGIN_LIMIT_PER_EMAIL + 3)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {401, 429}, statuses
    assert statuses.count(401) <= LOGIN_LIMIT_PER_EMAIL, statuses
