"""CSRF rules for cookie-authenticated calls: a JSON body, and no foreign Origin."""

from __future__ import annotations

import httpx

from teamgate.context import AppContext
from tests.conftest import new_account, new_member
from tests.support import PUBLIC_ORIGIN
from tests.support.api import error_of
from tests.support.sessions import as_session, cookie_headers, start_session, works
from tests.support.state import snapshot


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
