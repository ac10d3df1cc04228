"""The membership history: what is recorded, getAuditLogs's filters and paging, and the team
at a past time replayed from it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from teamgate.context import AppContext
from teamgate.models import audit_log
from tests.conftest import make_account, make_member
from tests.support import PASSWORD
from tests.support.api import call, error_of
from tests.support.invitations import invited_code
from tests.support.state import snapshot

TEXT = "{} must be a string of at most 320 characters, without control characters"
BAD_ACTION, BAD_ACTOR, BAD_TARGET = (TEXT.format(field) for field in ("action", "actor", "target"))


async def _history(client: httpx.AsyncClient, key: str, **query: Any) -> dict[str, Any]:
    response = await call(client, "getAuditLogs", query, key=key)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def _accept(client: httpx.AsyncClient, code: str, name: str) -> httpx.Response:
    response = await call(
        client, "acceptInvite", {"inviteCode": code, "name": name, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    client.cookies.clear()
    return response


async def test_every_membership_change_is_recorded_newest_first(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    key = admin.api_key
    await call(client, "createCustomRole", {"roleName": "OPS", "baseRole": "MEMBER"}, key=key)
    code = await invited_code(client, key, "bob@acme.com", "OPS")
    await _accept(client, code, "Bob")
    await call(client, "makeAdmin", {"email": "bob@acme.com", "userRole": "VIEWER"}, key=key)
    await invited_code(client, key, "eve@acme.com", "VIEWER")
    await call(client, "removeInvitation", {"email": "eve@acme.com"}, key=key)
    await call(client, "updateAccountSettings", {"seatLimit": 10}, key=key)
    await call(client, "removeUser", {"email": "bob@acme.com"}, key=key)

    events = (await _history(client, key))["events"]

    seen = [(e["action"], e["actor"], e["target"]) for e in events]
    assert seen == [
        ("member.remove", "admin@acme.com", "bob@acme.com"),
        ("account.settings", "admin@acme.com", None),
        ("invitation.revoke", "admin@acme.com", "eve@acme.com"),
        ("invitation.create", "admin@acme.com", "eve@acme.com"),
        ("member.role_change", "admin@acme.com", "bob@acme.com"),
        ("invitation.accept", "bob@acme.com", "bob@acme.com"),
        ("invitation.create", "admin@acme.com", "bob@acme.com"),
        ("role.create", "admin@acme.com", "OPS"),
        ("account.create", "cli", "admin@acme.com"),
    ]
    by_action = {e["action"]: e for e in reversed(events)}
    assert by_action["member.role_change"]["details"]["roleBefore"] == "OPS"
    assert by_action["member.role_change"]["details"]["roleAfter"] == "VIEWER"
    assert by_action["member.remove"]["details"]["roleBefore"] == "VIEWER"
    assert by_action["invitation.accept"]["details"]["roleAfter"] == "OPS"
    assert by_action["account.settings"]["details"]["before"] == {"seatLimit": None}
    assert by_action["account.settings"]["details"]["after"] == {"seatLimit": 10}
    assert by_action["role.create"]["details"]["baseRole"] == "MEMBER"
    assert all(e["accountId"] == admin.account_id for e in events)
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)
    assert all(isinstance(e["time"], int) for e in events)
    assert all(e["details"].get("requestId") for e in events if e["actor"] != "cli")


async def test_history_never_holds_a_secret(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx)
    code = await invited_code(client, admin.api_key, "bob@acme.com", "MEMBER")
    accepted = await _accept(client, code, "Bob")
    session = accepted.cookies.get("teamgate_session") or ""
    login = await call(client, "login", {"email": "bob@acme.com", "password": PASSWORD})
    cookie = {"Cookie": f"teamgate_session={login.cookies['teamgate_session']}"}
    made = await client.post("/api/addApiToken", json={"name": "ci"}, headers=cookie)
    client.cookies.clear()
    assert made.status_code == 200, made.text

    dump = json.dumps(await _history(client, admin.api_key, limit=500))

    for secret in (code, PASSWORD, made.json()["key"], session):
        assert secret
        assert secret not in dump
    keys = (await _history(client, admin.api_key, action="api_key.create"))["events"]
    assert [(e["actor"], e["target"], e["details"]["name"]) for e in keys] == [
        ("bob@acme.com", "bob@acme.com", "ci")
    ]


async def test_filters_and_pages_stay_stable_while_events_are_written(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    for n in range(7):
        await invited_code(client, admin.api_key, f"p{n}@acme.com", "VIEWER")

    first = await _history(client, admin.api_key, action="invitation.create", limit=3)
    # New events arrive between pages: they are newer than the cursor, never on later pages.
    await invited_code(client, admin.api_key, "late@acme.com", "VIEWER")
    second = await _history(
        client, admin.api_key, action="invitation.create", limit=3, cursor=first["nextCursor"]
    )
    third = await _history(
        client, admin.api_key, action="invitation.create", limit=3, cursor=second["nextCursor"]
    )

    targets = [e["target"] for page in (first, second, third) for e in page["events"]]
    assert targets == [f"p{n}@acme.com" for n in reversed(range(7))]
    assert third["nextCursor"] is None
    one = await _history(client, admin.api_key, target="P3@ACME.com")
    assert [e["action"] for e in one["events"]] == ["invitation.create"]
    assert (await _history(client, admin.api_key, actor="cli"))["events"][0]["action"] == (
        "account.create"
    )
    assert len((await _history(client, admin.api_key))["events"]) == 9


async def test_time_filters_are_inclusive_epoch_seconds(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    for n in range(3):
        await invited_code(client, admin.api_key, f"t{n}@acme.com", "VIEWER")
    events = (await _history(client, admin.api_key, action="invitation.create"))["events"]
    async with ctx.db.write() as conn:  # spread them in time: 1000, 2000, 3000
        for n, event in enumerate(reversed(events)):
            await conn.execute(
                update(audit_log).where(audit_log.c.id == event["id"]).values(at=(n + 1) * 1000)
            )

    def targets(page: dict[str, Any]) -> list[str]:
        return [e["target"] for e in page["events"]]

    window = await _history(client, admin.api_key, **{"from": 2000, "to": 3000})
    assert targets(window) == ["t2@acme.com", "t1@acme.com"]
    assert targets(await _history(client, admin.api_key, to=1000)) == ["t0@acme.com"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"limit": 0}, "limit must be a whole number from 1 to 500"),
        ({"limit": 501}, "limit must be a whole number from 1 to 500"),
        ({"limit": "10"}, "limit must be a whole number from 1 to 500"),
        ({"cursor": "abc"}, "cursor must be a nextCursor this endpoint gave"),
        ({"cursor": 12}, "cursor must be a nextCursor this endpoint gave"),
        ({"from": "yesterday"}, "from must be a time in epoch seconds"),
        ({"to": -1}, "to must be a time in epoch seconds"),
        ({"action": ["x"]}, BAD_ACTION),
        ({"actor": 5}, BAD_ACTOR),
        ({"actor": "ada@acme.com\x00"}, BAD_ACTOR),
        ({"target": "a\nb"}, BAD_TARGET),
        ({"cursor": "2147483648"}, "cursor must be a nextCursor this endpoint gave"),
        ({"cursor": "99999999999"}, "cursor must be a nextCursor this endpoint gave"),
        ({"cursor": "0"}, "cursor must be a nextCursor this endpoint gave"),
    ],
)
async def test_bad_history_queries_are_400(
    client: httpx.AsyncClient, ctx: AppContext, body: dict[str, Any], message: str
) -> None:
    admin = await make_account(ctx)
    response = await call(client, "getAuditLogs", body, key=admin.api_key)
    assert (response.status_code, error_of(response)) == (400, message)


@pytest.mark.parametrize("role", ["MEMBER", "DEVELOPER", "VIEWER"])
async def test_only_admins_read_the_history(
    client: httpx.AsyncClient, ctx: AppContext, role: str
) -> None:
    admin = await make_account(ctx)
    other = await make_member(ctx, admin.account_id, "o@acme.com", role)
    before = await snapshot(ctx)
    for endpoint, body in (("getAuditLogs", {}), ("getTeamData", {"at": 1})):
        response = await call(client, endpoint, body, key=other.api_key)
        assert (response.status_code, error_of(response)) == (
            403,
            f"The role '{role}' does not have access.",
        )
    assert await snapshot(ctx) == before
    assert (await call(client, "getAuditLogs", key=None)).status_code == 401


async def test_the_team_at_a_past_time(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx)
    key = admin.api_key
    await _accept_new(client, key, "bob@acme.com", "MEMBER")
    await _accept_new(client, key, "cat@acme.com", "VIEWER")
    await call(client, "makeAdmin", {"email": "bob@acme.com", "userRole": "DEVELOPER"}, key=key)
    await call(client, "removeUser", {"email": "cat@acme.com"}, key=key)
    await _accept_new(client, key, "cat@acme.com", "MEMBER", again=True)
    events = list(reversed((await _history(client, key, limit=500))["events"]))
    async with ctx.db.write() as conn:  # one event per 100 seconds from t=1000
        for n, event in enumerate(events):
            await conn.execute(
                update(audit_log).where(audit_log.c.id == event["id"]).values(at=1000 + 100 * n)
            )
    # account.create 1000; bob invited 1100, joined 1200; cat invited 1300, joined 1400;
    # bob -> DEVELOPER 1500; cat removed 1600; cat invited 1700, joined 1800.

    async def team_at(at: int) -> list[tuple[str, str]]:
        response = await call(client, "getTeamData", {"at": at}, key=key)
        assert response.status_code == 200, response.text
        entries = response.json()
        assert all(set(e) == {"id", "login", "name", "role"} for e in entries)
        return [(e["login"], e["role"]) for e in entries]

    admin_only = [("admin@acme.com", "ADMIN")]
    assert await team_at(999) == []
    assert await team_at(1000) == admin_only
    assert await team_at(1199) == admin_only
    assert await team_at(1200) == [*admin_only, ("bob@acme.com", "MEMBER")]
    assert await team_at(1450) == [
        *admin_only, ("bob@acme.com", "MEMBER"), ("cat@acme.com", "VIEWER")
    ]  # fmt: skip
    assert await team_at(1550) == [
        *admin_only, ("bob@acme.com", "DEVELOPER"), ("cat@acme.com", "VIEWER")
    ]  # fmt: skip
    assert await team_at(1650) == [*admin_only, ("bob@acme.com", "DEVELOPER")]
    now_then = await team_at(2**40)
    assert now_then == [*admin_only, ("bob@acme.com", "DEVELOPER"), ("cat@acme.com", "MEMBER")]
    # ...which is today's team, the same people with the same roles.
    today = (await call(client, "getTeamData", {}, key=key)).json()
    assert sorted(now_then) == sorted((e["login"], e["role"]) for e in today)
    bad = await call(client, "getTeamData", {"at": "noon"}, key=key)
    assert (bad.status_code, error_of(bad)) == (400, "at must be a time in epoch seconds")


async def _accept_new(
    client: httpx.AsyncClient, key: str, email: str, role: str, *, again: bool = False
) -> httpx.Response:
    code = await invited_code(client, key, email, role)
    if not again:
        return await _accept(client, code, email.split("@")[0].title())
    response = await call(client, "acceptInvite", {"inviteCode": code, "password": PASSWORD})
    assert response.status_code == 200, response.text
    client.cookies.clear()
    return response
