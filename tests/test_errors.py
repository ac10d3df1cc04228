"""The error contract: every refusal is `{"error", "actionErrors"}` with its status, unknown paths
and methods too; nothing a client sends is a 5xx or a traceback, and a bug is one logged 500."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from teamgate.context import AppContext
from tests.conftest import Member, make_account, make_member
from tests.support import PUBLIC_ORIGIN
from tests.support.api import AUTHENTICATED_ENDPOINTS as ENDPOINTS
from tests.support.api import MiB, assert_error, call, padded_json, raw
from tests.support.sessions import cookie_headers, start_session
from tests.support.state import snapshot


@pytest.fixture
async def lenient_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Like `client`, but a server error comes back as a response instead of an exception."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_ORIGIN) as http:
        yield http


async def test_every_kind_of_error_has_the_error_shape(
    client: httpx.AsyncClient, ctx: AppContext, acme: Member
) -> None:
    viewer = await make_member(ctx, acme.account_id, "val@acme.com", "VIEWER", password=None)
    key = acme.api_key
    before = await snapshot(ctx)

    assert_error(await raw(client, "inviteUsers", b"{", key=key), 400)
    assert_error(
        await call(client, "removeUser", {"email": acme.email}, key=key),
        400,
        "You cannot perform this action on yourself",
    )
    assert_error(
        await call(client, "inviteUsers", {"inviteeEmail": "x@acme.com"}), 401, "Unauthorized"
    )
    assert_error(
        await call(
            client,
            "inviteUsers",
            {"inviteeEmail": "x@acme.com", "inviteeRole": "VIEWER"},
            key=viewer.api_key,
        ),
        403,
        "The role 'VIEWER' does not have access.",
    )
    assert_error(await call(client, "noSuchEndpoint", key=key), 404)
    assert_error(await client.get("/no/such/page"), 404)
    assert_error(await client.get("/api/getTeamData", headers={"X-API-KEY": key}), 405)
    assert_error(await raw(client, "inviteUsers", padded_json(MiB + 1), key=key), 413)
    assert_error(await raw(client, "inviteUsers", b"{}", key=key, content_type="text/plain"), 415)

    assert await snapshot(ctx) == before


# --- unknown paths and methods ---------------------------------------------------------------


async def test_unknown_path_is_404_in_the_error_shape(
    client: httpx.AsyncClient, acme: Member
) -> None:
    for method, path in [
        ("POST", "/api/noSuchEndpoint"),
        ("POST", "/api/getTeamData/extra"),
        ("POST", "/api/"),
        ("GET", "/no/such/page"),
        ("GET", "/api/../../etc/passwd"),
    ]:
        response = await client.request(method, path, json={}, headers={"X-API-KEY": acme.api_key})
        assert response.status_code == 404, (method, path, response.text)
        assert_error(response, 404)


async def test_wrong_method_is_405_in_the_error_shape(
    client: httpx.AsyncClient, acme: Member
) -> None:
    for method in ["GET", "PUT", "DELETE", "PATCH"]:
        response = await client.request(
            method, "/api/getTeamData", headers={"X-API-KEY": acme.api_key}
        )
        assert response.status_code == 405, (method, response.text)
        assert_error(response, 405)


# --- nothing a client sends is a 5xx or a traceback ------------------------------------------


FUZZ_BODIES: list[Any] = [
    {},
    {"email": None, "inviteeEmail": None, "inviteeRole": None, "userRole": None},
    {"email": "", "inviteeEmail": "", "inviteeRole": "", "userRole": "", "name": ""},
    {"email": "a" * 5000 + "@acme.com", "inviteeEmail": "b" * 5000 + "@acme.com"},
    {"email": "@", "inviteeEmail": "a@", "inviteeRole": "VIEWER"},
    {"email": "x@[127.0.0.1]", "inviteeEmail": '"q"@acme.com', "inviteeRole": "VIEWER"},
    {"email": "ünï@acme.com", "inviteeEmail": "新@acme.com", "inviteeRole": "VIEWER"},
    {"email": "a@acme.com\x00", "inviteeEmail": "b@acme.com\n", "inviteeRole": "VIEWER"},
    {"email": {"$ne": None}, "inviteeEmail": {"$gt": ""}, "inviteeRole": {"x": 1}},
    {"email": ["a@acme.com"] * 3, "userRole": ["ADMIN"], "name": [1, 2]},
    {"inviteeEmail": "new@acme.com", "inviteeRole": "A" * 10_000},
    {"inviteeEmail": "new@acme.com", "inviteeRole": "' OR 1=1 --"},
    {"inviteeEmail": "new@acme.com", "inviteeRole": "VIEWER", "inviteeName": "x" * 10_000},
    {"inviteeEmail": "new@acme.com", "inviteeRole": "GUEST", "websiteHostName": "javascript:"},
    {"email": "val@acme.com", "userRole": "ROOT"},
    {"apiTokenId": 2**64 - 1, "id": -(2**63)},
    {"apiTokenId": 1e308, "name": 1e308},
    {"apiTokenId": None, "name": None},
    {"inviteCode": "x" * 5000, "name": "n", "password": "p" * 10_000},
    {"inviteCode": 1, "signupInvitationCode": [], "password": None},
    {"inviteCode": "a.b.c", "name": ["n"], "password": {"p": 1}},
    [],
    "text",
    123,
    None,
]
FUZZ_LOGIN: list[Any] = [
    {"email": 1, "password": 1},
    {"email": ["admin@acme.com"], "password": ["x"]},
    {"email": "admin@acme.com", "password": "x" * 100_000},
    {"email": "a" * 5000 + "@acme.com", "password": None},
    {"email": "admin@acme.com\x00", "password": {"$ne": ""}},
]
FUZZ_RAW: list[bytes] = [b"{", b"\xff\xfe\x00", b"[" * 5000, b'{"email": "\\ud800"}', b"null"]


async def test_no_response_is_a_5xx_or_a_traceback(
    lenient_client: httpx.AsyncClient, ctx: AppContext, acme: Member
) -> None:
    await make_member(ctx, acme.account_id, "val@acme.com", "VIEWER", password=None)
    admin = await make_account(ctx, "Second", "root@second.org")
    credentials = [
        {"X-API-KEY": acme.api_key},
        cookie_headers(await start_session(lenient_client, admin.email)),
    ]
    everything = [json.dumps(body).encode() for body in FUZZ_BODIES] + FUZZ_RAW
    # login verifies a password (slow) for each try: it gets the bodies meant for it
    for_login = [json.dumps(b).encode() for b in FUZZ_BODIES if not isinstance(b, dict)]
    for_login += [json.dumps(b).encode() for b in FUZZ_LOGIN] + FUZZ_RAW
    plan = [(endpoint, credentials, everything) for endpoint in ENDPOINTS]
    plan += [("acceptInvite", [{}], everything), ("login", [{}], for_login)]
    plan += [("logout", [{}, credentials[1]], everything)]  # the session ends here, at last
    seen: set[int] = set()
    for endpoint, headers_list, requests in plan:
        for headers in headers_list:
            for content in requests:
                response = await lenient_client.post(
                    f"/api/{endpoint}",
                    content=content,
                    headers={"Content-Type": "application/json", **headers},
                )
                seen.add(response.status_code)
                assert response.status_code < 500, (endpoint, headers, content[:80], response.text)
                assert "Traceback" not in response.text
                assert 'File "' not in response.text
                if response.status_code >= 400:
                    assert_error(response, response.status_code)
    # the fuzzing reached past authentication and validation, not just one early refusal
    assert {400, 401, 403} <= seen


# --- unexpected errors -----------------------------------------------------------------------


async def test_an_unexpected_error_is_a_500_logged_once_with_its_traceback(
    app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/explode", explode, methods=["POST"])
    # raise_app_exceptions (httpx's default): an error that escapes the app fails this test, as
    # it would reach the server, which logs a second traceback.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_ORIGIN) as http:
        with caplog.at_level(logging.INFO):
            response = await http.post("/api/explode", json={})

    assert response.status_code == 500
    assert response.json() == {
        "error": "Internal server error",
        "actionErrors": ["Internal server error"],
    }
    assert response.headers["x-request-id"]
    assert "a bug" not in response.text
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1, caplog.text
    assert logged[0].levelno == logging.ERROR
    assert isinstance(logged[0].exc_info[1], RuntimeError)  # type: ignore[index]
    assert "POST /api/explode" in logged[0].getMessage()
