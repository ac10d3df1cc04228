"""API keys: stored only as hashes, refused when wrong or missing, and managed only from a session
(addApiToken, fetchApiTokens, deleteApiToken)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from teamgate.context import AppContext
from teamgate.models import api_keys, invitations, sessions
from tests.conftest import new_account, new_member
from tests.support.api import AUTHENTICATED_ENDPOINTS as ENDPOINTS
from tests.support.api import call, error_of
from tests.support.sessions import (
    as_session,
    assert_unauthorized,
    invite_viewer,
    sha256_hex,
    start_session,
    works,
)
from tests.support.state import snapshot


async def key_ids(ctx: AppContext, user_id: int) -> list[int]:
    async with ctx.db.read() as conn:
        rows = await conn.execute(
            select(api_keys.c.id).where(api_keys.c.user_id == user_id).order_by(api_keys.c.id)
        )
        return [row[0] for row in rows]


# --- keys and session ids as stored, and credentials that are wrong or missing ---------------


async def test_api_keys_and_session_ids_are_stored_only_as_sha256(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await new_account(ctx)
    token = await start_session(client, admin.email)
    created = await as_session(client, "addApiToken", {"name": "ci"}, token=token)
    assert created.status_code == 200, created.text
    new_key = created.json()["key"]

    async with ctx.db.read() as conn:
        key_rows = [dict(row._mapping) for row in await conn.execute(select(api_keys))]
        session_rows = [dict(row._mapping) for row in await conn.execute(select(sessions))]
    assert {row["key_hash"] for row in key_rows} == {
        sha256_hex(admin.api_key),
        sha256_hex(new_key),
    }
    assert [row["id_hash"] for row in session_rows] == [sha256_hex(token)]
    stored = [str(value) for row in key_rows + session_rows for value in row.values()]
    for secret in (admin.api_key, new_key, token):
        assert not any(secret in value for value in stored)


async def test_bad_api_key_is_401_and_changes_nothing(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await new_account(ctx, can_login=False)
    key = admin.api_key
    bad_keys = {
        "empty": "",
        "blank": "   ",
        "unknown": "tg_not-a-real-key",
        "truncated": key[:-1],
        "extended": key + "x",
        "other case": key.swapcase(),
        "the stored hash": sha256_hex(key),
    }
    before = await snapshot(ctx)

    for case, bad_key in bad_keys.items():
        response = await call(
            client,
            "inviteUsers",
            {"inviteeEmail": "new@acme.com", "inviteeRole": "VIEWER"},
            key=bad_key,
        )
        assert response.status_code == 401, (case, response.text)
        assert_unauthorized(response)
        assert await snapshot(ctx) == before, case

    # the genuine key is accepted where the bad ones were refused
    response = await call(
        client, "inviteUsers", {"inviteeEmail": "new@acme.com", "inviteeRole": "VIEWER"}, key=key
    )
    assert response.status_code == 200, response.text


async def test_no_credentials_is_401_everywhere(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await new_account(ctx, can_login=False)
    await new_member(ctx, admin.account_id, "mia@acme.com")
    (key_id,) = await key_ids(ctx, admin.user_id)
    body = {
        "email": "mia@acme.com",
        "inviteeEmail": "new@acme.com",
        "inviteeRole": "VIEWER",
        "userRole": "VIEWER",
        "name": "k",
        "apiTokenId": key_id,
    }
    before = await snapshot(ctx)

    for endpoint in ENDPOINTS:
        for response in (
            await call(client, endpoint, body),
            await as_session(client, endpoint, body, token="forged-session-id"),
        ):
            assert response.status_code == 401, (endpoint, response.text)
            assert_unauthorized(response)
        assert await snapshot(ctx) == before, endpoint


# --- addApiToken, fetchApiTokens, deleteApiToken ---------------------------------------------


@pytest.mark.parametrize("endpoint", ["addApiToken", "fetchApiTokens", "deleteApiToken"])
async def test_api_keys_cannot_manage_api_keys(
    client: httpx.AsyncClient, ctx: AppContext, endpoint: str
) -> None:
    admin = await new_account(ctx, can_login=False)
    (key_id,) = await key_ids(ctx, admin.user_id)
    before = await snapshot(ctx)

    response = await call(
        client, endpoint, {"name": "more", "apiTokenId": key_id}, key=admin.api_key
    )

    assert response.status_code == 403, response.text
    error_of(response)
    assert "apiTokenList" not in response.text
    assert await snapshot(ctx) == before
    assert await works(client, key=admin.api_key)


async def test_add_api_token_returns_a_working_key_for_every_role(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await new_account(ctx)
    for role in ("ADMIN", "MEMBER", "DEVELOPER", "VIEWER"):
        email = f"{role.lower()}-user@acme.com"
        user = await new_member(ctx, admin.account_id, email, role, can_login=True)
        token = await start_session(client, email)

        created = await as_session(client, "addApiToken", {"name": f"ci-{role}"}, token=token)

        assert created.status_code == 200, created.text
        key = created.json()["key"]
        assert isinstance(key, str)
        assert len(key) >= 22
        async with ctx.db.read() as conn:
            row = (
                await conn.execute(
                    select(api_keys.c.user_id, api_keys.c.account_id, api_keys.c.name).where(
                        api_keys.c.key_hash == sha256_hex(key)
                    )
                )
            ).one()
        assert tuple(row) == (user.user_id, admin.account_id, f"ci-{role}")
        # the new key acts as its user, with their role
        invite = await invite_viewer(client, f"new-{role.lower()}@acme.com", key=key)
        if role in ("ADMIN", "MEMBER"):
            assert invite.status_code == 200, invite.text
            async with ctx.db.read() as conn:
                inviter = (
                    await conn.execute(
                        select(invitations.c.inviter_id).where(
                            invitations.c.email == f"new-{role.lower()}@acme.com"
                        )
                    )
                ).scalar_one()
            assert inviter == user.user_id
        else:
            assert invite.status_code == 403, invite.text
            assert error_of(invite) == f"The role '{role}' does not have access."
            assert await works(client, key=key)


async def test_fetch_api_tokens_lists_own_keys_never_the_keys(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await new_account(ctx, can_login=False)
    mia = await new_member(ctx, admin.account_id, "mia@acme.com", can_login=True)
    token = await start_session(client, mia.email)
    new_keys = []
    for name in ("first", "second"):
        created = await as_session(client, "addApiToken", {"name": name}, token=token)
        assert created.status_code == 200, created.text
        new_keys.append(created.json()["key"])

    listed = await as_session(client, "fetchApiTokens", token=token)

    assert listed.status_code == 200, listed.text
    tokens = listed.json()["apiTokenList"]
    assert [t["id"] for t in tokens] == await key_ids(ctx, mia.user_id)
    assert {t["name"] for t in tokens} == {"test", "first", "second"}
    for plain in [mia.api_key, admin.api_key, *new_keys]:
        assert plain not in listed.text
    assert all("key" not in t for t in tokens)


async def test_delete_own_api_token(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await new_account(ctx, can_login=False)
    mia = await new_member(ctx, admin.account_id, "mia@acme.com", can_login=True)
    token = await start_session(client, mia.email)
    created = (await as_session(client, "addApiToken", {"name": "ci"}, token=token)).json()
    assert await works(client, key=created["key"])

    deleted = await as_session(client, "deleteApiToken", {"apiTokenId": created["id"]}, token=token)

    assert deleted.status_code == 200, deleted.text
    assert_unauthorized(await call(client, "getTeamData", key=created["key"]))
    assert created["id"] not in await key_ids(ctx, mia.user_id)
    assert await works(client, key=mia.api_key)  # their other key is untouched
    listed = (await as_session(client, "fetchApiTokens", token=token)).json()["apiTokenList"]
    assert created["id"] not in [t["id"] for t in listed]


async def test_delete_someone_elses_api_token_is_400(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await new_account(ctx)  # an ADMIN: the most powerful caller there is
    token = await start_session(client, admin.email)
    colleague = await new_member(ctx, admin.account_id, "mia@acme.com", "VIEWER")
    other = await new_account(ctx, can_login=False, name="Other", admin_email="boss@other.org")
    stranger = await new_member(ctx, other.account_id, "mia@other.org")
    victims = [other, colleague, stranger]
    targets = [(await key_ids(ctx, v.user_id))[0] for v in victims]
    targets.append(max(targets) + 1000)  # no such key
    before = await snapshot(ctx)

    for key_id in targets:
        response = await as_session(client, "deleteApiToken", {"apiTokenId": key_id}, token=token)
        assert response.status_code == 400, (key_id, response.text)
        error_of(response)

    assert await snapshot(ctx) == before
    for victim in victims:
        assert await works(client, key=victim.api_key)
