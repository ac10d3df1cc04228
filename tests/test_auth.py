"""Credentials: API keys, sessions, CSRF rules, login rate limits, removal and role changes."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from teamgate.app import create_app
from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.db import now
from teamgate.models import api_keys, invitations, sessions
from tests.conftest import make_member, new_account, new_member
from tests.support import PASSWORD, PUBLIC_ORIGIN
from tests.support.api import AUTHENTICATED_ENDPOINTS as ENDPOINTS
from tests.support.api import call, error_of
from tests.support.sessions import (
    as_session,
    assert_unauthorized,
    cookie_headers,
    login,
    session_token,
    set_cookies,
    start_session,
    works,
)
from tests.support.state import snapshot

LOGIN_LIMIT_PER_EMAIL = 3
LOGIN_LIMIT_PER_CLIENT = 5
BAD_LOGIN = "Invalid email or password"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Low login limits, so that rate limiting is cheap to reach (argon2 costs ~50 ms a try)."""
    return settings.model_copy(
        update={
            "rate_limit_login_per_email": f"{LOGIN_LIMIT_PER_EMAIL} per 15 minutes",
            "rate_limit_login_per_client": f"{LOGIN_LIMIT_PER_CLIENT} per 15 minutes",
        }
    )


# --- helpers ---------------------------------------------------------------------------------


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def key_ids(ctx: AppContext, user_id: int) -> list[int]:
    async with ctx.db.read() as conn:
        rows = await conn.execute(
            select(api_keys.c.id).where(api_keys.c.user_id == user_id).order_by(api_keys.c.id)
        )
        return [row[0] for row in rows]


# --- API keys ----------------------------------------------------------------------------------


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


# --- sessions ----------------------------------------------------------------------------------


