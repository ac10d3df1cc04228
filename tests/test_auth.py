"""Credentials: API keys, sessions, CSRF rules, login rate limits, removal and role changes."""

from __future__ import annotations

import asyncio
import hashlib
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from teamgate.app import create_app
from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.db import now
from teamgate.models import api_keys, invitations, sessions

from .conftest import (
    PASSWORD,
    PUBLIC_ORIGIN,
    Member,
    call,
    error_of,
    make_account,
    make_member,
    snapshot,
)

SESSION_COOKIE = "teamgate_session"
LOGIN_LIMIT_PER_EMAIL = 3
LOGIN_LIMIT_PER_CLIENT = 8
BAD_LOGIN = "Invalid email or password"
ENDPOINTS = [
    "getTeamData",
    "inviteUsers",
    "removeUser",
    "removeInvitation",
    "makeAdmin",
    "getRoleHierarchy",
    "addApiToken",
    "fetchApiTokens",
    "deleteApiToken",
]


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


def set_cookies(response: httpx.Response) -> list[str]:
    return [c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)]


def session_token(response: httpx.Response) -> str:
    (header,) = set_cookies(response)
    jar: SimpleCookie = SimpleCookie()
    jar.load(header)
    token = jar[SESSION_COOKIE].value
    assert token
    return token


async def login(
    client: httpx.AsyncClient, email: Any, password: Any = PASSWORD, **kwargs: Any
) -> httpx.Response:
    response = await client.post(
        "/api/login", json={"email": email, "password": password}, **kwargs
    )
    client.cookies.clear()  # every session call below names its cookie explicitly
    return response


