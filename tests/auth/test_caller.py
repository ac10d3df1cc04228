"""The caller is read afresh on every request: removal and role changes take effect on the very
next one, for API keys and sessions alike."""

from __future__ import annotations

import httpx

from teamgate.context import AppContext
from tests.conftest import new_account, new_member
from tests.support.api import call, error_of
from tests.support.sessions import (
    as_session,
    assert_unauthorized,
    invite_viewer,
    start_session,
    works,
)
from tests.support.state import snapshot


async def test_removed_member_keys_and_session_stop_at_once(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await new_account(ctx, can_login=False)
    mia = await new_member(ctx, admin.account_id, "mia@acme.com", can_login=True)
    other = await new_account(ctx, can_login=False, name="Other", admin_email="boss@other.org")
    elsewhere = await new_member(ctx, other.account_id, "mia@acme.com", "VIEWER")
    token = await start_session(client, mia.email)  # the session is for Acme
    created = await as_session(client, "addApiToken", {"name": "ci"}, token=token)
    assert created.status_code == 200, created.text
    session_made_key = created.json()["key"]
    for key in (mia.api_key, session_made_key):
        assert await works(client, key=key)
    assert await works(client, token=token)

    removed = await call(client, "removeUser", {"email": mia.email}, key=admin.api_key)
    assert removed.status_code == 200, removed.text

    before = await snapshot(ctx)
    for key in (mia.api_key, session_made_key):
        assert_unauthorized(await call(client, "getTeamData", key=key))
        assert_unauthorized(await invite_viewer(client, "new@acme.com", key=key))
    assert_unauthorized(await as_session(client, "getTeamData", token=token))
    assert_unauthorized(await invite_viewer(client, "new@acme.com", token=token))
    assert_unauthorized(await as_session(client, "addApiToken", {"name": "again"}, token=token))
    assert await snapshot(ctx) == before

    # their membership of another account is untouched
    team = await call(client, "getTeamData", key=elsewhere.api_key)
    assert team.status_code == 200
    assert {entry["login"] for entry in team.json()} == {"boss@other.org", "mia@acme.com"}


async def test_demotion_takes_effect_on_the_next_request(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await new_account(ctx, can_login=False)
    mia = await new_member(ctx, admin.account_id, "mia@acme.com", "MEMBER", can_login=True)
    token = await start_session(client, mia.email)
    assert (await invite_viewer(client, "one@acme.com", key=mia.api_key)).status_code == 200
    assert (await invite_viewer(client, "two@acme.com", token=token)).status_code == 200

    changed = await call(
        client, "makeAdmin", {"email": mia.email, "userRole": "VIEWER"}, key=admin.api_key
    )
    assert changed.status_code == 200, changed.text

    before = await snapshot(ctx)
    for response in (
        await invite_viewer(client, "three@acme.com", key=mia.api_key),
        await invite_viewer(client, "four@acme.com", token=token),
    ):
        assert response.status_code == 403, response.text
        assert error_of(response) == "The role 'VIEWER' does not have access."
    assert await snapshot(ctx) == before
    # still a VIEWER: reading works
    assert await works(client, key=mia.api_key)
    assert await works(client, token=token)


async def test_admin_demotion_and_promotion_take_effect_on_the_next_request(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await new_account(ctx, can_login=False)
    second = await new_member(ctx, admin.account_id, "sam@acme.com", "ADMIN", can_login=True)
    viewer = await new_member(ctx, admin.account_id, "val@acme.com", "VIEWER")
    target = await new_member(ctx, admin.account_id, "tia@acme.com", "DEVELOPER")
    token = await start_session(client, second.email)

    demoted = await call(
        client, "makeAdmin", {"email": second.email, "userRole": "MEMBER"}, key=admin.api_key
    )
    assert demoted.status_code == 200, demoted.text
    before = await snapshot(ctx)
    refused = await as_session(client, "removeUser", {"email": target.email}, token=token)
    assert refused.status_code == 403, refused.text
    assert error_of(refused) == "The role 'MEMBER' does not have access."
    assert await snapshot(ctx) == before

    refused = await call(client, "removeUser", {"email": target.email}, key=viewer.api_key)
    assert refused.status_code == 403, refused.text
    promoted = await call(
        client, "makeAdmin", {"email": viewer.email, "userRole": "ADMIN"}, key=admin.api_key
    )
    assert promoted.status_code == 200, promoted.text
    removed = await call(client, "removeUser", {"email": target.email}, key=viewer.api_key)
    assert removed.status_code == 200, removed.text
    assert removed.json()["id"] == target.user_id
    assert not await works(client, key=target.api_key)