async def test_login_sets_an_httponly_samesite_lax_cookie(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await new_account(ctx)

    response = await login(client, admin.email)

    assert response.status_code == 200, response.text
    assert response.json()["userId"] == admin.user_id
    assert response.json()["accountId"] == admin.account_id
    (header,) = set_cookies(response)
    attributes = [part.strip().lower() for part in header.split(";")[1:]]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/" in attributes
    assert "secure" not in attributes  # the first public origin is plain http
    token = session_token(response)
    assert len(token) >= 22  # at least 128 random bits, base64url
    assert await works(client, token=token)


async def test_cookie_is_secure_when_served_over_https(settings: Settings) -> None:
    https_settings = settings.model_copy(update={"public_url": ["https://teams.example.com"]})
    application = create_app(https_settings)
    async with application.router.lifespan_context(application):
        admin = await new_account(application.state.ctx)
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(
            transport=transport, base_url="https://teams.example.com"
        ) as https_client:
            response = await login(https_client, admin.email)
    assert response.status_code == 200, response.text
    (header,) = set_cookies(response)
    attributes = [part.strip().lower() for part in header.split(";")[1:]]
    assert "secure" in attributes
    assert "httponly" in attributes
    assert "samesite=lax" in attributes


async def test_every_login_gets_a_new_session_id(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await new_account(ctx)
    first = await start_session(client, admin.email)
    second = await start_session(client, "  ADMIN@Acme.COM ")  # the canonical email matches
    # a login that presents an existing session id (fixation) still gets a fresh one
    fixed = await login(client, admin.email, headers=cookie_headers(first))
    assert fixed.status_code == 200, fixed.text
    third = session_token(fixed)

    assert len({first, second, third}) == 3
    async with ctx.db.read() as conn:
        stored = {row[0] for row in await conn.execute(select(sessions.c.id_hash))}
    assert stored == {sha256_hex(first), sha256_hex(second), sha256_hex(third)}
    for token in (first, second, third):
        assert await works(client, token=token)


async def test_wrong_password_and_unknown_email_look_the_same(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await new_account(ctx)
    await new_member(ctx, admin.account_id, "nopass@acme.com")  # no password set
    before = await snapshot(ctx)

    wrong_password = await login(client, admin.email, "not the password")
    unknown_email = await login(client, "nobody@acme.com", "not the password")
    no_password_set = await login(client, "nopass@acme.com", "")

    for response in (wrong_password, unknown_email, no_password_set):
        assert response.status_code == 401, response.text
        assert error_of(response) == BAD_LOGIN
        assert set_cookies(response) == []
    assert wrong_password.content == unknown_email.content == no_password_set.content
    assert await snapshot(ctx) == before


async def test_logout_ends_the_session(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await new_account(ctx)
    token = await start_session(client, admin.email)
    other = await start_session(client, admin.email)
    assert await works(client, token=token)

    response = await as_session(client, "logout", token=token)

    assert response.status_code == 200, response.text
    (cleared,) = set_cookies(response)
    assert "max-age=0" in cleared.lower()
    assert_unauthorized(await as_session(client, "getTeamData", token=token))
    before = await snapshot(ctx)
    assert_unauthorized(
        await as_session(
            client,
            "inviteUsers",
            {"inviteeEmail": "x@acme.com", "inviteeRole": "VIEWER"},
            token=token,
        )
    )
    assert await snapshot(ctx) == before
    assert await works(client, token=other)  # only that session ended


async def test_expired_session_is_401(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await new_account(ctx)
    token = await start_session(client, admin.email)
    assert await works(client, token=token)
    async with ctx.db.write() as conn:
        await conn.execute(
            update(sessions)
            .where(sessions.c.id_hash == sha256_hex(token))
            .values(expires_at=now() - 1)
        )
    assert_unauthorized(await as_session(client, "getTeamData", token=token))


# --- CSRF for cookie-authenticated calls -------------------------------------------------------


async def test_cookie_call_without_json_content_type_is_415(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await new_account(ctx)
    mia = await new_member(ctx, admin.account_id, "mia@acme.com")
    token = await start_session(client, admin.email)
    before = await snapshot(ctx)

    body = f'{{"email": "{mia.email}"}}'.encode()
    attempts = [
        ("no content type", body, cookie_headers(token)),
        ("text/plain", body, cookie_headers(token, **{"Content-Type": "text/plain"})),
        (
            "form",
            b"email=" + mia.email.encode(),
            cookie_headers(token, **{"Content-Type": "application/x-www-form-urlencoded"}),
        ),
        ("no body at all", b"", cookie_headers(token)),
    ]
    for what, content, headers in attempts:
        response = await client.post("/api/removeUser", content=content, headers=headers)
        assert response.status_code == 415, (what, response.text)
        error_of(response)
    assert await snapshot(ctx) == before

    # the same call with a JSON body works (the member is removed)
    done = await as_session(client, "removeUser", {"email": mia.email}, token=token)
    assert done.status_code == 200, done.text
    assert not await works(client, key=mia.api_key)


FOREIGN_ORIGINS = [
    "https://evil.example",
    "http://testserver.evil.example",
    "http://evil.example/http://testserver",
    "http://testserver:8080",
    "https://testserver",
    "null",
]


async def test_cookie_call_from_a_foreign_origin_is_403(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await new_account(ctx)
    mia = await new_member(ctx, admin.account_id, "mia@acme.com")
    token = await start_session(client, admin.email)
    calls = [
        ("removeUser", {"email": mia.email}),
        ("makeAdmin", {"email": mia.email, "userRole": "ADMIN"}),
        ("inviteUsers", {"inviteeEmail": "new@acme.com", "inviteeRole": "ADMIN"}),
        ("addApiToken", {"name": "stolen"}),
        ("fetchApiTokens", {}),
    ]
    before = await snapshot(ctx)

    for origin in FOREIGN_ORIGINS:
        for endpoint, body in calls:
            response = await as_session(
                client, endpoint, body, token=token, headers={"Origin": origin}
            )
            assert response.status_code == 403, (origin, endpoint, response.text)
            error_of(response)
            assert "apiTokenList" not in response.text

    assert await snapshot(ctx) == before
    assert await works(client, key=mia.api_key)


async def test_cookie_call_from_a_configured_origin_is_accepted(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await new_account(ctx)
    token = await start_session(client, admin.email)
    for n, origin in enumerate([PUBLIC_ORIGIN, "https://teams.example.com"]):
        target = await new_member(ctx, admin.account_id, f"member{n}@acme.com")

        response = await as_session(
            client, "removeUser", {"email": target.email}, token=token, headers={"Origin": origin}
        )

        assert response.status_code == 200, (origin, response.text)
        assert response.json()["id"] == target.user_id
        assert not await works(client, key=target.api_key)


async def test_logout_from_a_foreign_origin_is_refused(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    """Logout acts on the session cookie, so the same CSRF rule applies to it."""
    admin = await new_account(ctx)
    token = await start_session(client, admin.email)
    before = await snapshot(ctx)

    response = await as_session(
        client, "logout", token=token, headers={"Origin": "https://evil.example"}
    )

    assert response.status_code == 403, response.text
    assert await snapshot(ctx) == before
    assert await works(client, token=token)


# --- login rate limits -------------------------------------------------------------------------


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


# --- removal and role changes take effect on the very next request -----------------------------


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
        assert_unauthorized(await _invite(client, "new@acme.com", key=key))
    assert_unauthorized(await as_session(client, "getTeamData", token=token))
    assert_unauthorized(await _invite(client, "new@acme.com", token=token))
    assert_unauthorized(await as_session(client, "addApiToken", {"name": "again"}, token=token))
    assert await snapshot(ctx) == before

    # their membership of another account is untouched
    team = await call(client, "getTeamData", key=elsewhere.api_key)
    assert team.status_code == 200
    assert {entry["login"] for entry in team.json()} == {"boss@other.org", "mia@acme.com"}


async def _invite(client: httpx.AsyncClient, email: str, **credential: Any) -> httpx.Response:
    body = {"inviteeEmail": email, "inviteeRole": "VIEWER"}
    if "token" in credential:
        return await as_session(client, "inviteUsers", body, token=credential["token"])
    return await call(client, "inviteUsers", body, key=credential["key"])


async def test_demotion_takes_effect_on_the_next_request(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await new_account(ctx, can_login=False)
    mia = await new_member(ctx, admin.account_id, "mia@acme.com", "MEMBER", can_login=True)
    token = await start_session(client, mia.email)
    assert (await _invite(client, "one@acme.com", key=mia.api_key)).status_code == 200
    assert (await _invite(client, "two@acme.com", token=token)).status_code == 200

    changed = await call(
        client, "makeAdmin", {"email": mia.email, "userRole": "VIEWER"}, key=admin.api_key
    )
    assert changed.status_code == 200, changed.text

    before = await snapshot(ctx)
    for response in (
        await _invite(client, "three@acme.com", key=mia.api_key),
        await _invite(client, "four@acme.com", token=token),
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


# --- addApiToken, fetchApiTokens, deleteApiToken -----------------------------------------------


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
        invite = await _invite(client, f"new-{role.lower()}@acme.com", key=key)
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


# --- goToAccount -------------------------------------------------------------------------------


async def test_go_to_account_switches_the_session(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    acme = await new_account(ctx)
    other = await new_account(ctx, name="Other", admin_email="boss@other.org")
    await make_member(ctx, other.account_id, acme.email, "DEVELOPER", password=None)
    token = await start_session(client, acme.email)

    switched = await as_session(
        client, "goToAccount", {"newAccountId": other.account_id}, token=token
    )

    assert switched.status_code == 200, switched.text
    assert switched.json() == {"accountId": other.account_id, "role": "DEVELOPER"}
    # A new session id for the new account; the old one has ended.
    old_token, token = token, session_token(switched)
    assert token != old_token
    assert (await as_session(client, "getTeamData", token=old_token)).status_code == 401
    team = (await as_session(client, "getTeamData", token=token)).json()
    assert {e["login"] for e in team} == {"boss@other.org", acme.email}
    # Now a DEVELOPER there: inviting is refused on the very next request.
    invite = {"inviteeEmail": "x@other.org", "inviteeRole": "VIEWER"}
    assert (await as_session(client, "inviteUsers", invite, token=token)).status_code == 403


async def test_go_to_account_refusals_change_nothing(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    acme = await new_account(ctx)
    stranger = await new_account(ctx, name="Stranger", admin_email="boss@stranger.org")
    token = await start_session(client, acme.email)
    before = await snapshot(ctx)
    cases = [
        ({"newAccountId": stranger.account_id}, 400, "Account not found"),
        ({"newAccountId": 2**40}, 400, "newAccountId must be a positive integer"),
        ({"newAccountId": "1"}, 400, "newAccountId must be a positive integer"),
        ({}, 400, "newAccountId must be a positive integer"),
    ]
    for body, status, message in cases:
        response = await as_session(client, "goToAccount", body, token=token)
        assert (response.status_code, error_of(response)) == (status, message)
    by_key = await call(client, "goToAccount", {"newAccountId": acme.account_id}, key=acme.api_key)
    assert by_key.status_code == 403
    assert await snapshot(ctx) == before