async def start_session(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await login(client, email, password)
    assert response.status_code == 200, response.text
    return session_token(response)


def cookie_headers(token: str, **extra: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={token}", **extra}


async def as_session(
    client: httpx.AsyncClient,
    endpoint: str,
    body: Any = None,
    *,
    token: str,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST /api/<endpoint> the way a browser page does: JSON body, session cookie."""
    return await client.post(
        f"/api/{endpoint}",
        json={} if body is None else body,
        headers=cookie_headers(token, **(headers or {})),
    )


async def key_ids(ctx: AppContext, user_id: int) -> list[int]:
    async with ctx.db.read() as conn:
        rows = await conn.execute(
            select(api_keys.c.id).where(api_keys.c.user_id == user_id).order_by(api_keys.c.id)
        )
        return [row[0] for row in rows]


async def works(client: httpx.AsyncClient, *, key: str | None = None, token: str = "") -> bool:
    if key is not None:
        response = await call(client, "getTeamData", key=key)
    else:
        response = await as_session(client, "getTeamData", token=token)
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert error_of(response) == "Unauthorized"


# --- API keys ----------------------------------------------------------------------------------


async def test_api_keys_are_stored_only_as_sha256(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    token = await start_session(client, admin.email)
    created = await as_session(client, "addApiToken", {"name": "ci"}, token=token)
    assert created.status_code == 200, created.text
    new_key = created.json()["key"]

    async with ctx.db.read() as conn:
        rows = [dict(row._mapping) for row in await conn.execute(select(api_keys))]
    stored = {row["key_hash"] for row in rows}
    assert stored == {sha256_hex(admin.api_key), sha256_hex(new_key)}
    for row in rows:
        for value in row.values():
            assert admin.api_key not in str(value)
            assert new_key not in str(value)


async def test_session_ids_are_stored_only_as_sha256(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    token = await start_session(client, admin.email)
    async with ctx.db.read() as conn:
        rows = [dict(row._mapping) for row in await conn.execute(select(sessions))]
    assert [row["id_hash"] for row in rows] == [sha256_hex(token)]
    assert all(token not in str(value) for row in rows for value in row.values())


@pytest.mark.parametrize(
    "bad_key",
    [
        pytest.param(lambda key: "", id="empty"),
        pytest.param(lambda key: "   ", id="blank"),
        pytest.param(lambda key: "tg_not-a-real-key", id="unknown"),
        pytest.param(lambda key: key[:-1], id="truncated"),
        pytest.param(lambda key: key + "x", id="extended"),
        pytest.param(lambda key: key.swapcase(), id="other-case"),
        pytest.param(sha256_hex, id="the-stored-hash"),
    ],
)
async def test_bad_api_key_is_401_and_changes_nothing(
    client: httpx.AsyncClient, ctx: AppContext, bad_key: Any
) -> None:
    admin = await make_account(ctx)
    before = await snapshot(ctx)

    response = await call(
        client,
        "inviteUsers",
        {"inviteeEmail": "new@acme.com", "inviteeRole": "VIEWER"},
        key=bad_key(admin.api_key),
    )

    assert_unauthorized(response)
    assert await snapshot(ctx) == before
    # the genuine key still does what the bad one was refused
    assert (await call(client, "getTeamData", key=admin.api_key)).status_code == 200


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_no_credentials_is_401_everywhere(
    client: httpx.AsyncClient, ctx: AppContext, endpoint: str
) -> None:
    admin = await make_account(ctx)
    await make_member(ctx, admin.account_id, "mia@acme.com")
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

    assert_unauthorized(await call(client, endpoint, body))
    assert_unauthorized(await as_session(client, endpoint, body, token="forged-session-id"))
    assert await snapshot(ctx) == before


async def test_api_key_acts_as_its_own_user_only(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    viewer = await make_member(ctx, admin.account_id, "val@acme.com", "VIEWER")
    before = await snapshot(ctx)

    response = await call(
        client,
        "inviteUsers",
        {"inviteeEmail": "new@acme.com", "inviteeRole": "VIEWER"},
        key=viewer.api_key,
    )

    assert response.status_code == 403
    assert error_of(response) == "The role 'VIEWER' does not have access."
    assert await snapshot(ctx) == before


# --- sessions ----------------------------------------------------------------------------------


async def test_login_sets_an_httponly_samesite_lax_cookie(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)

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


async def test_cookie_is_secure_when_served_over_https(
    settings: Settings, database_url: str
) -> None:
    https_settings = settings.model_copy(update={"public_url": ["https://teams.example.com"]})
    application = create_app(https_settings)
    async with application.router.lifespan_context(application):
        admin = await make_account(application.state.ctx)
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


async def test_login_accepts_the_email_in_any_case_and_spacing(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    response = await login(client, "  ADMIN@Acme.COM ")
    assert response.status_code == 200, response.text
    assert response.json()["userId"] == admin.user_id


async def test_every_login_gets_a_new_session_id(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    first = await start_session(client, admin.email)
    second = await start_session(client, admin.email)
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
    admin = await make_account(ctx)
    await make_member(ctx, admin.account_id, "nopass@acme.com", password=None)
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
    admin = await make_account(ctx)
    token = await start_session(client, admin.email)
    other = await start_session(client, admin.email)
    assert await works(client, token=token)

    response = await as_session(client, "logout", token=token)

    assert response.status_code == 200, response.text
    (cleared,) = set_cookies(response)
    assert "max-age=0" in cleared.lower()
    assert_unauthorized(await as_session(client, "getTeamData", token=token))
    assert_unauthorized(
        await as_session(client, "inviteUsers", {"inviteeEmail": "x@acme.com"}, token=token)
    )
    assert await works(client, token=other)  # only that session ended


async def test_expired_session_is_401(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx)
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
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "mia@acme.com")
    token = await start_session(client, admin.email)
    before = await snapshot(ctx)

    body = f'{{"email": "{member.email}"}}'.encode()
    attempts = [
        {"content": body, "headers": cookie_headers(token)},
        {"content": body, "headers": cookie_headers(token, **{"Content-Type": "text/plain"})},
        {
            "content": b"email=" + member.email.encode(),
            "headers": cookie_headers(
                token, **{"Content-Type": "application/x-www-form-urlencoded"}
            ),
        },
        {"content": b"", "headers": cookie_headers(token)},
    ]
    for attempt in attempts:
        response = await client.post("/api/removeUser", **attempt)
        assert response.status_code == 415, response.text
        error_of(response)
    assert await snapshot(ctx) == before

    # the same call with a JSON body works (the member is removed)
    done = await as_session(client, "removeUser", {"email": member.email}, token=token)
    assert done.status_code == 200, done.text
    assert not await works(client, key=member.api_key)


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://testserver.evil.example",
        "http://evil.example/http://testserver",
        "http://testserver:8080",
        "https://testserver",
        "null",
    ],
)
@pytest.mark.parametrize(
    "endpoint, body",
    [
        ("removeUser", {"email": "mia@acme.com"}),
        ("inviteUsers", {"inviteeEmail": "new@acme.com", "inviteeRole": "ADMIN"}),
        ("addApiToken", {"name": "stolen"}),
    ],
)
async def test_cookie_call_from_a_foreign_origin_is_403(
    client: httpx.AsyncClient, ctx: AppContext, origin: str, endpoint: str, body: Any
) -> None:
    admin = await make_account(ctx)
    await make_member(ctx, admin.account_id, "mia@acme.com")
    token = await start_session(client, admin.email)
    before = await snapshot(ctx)

    response = await as_session(client, endpoint, body, token=token, headers={"Origin": origin})

    assert response.status_code == 403, response.text
    error_of(response)
    assert await snapshot(ctx) == before


@pytest.mark.parametrize("origin", [PUBLIC_ORIGIN, "https://teams.example.com"])
async def test_cookie_call_from_a_configured_origin_is_accepted(
    client: httpx.AsyncClient, ctx: AppContext, origin: str
) -> None:
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "mia@acme.com")
    token = await start_session(client, admin.email)

    response = await as_session(
        client, "removeUser", {"email": member.email}, token=token, headers={"Origin": origin}
    )

    assert response.status_code == 200, response.text
    assert response.json()["id"] == member.user_id
    assert not await works(client, key=member.api_key)


async def test_logout_from_a_foreign_origin_is_refused(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    """Logout acts on the session cookie, so the same CSRF rule applies to it."""
    admin = await make_account(ctx)
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
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "mia@acme.com")
    spellings = ["mia@acme.com", "MIA@acme.com", " Mia@Acme.com "]
    for attempt in range(LOGIN_LIMIT_PER_EMAIL):
        response = await login(client, spellings[attempt % len(spellings)], "wrong password")
        assert response.status_code == 401, response.text

    limited = await login(client, member.email, "wrong password")
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
    admin = await make_account(ctx)
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
    admin = await make_account(ctx)
    attempts = LOGIN_LIMIT_PER_EMAIL + 4
    responses = await asyncio.gather(
        *(
            client.post("/api/login", json={"email": admin.email, "password": f"guess {n}"})
            for n in range(attempts)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {401, 429}, statuses
    assert statuses.count(401) <= LOGIN_LIMIT_PER_EMAIL, statuses


# --- removal and role changes take effect on the very next request -----------------------------


async def test_removed_member_key_and_session_stop_at_once(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "mia@acme.com")
    other = await make_account(ctx, "Other", "boss@other.org")
    elsewhere = await make_member(ctx, other.account_id, "mia@acme.com", "VIEWER")
    token = await start_session(client, member.email)  # the session is for Acme
    assert await works(client, key=member.api_key)
    assert await works(client, token=token)

    removed = await call(client, "removeUser", {"email": member.email}, key=admin.api_key)
    assert removed.status_code == 200, removed.text

    before = await snapshot(ctx)
    assert_unauthorized(await call(client, "getTeamData", key=member.api_key))
    assert_unauthorized(await as_session(client, "getTeamData", token=token))
    assert_unauthorized(
        await call(
            client,
            "inviteUsers",
            {"inviteeEmail": "new@acme.com", "inviteeRole": "VIEWER"},
            key=member.api_key,
        )
    )
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
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "mia@acme.com", "MEMBER")
    token = await start_session(client, member.email)
    assert (await _invite(client, "one@acme.com", key=member.api_key)).status_code == 200
    assert (await _invite(client, "two@acme.com", token=token)).status_code == 200

    changed = await call(
        client, "makeAdmin", {"email": member.email, "userRole": "VIEWER"}, key=admin.api_key
    )
    assert changed.status_code == 200, changed.text

    before = await snapshot(ctx)
    for response in (
        await _invite(client, "three@acme.com", key=member.api_key),
        await _invite(client, "four@acme.com", token=token),
    ):
        assert response.status_code == 403, response.text
        assert error_of(response) == "The role 'VIEWER' does not have access."
    assert await snapshot(ctx) == before
    # still a VIEWER: reading works
    assert await works(client, key=member.api_key)
    assert await works(client, token=token)


async def test_admin_demotion_and_promotion_take_effect_on_the_next_request(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    second = await make_member(ctx, admin.account_id, "sam@acme.com", "ADMIN")
    viewer = await make_member(ctx, admin.account_id, "val@acme.com", "VIEWER")
    target = await make_member(ctx, admin.account_id, "tia@acme.com", "DEVELOPER")
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
    admin = await make_account(ctx)
    (key_id,) = await key_ids(ctx, admin.user_id)
    before = await snapshot(ctx)

    response = await call(
        client, endpoint, {"name": "more", "apiTokenId": key_id}, key=admin.api_key
    )

    assert response.status_code == 403, response.text
    error_of(response)
    assert admin.api_key not in response.text
    assert await snapshot(ctx) == before
    assert await works(client, key=admin.api_key)


@pytest.mark.parametrize("role", ["ADMIN", "MEMBER", "DEVELOPER", "VIEWER"])
async def test_add_api_token_returns_a_working_key_once(
    client: httpx.AsyncClient, ctx: AppContext, role: str
) -> None:
    admin = await make_account(ctx)
    user = (
        admin if role == "ADMIN" else await make_member(ctx, admin.account_id, "u@acme.com", role)
    )
    token = await start_session(client, user.email)

    created = await as_session(client, "addApiToken", {"name": "ci"}, token=token)

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
    assert tuple(row) == (user.user_id, admin.account_id, "ci")
    # the new key acts as its user with their role
    assert await works(client, key=key)
    invite = await _invite(client, "new@acme.com", key=key)
    if role in ("ADMIN", "MEMBER"):
        assert invite.status_code == 200, invite.text
        async with ctx.db.read() as conn:
            inviter = (await conn.execute(select(invitations.c.inviter_id))).scalar_one()
        assert inviter == user.user_id
    else:
        assert invite.status_code == 403
        assert error_of(invite) == f"The role '{role}' does not have access."


async def test_fetch_api_tokens_lists_own_keys_never_the_keys(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "mia@acme.com")
    token = await start_session(client, member.email)
    new_keys = []
    for name in ("first", "second"):
        created = await as_session(client, "addApiToken", {"name": name}, token=token)
        assert created.status_code == 200, created.text
        new_keys.append(created.json())

    listed = await as_session(client, "fetchApiTokens", token=token)

    assert listed.status_code == 200, listed.text
    tokens = listed.json()["apiTokenList"]
    assert [t["id"] for t in tokens] == await key_ids(ctx, member.user_id)
    assert {t["name"] for t in tokens} == {"test", "first", "second"}
    for plain in [member.api_key, admin.api_key, *(k["key"] for k in new_keys)]:
        assert plain not in listed.text
    assert all("key" not in t for t in tokens)


async def test_delete_own_api_token(client: httpx.AsyncClient, ctx: AppContext) -> None:
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "mia@acme.com")
    token = await start_session(client, member.email)
    created = (await as_session(client, "addApiToken", {"name": "ci"}, token=token)).json()
    assert await works(client, key=created["key"])

    deleted = await as_session(
        client, "deleteApiToken", {"apiTokenId": created["id"]}, token=token
    )

    assert deleted.status_code == 200, deleted.text
    assert_unauthorized(await call(client, "getTeamData", key=created["key"]))
    assert created["id"] not in await key_ids(ctx, member.user_id)
    assert await works(client, key=member.api_key)  # their other key is untouched
    listed = (await as_session(client, "fetchApiTokens", token=token)).json()["apiTokenList"]
    assert created["id"] not in [t["id"] for t in listed]


@pytest.mark.parametrize("owner", ["same-account", "other-account", "no-such-key"])
async def test_delete_someone_elses_api_token_is_400(
    client: httpx.AsyncClient, ctx: AppContext, owner: str
) -> None:
    admin = await make_account(ctx)
    token = await start_session(client, admin.email)  # an ADMIN: the most powerful caller
    victim: Member | None = None
    if owner == "same-account":
        victim = await make_member(ctx, admin.account_id, "mia@acme.com")
    elif owner == "other-account":
        other = await make_account(ctx, "Other", "boss@other.org")
        victim = await make_member(ctx, other.account_id, "mia@other.org")
    if victim is not None:
        (key_id,) = await key_ids(ctx, victim.user_id)
    else:
        key_id = max(await key_ids(ctx, admin.user_id)) + 1000
    before = await snapshot(ctx)

    response = await as_session(client, "deleteApiToken", {"apiTokenId": key_id}, token=token)

    assert response.status_code == 400, response.text
    error_of(response)
    assert await snapshot(ctx) == before
    if victim is not None:
        assert await works(client, key=victim.api_key)


async def test_api_key_endpoints_follow_removal(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    """Keys made from a session die with the membership, like every other key."""
    admin = await make_account(ctx)
    member = await make_member(ctx, admin.account_id, "mia@acme.com")
    token = await start_session(client, member.email)
    created = (await as_session(client, "addApiToken", {"name": "ci"}, token=token)).json()
    assert await works(client, key=created["key"])

    removed = await call(client, "removeUser", {"email": member.email}, key=admin.api_key)
    assert removed.status_code == 200, removed.text

    assert_unauthorized(await call(client, "getTeamData", key=created["key"]))
