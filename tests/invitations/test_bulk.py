"""bulkInviteUsers: each row judged exactly as inviteUsers judges one, in order; the valid rows
committed together, each with its email."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.models import invitations, outbox
from tests.conftest import make_account, make_member
from tests.support.api import call, error_of
from tests.support.state import snapshot

TOO_MANY = "Too many requests, try again later"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_invite_per_account": "1100 per hour"})


def _row(email: Any, role: Any = "VIEWER", **extra: Any) -> dict[str, Any]:
    return {"inviteeEmail": email, "inviteeRole": role, **extra}


async def _bulk(client: httpx.AsyncClient, key: str, rows: Any) -> httpx.Response:
    return await call(client, "bulkInviteUsers", {"invitations": rows}, key=key)


async def _count(ctx: AppContext, table: Any) -> int:
    async with ctx.db.read() as conn:
        total: int = (await conn.execute(select(func.count()).select_from(table))).scalar_one()
    return total


async def test_each_row_gets_inviteusers_answer_in_order(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    await make_member(ctx, admin.account_id, "mia@acme.com", "MEMBER")
    await call(client, "updateAccountSettings", {"seatLimit": 5}, key=admin.api_key)
    rows = [
        _row("ok1@acme.com", "MEMBER", inviteeName="One"),
        _row("not an email"),
        "not an object",
        _row("mia@acme.com"),
        _row("x@other.org"),
        _row("ok2@acme.com", "OVERLORD"),
        _row("ok2@acme.com", "VIEWER", websiteHostName="https://evil.example"),
        _row("OK2@acme.com", "developer"),
        _row("ok1@acme.com", "ADMIN"),  # replaces the first row's invitation: no new seat
        _row("ok3@acme.com"),
        _row("ok4@acme.com"),  # admin + mia + ok1 + ok2 + ok3 = 5 seats
    ]

    response = await _bulk(client, admin.api_key, rows)

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["inviteeEmail"], r["ok"], r["error"]) for r in results] == [
        ("ok1@acme.com", True, None),
        ("not an email", False, "Invalid email"),
        (None, False, "Each invitation must be a JSON object"),
        ("mia@acme.com", False, "User already exists"),
        ("x@other.org", False, "Email must belong to same organisation"),
        ("ok2@acme.com", False, "Invalid role"),
        ("ok2@acme.com", False, "Invalid website host name"),
        ("ok2@acme.com", True, None),
        ("ok1@acme.com", True, None),
        ("ok3@acme.com", True, None),
        ("ok4@acme.com", False, "Seat limit reached"),
    ]
    assert all((r["finalInviteCode"] is None) != r["ok"] for r in results)
    team = (await call(client, "getTeamData", key=admin.api_key)).json()
    pending = {e["login"]: e["invitedRole"] for e in team if e.get("isInvitation")}
    assert pending == {
        "ok1@acme.com": "ADMIN",
        "ok2@acme.com": "DEVELOPER",
        "ok3@acme.com": "VIEWER",
    }
    assert await _count(ctx, outbox) == 4  # one email per invitation made (ok1's first one too)


@pytest.mark.parametrize("rows", [[], [_row(f"u{n}@acme.com") for n in range(1001)], "x", None])
async def test_the_batch_must_hold_1_to_1000_rows(
    client: httpx.AsyncClient, ctx: AppContext, rows: Any
) -> None:
    admin = await make_account(ctx)
    before = await snapshot(ctx)

    response = await _bulk(client, admin.api_key, rows)

    assert (response.status_code, error_of(response)) == (
        400,
        "invitations must be a list of 1 to 1,000 invitations",
    )
    assert await snapshot(ctx) == before


async def test_a_thousand_rows_commit_together(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx)

    response = await _bulk(client, admin.api_key, [_row(f"u{n}@acme.com") for n in range(1000)])

    assert response.status_code == 200
    assert all(r["ok"] for r in response.json()["results"])
    assert await _count(ctx, invitations) == 1000
    assert await _count(ctx, outbox) == 1000


async def test_rows_past_the_invitation_budget_are_429s_and_the_rest_is_given_back(
    client: httpx.AsyncClient, ctx: AppContext, settings: Settings
) -> None:
    admin = await make_account(ctx)
    limited = settings.model_copy(update={"rate_limit_invite_per_account": "3 per hour"})
    ctx.limits = type(ctx.limits)(limited)
    await call(client, "inviteUsers", _row("first@acme.com"), key=admin.api_key)

    response = await _bulk(
        client, admin.api_key, [_row("bad"), *[_row(f"b{n}@acme.com") for n in range(3)]]
    )

    assert [(r["ok"], r["error"]) for r in response.json()["results"]] == [
        (False, "Invalid email"), (True, None), (True, None), (False, TOO_MANY),
    ]  # fmt: skip
    refused = await call(client, "inviteUsers", _row("late@acme.com"), key=admin.api_key)
    assert refused.status_code == 429


async def test_a_member_barred_from_inviting_is_refused_whole(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    mia = await make_member(ctx, admin.account_id, "mia@acme.com", "MEMBER")
    await call(client, "updateAccountSettings", {"whoCanInvite": "ADMINS"}, key=admin.api_key)
    before = await snapshot(ctx)

    for body in ([_row("x@acme.com")], "not even a list"):
        response = await _bulk(client, mia.api_key, body)
        assert (response.status_code, error_of(response)) == (
            403,
            "The role 'MEMBER' does not have access.",
        )
    assert await snapshot(ctx) == before
