"""The membership history: every decisive action is recorded, no secret ever is."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select

from teamgate.context import AppContext
from teamgate.models import audit_log
from tests.conftest import make_account, make_member
from tests.support import PASSWORD
from tests.support.api import call


async def _history(ctx: AppContext) -> list[dict[str, object]]:
    async with ctx.db.read() as conn:
        rows = await conn.execute(select(audit_log).order_by(audit_log.c.id))
        return [dict(row._mapping) for row in rows]


async def test_actions_are_recorded_without_secrets(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    await make_member(ctx, admin.account_id, "bob@acme.com")
    invited = await call(
        client,
        "inviteUsers",
        {"inviteeEmail": "new@acme.com", "inviteeRole": "VIEWER"},
        key=admin.api_key,
    )
    link = invited.json()["finalInviteCode"]
    code = parse_qs(urlsplit(link).query)["signupInvitationCode"][0]
    accepted = await call(
        client, "acceptInvite", {"inviteCode": code, "name": "New", "password": PASSWORD}
    )
    assert accepted.status_code == 200
    await call(client, "removeUser", {"email": "bob@acme.com"}, key=admin.api_key)
    failed = await call(client, "login", {"email": "admin@acme.com", "password": "wrong password"})
    assert failed.status_code == 401

    history = await _history(ctx)

    actions = [(e["action"], e["outcome"], e["target"]) for e in history]
    assert ("invitation.create", "success", "new@acme.com") in actions
    assert ("invitation.accept", "success", "new@acme.com") in actions
    assert ("member.remove", "success", "bob@acme.com") in actions
    assert ("login", "failure", "admin@acme.com") in actions
    removal = next(e for e in history if e["action"] == "member.remove")
    assert removal["actor_user_id"] == admin.user_id
    assert removal["account_id"] == admin.account_id
    assert removal["request_id"]
    everything = repr(history)
    for secret in (code, admin.api_key, PASSWORD, "wrong password", link):
        assert secret not in everything
    # were the cookie missing, `None in str` would fail the test with a TypeError
    assert accepted.cookies.get("teamgate_session") not in everything  # type: ignore[operator]
