"""Bad input and failures at the edge: the error shape, JSON bodies, sizes, content types,
unknown fields and paths, and storage that is down. Nothing a client sends is a 5xx."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from teamgate.app import create_app
from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.models import invitations, memberships
from tests.conftest import Member, make_account, make_member
from tests.support import PASSWORD, PUBLIC_ORIGIN
from tests.support.api import AUTHENTICATED_ENDPOINTS as ENDPOINTS
from tests.support.api import call, error_of
from tests.support.state import snapshot

MiB = 1024 * 1024


# --- helpers ---------------------------------------------------------------------------------


def assert_error(response: httpx.Response, status: int, message: str | None = None) -> str:
    """The contract's error shape, exactly: {"error": msg, "actionErrors": [msg]}."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    body = response.json()
    assert set(body) == {"error", "actionErrors"}, body
    text = error_of(response)
    assert isinstance(text, str)
    assert text.strip()
    assert "Traceback" not in response.text
    if message is not None:
        assert text == message
    return text


async def raw(
    client: httpx.AsyncClient,
    endpoint: str,
    content: Any,
    *,
    key: str | None = None,
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST bytes (or a byte stream) as they are, with the given content type."""
    all_headers = dict(headers or {})
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    if key is not None:
        all_headers["X-API-KEY"] = key
    return await client.post(f"/api/{endpoint}", content=content, headers=all_headers)


def padded_json(size: int) -> bytes:
    """A valid JSON object of exactly ``size`` bytes (one unknown field, ignored)."""
    head, tail = b'{"padding":"', b'"}'
    body = head + b"a" * (size - len(head) - len(tail)) + tail
    assert len(body) == size
    return body


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """A streamed (chunked, no Content-Length) JSON body of ``total`` bytes."""
    body = padded_json(total)
    for start in range(0, total, size):
        yield body[start : start + size]


async def team(client: httpx.AsyncClient, key: str) -> list[dict[str, Any]]:
    response = await call(client, "getTeamData", key=key)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result


async def start_session(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await client.post("/api/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token = response.cookies["teamgate_session"]
    client.cookies.clear()
    return {"Cookie": f"teamgate_session={token}"}


@pytest.fixture
async def lenient_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Like `client`, but a server error comes back as a response instead of an exception."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_ORIGIN) as http:
        yield http


@pytest.fixture
async def acme(ctx: AppContext) -> Member:
    """The founding ADMIN of Acme (no password: nothing here logs in unless it says so)."""
    return await make_account(ctx, password=None)


# --- the error shape -------------------------------------------------------------------------


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


# --- JSON bodies -----------------------------------------------------------------------------


MALFORMED_JSON = {
    "unterminated": b"{",
    "trailing comma": b'{"inviteeEmail": "new@acme.com", "inviteeRole": "VIEWER",}',
    "single quotes": b"{'inviteeEmail': 'new@acme.com', 'inviteeRole': 'VIEWER'}",
    "trailing text": b'{"inviteeEmail": "new@acme.com", "inviteeRole": "VIEWER"} trailing',
    "NaN": b'{"inviteeEmail": NaN}',
    "infinite number": b'{"inviteeEmail": 1e99999}',
    "lone surrogate": b'{"inviteeEmail": "\\ud800@acme.com"}',
    "invalid UTF-8": b'{"inviteeEmail": "\xff@acme.com"}',
    "deeply nested": b"[" * 100_000 + b"]" * 100_000,
    "binary": b"\x00\x01\x02",
}


async def test_malformed_json_is_400(
    client: httpx.AsyncClient, ctx: AppContext, acme: Member
) -> None:
    before = await snapshot(ctx)
    for case, body in MALFORMED_JSON.items():
        response = await raw(client, "inviteUsers", body, key=acme.api_key)
        assert response.status_code == 400, (case, response.text)
        assert_error(response, 400)
        assert await snapshot(ctx) == before, case


async def test_json_that_is_not_an_object_is_400(
    client: httpx.AsyncClient, ctx: AppContext, acme: Member
) -> None:
    before = await snapshot(ctx)
    for body in [
        [{"inviteeEmail": "new@acme.com", "inviteeRole": "VIEWER"}],
        [],
        "new@acme.com",
        42,
        True,
        None,
    ]:
        response = await raw(client, "inviteUsers", json.dumps(body).encode(), key=acme.api_key)
        assert response.status_code == 400, (body, response.text)
        assert_error(response, 400)
        assert await snapshot(ctx) == before, body


# (endpoint, body, message); message None: a 400 whose wording the contract leaves open
WRONG_TYPES: list[tuple[str, dict[str, Any], str | None]] = [
    ("removeUser", {"email": 123}, "Invalid email"),
    ("removeUser", {"email": ["mia@acme.com"]}, "Invalid email"),
    ("removeUser", {"email": {"address": "mia@acme.com"}}, "Invalid email"),
    ("removeUser", {"email": True}, "Invalid email"),
    ("removeUser", {"email": None}, "Invalid email"),
    ("removeUser", {"email": "mia@acme.com\r\nBcc: x@evil.example"}, "Invalid email"),
    ("inviteUsers", {"inviteeEmail": ["new@acme.com"], "inviteeRole": "VIEWER"}, "Invalid email"),
    ("inviteUsers", {"inviteeEmail": 7, "inviteeRole": "VIEWER"}, "Invalid email"),
    ("inviteUsers", {"inviteeEmail": "new@acme.com", "inviteeRole": ["VIEWER"]}, "Invalid role"),
    ("inviteUsers", {"inviteeEmail": "new@acme.com", "inviteeRole": 1}, "Invalid role"),
    ("inviteUsers", {"inviteeEmail": "new@acme.com"}, "Invalid role"),
    (
        "inviteUsers",
        {"inviteeEmail": "new@acme.com", "inviteeRole": "VIEWER", "websiteHostName": 5},
        "Invalid website host name",
    ),
    (
        "inviteUsers",
        {"inviteeEmail": "new@acme.com", "inviteeRole": "VIEWER", "inviteeName": ["x"]},
        None,
    ),
    ("removeInvitation", {"email": 1}, "Invalid email"),
    ("makeAdmin", {"email": 1, "userRole": "VIEWER"}, "Invalid email"),
    ("makeAdmin", {"email": "mia@acme.com", "userRole": ["ADMIN"]}, "Invalid role"),
    ("makeAdmin", {"email": "mia@acme.com", "userRole": None}, "Invalid role"),
]


async def test_wrong_types_are_400(
    client: httpx.AsyncClient, ctx: AppContext, acme: Member
) -> None:
    await make_member(ctx, acme.account_id, "mia@acme.com", password=None)
    before = await snapshot(ctx)

    for endpoint, body, message in WRONG_TYPES:
        response = await call(client, endpoint, body, key=acme.api_key)
        assert response.status_code == 400, (endpoint, body, response.text)
        assert_error(response, 400, message)
        assert await snapshot(ctx) == before, (endpoint, body)


async def test_wrong_types_for_api_key_endpoints_are_400(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    admin = await make_account(ctx)
    cookie = await start_session(client, admin.email)
    bodies = [
        ("addApiToken", {"name": 5}),
        ("addApiToken", {"name": ["ci"]}),
        ("addApiToken", {"name": {"a": 1}}),
        ("addApiToken", {"name": "x" * 10_000}),
        ("deleteApiToken", {"apiTokenId": "1"}),
        ("deleteApiToken", {"apiTokenId": True}),
        ("deleteApiToken", {"apiTokenId": 1.0}),
        ("deleteApiToken", {"apiTokenId": [1]}),
        ("deleteApiToken", {"apiTokenId": 2**63 - 1}),
        ("deleteApiToken", {"apiTokenId": -1}),
        ("deleteApiToken", {}),
    ]
    before = await snapshot(ctx)

    for endpoint, body in bodies:
        response = await client.post(f"/api/{endpoint}", json=body, headers=cookie)
        assert_error(response, 400)

    assert await snapshot(ctx) == before
    assert (await call(client, "getTeamData", key=admin.api_key)).status_code == 200


async def test_missing_or_empty_body_counts_as_an_empty_object(
    client: httpx.AsyncClient, ctx: AppContext, acme: Member
) -> None:
    expected = await team(client, acme.api_key)
    headers = {"X-API-KEY": acme.api_key}

    no_body = await client.post("/api/getTeamData", headers=headers)
    assert no_body.status_code == 200, no_body.text
    assert no_body.json() == expected
    for content, content_type in [
        (b"", "application/json"),
        (b"  \r\n\t ", "application/json"),
        (b"", None),
    ]:
        response = await raw(
            client, "getTeamData", content, key=acme.api_key, content_type=content_type
        )
        assert response.status_code == 200, response.text
        assert response.json() == expected

    # an empty body is {}: the required fields are then missing
    before = await snapshot(ctx)
    assert_error(await raw(client, "inviteUsers", b"", key=acme.api_key), 400, "Invalid email")
    assert_error(await raw(client, "removeUser", b"", key=acme.api_key), 400, "Invalid email")
    assert await snapshot(ctx) == before


# --- body size -------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["getTeamData", "inviteUsers", "login", "acceptInvite"])
async def test_body_over_1mib_is_413(
    client: httpx.AsyncClient, ctx: AppContext, acme: Member, endpoint: str
) -> None:
    before = await snapshot(ctx)

    declared = await raw(client, endpoint, padded_json(MiB + 1), key=acme.api_key)
    streamed = await raw(client, endpoint, chunks(2 * MiB), key=acme.api_key)

    assert declared.request.headers["content-length"] == str(MiB + 1)
    assert "content-length" not in streamed.request.headers
    assert streamed.request.headers["transfer-encoding"] == "chunked"
    assert_error(declared, 413)
    assert_error(streamed, 413)
    assert await snapshot(ctx) == before


async def test_body_of_exactly_1mib_is_accepted(client: httpx.AsyncClient, acme: Member) -> None:
    expected = await team(client, acme.api_key)

    declared = await raw(client, "getTeamData", padded_json(MiB), key=acme.api_key)
    streamed = await raw(client, "getTeamData", chunks(MiB), key=acme.api_key)

    for response in (declared, streamed):
        assert response.status_code == 200, response.text[:300]
        assert response.json() == expected


async def test_streamed_body_over_1mib_is_413_with_a_small_declared_length(
    client: httpx.AsyncClient, ctx: AppContext, acme: Member
) -> None:
    """A Content-Length that lies is no way around the limit."""
    before = await snapshot(ctx)
    response = await raw(
        client,
        "inviteUsers",
        chunks(2 * MiB),
        key=acme.api_key,
        headers={"Content-Length": "100"},
    )
    assert response.request.headers["content-length"] == "100"
    assert_error(response, 413)
    assert await snapshot(ctx) == before


@pytest.mark.parametrize("path", ["/signup", "/setup"])
async def test_form_pages_refuse_a_streamed_body_over_1mib(
    client: httpx.AsyncClient, ctx: AppContext, acme: Member, path: str
) -> None:
    """The form pages have the same 1 MiB limit, also for a chunked body (no Content-Length)."""

    async def form() -> AsyncIterator[bytes]:
        yield b"inviteCode=x&name=x&password=xxxxxxxx"
        for n in range(3):  # three fields of 600 KB: each under Starlette's per-field limit
            yield f"&field{n}=".encode() + b"a" * 600_000

    before = await snapshot(ctx)
    declared = await client.post(
        path,
        content=b"token=x&field=" + b"a" * MiB,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    streamed = await client.post(
        path, content=form(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )

    assert declared.status_code == 413, declared.text[:300]
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413, streamed.text[:300]
    assert await snapshot(ctx) == before


# --- content type ----------------------------------------------------------------------------


async def test_json_body_with_a_wrong_content_type_is_415(
    client: httpx.AsyncClient, ctx: AppContext, acme: Member
) -> None:
    body = json.dumps({"inviteeEmail": "new@acme.com", "inviteeRole": "VIEWER"}).encode()
    before = await snapshot(ctx)

    for content_type in [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonp",
        "application/json-patch+json",
        "text/json",
        None,
    ]:
        response = await raw(
            client, "inviteUsers", body, key=acme.api_key, content_type=content_type
        )
        assert response.status_code == 415, (content_type, response.text)
        assert_error(response, 415)
        assert await snapshot(ctx) == before, content_type

    # the very same body as JSON is accepted
    assert (await raw(client, "inviteUsers", body, key=acme.api_key)).status_code == 200


async def test_json_content_type_variants_are_accepted(
    client: httpx.AsyncClient, ctx: AppContext, acme: Member
) -> None:
    variants = ["application/json", "application/json; charset=utf-8", "Application/JSON"]
    for n, content_type in enumerate(variants):
        body = json.dumps({"inviteeEmail": f"new{n}@acme.com", "inviteeRole": "VIEWER"})
        response = await raw(
            client, "inviteUsers", body.encode(), key=acme.api_key, content_type=content_type
        )
        assert response.status_code == 200, (content_type, response.text)
    async with ctx.db.read() as conn:
        emails = sorted(row[0] for row in await conn.execute(select(invitations.c.email)))
    assert emails == [f"new{n}@acme.com" for n in range(len(variants))]


# --- unknown fields are ignored, never bound -------------------------------------------------


async def test_unknown_fields_do_not_change_an_invitation(
    client: httpx.AsyncClient, ctx: AppContext, acme: Member
) -> None:
    member = await make_member(ctx, acme.account_id, "mia@acme.com", "MEMBER", password=None)
    other = await make_account(ctx, "Other", "boss@other.org", password=None)
    others_team = await team(client, other.api_key)
    extras = {
        "role": "ADMIN",
        "userRole": "ADMIN",
        "accountId": other.account_id,
        "account_id": other.account_id,
        "inviterId": acme.user_id,
        "inviter_id": acme.user_id,
        "id": 1,
        "jti": "chosen-by-client",
        "expiresAt": 4_102_444_800,
        "isInvitation": False,
        "inviteeRoleBase": "ADMIN",
        "__proto__": {"role": "ADMIN"},
    }

    plain = await call(
        client,
        "inviteUsers",
        {"inviteeEmail": "plain@acme.com", "inviteeRole": "VIEWER"},
        key=member.api_key,
    )
    extra = await call(
        client,
        "inviteUsers",
        {"inviteeEmail": "extra@acme.com", "inviteeRole": "VIEWER", **extras},
        key=member.api_key,
    )

    assert plain.status_code == extra.status_code == 200, extra.text
    assert plain.json().keys() == extra.json().keys()
    assert plain.json()["inviteeRole"] == extra.json()["inviteeRole"] == "VIEWER"
    assert (
        plain.json()["finalInviteCode"].split("?")[0]
        == (extra.json()["finalInviteCode"].split("?")[0])
    )
    async with ctx.db.read() as conn:
        rows = {
            row.email: row
            for row in await conn.execute(
                select(
                    invitations.c.email,
                    invitations.c.account_id,
                    invitations.c.role,
                    invitations.c.inviter_id,
                    invitations.c.jti,
                    invitations.c.created_at,
                    invitations.c.expires_at,
                )
            )
        }
    assert set(rows) == {"plain@acme.com", "extra@acme.com"}
    for row in rows.values():
        assert row.account_id == acme.account_id
        assert row.role == "VIEWER"
        assert row.inviter_id == member.user_id
        assert row.expires_at - row.created_at == (
            rows["plain@acme.com"].expires_at - rows["plain@acme.com"].created_at
        )
    assert rows["extra@acme.com"].jti != "chosen-by-client"
    assert await team(client, other.api_key) == others_team


async def test_unknown_fields_never_widen_a_request(
    client: httpx.AsyncClient, ctx: AppContext, acme: Member
) -> None:
    member = await make_member(ctx, acme.account_id, "mia@acme.com", "MEMBER", password=None)
    dev = await make_member(ctx, acme.account_id, "dev@acme.com", "DEVELOPER", password=None)
    other = await make_account(ctx, "Other", "boss@other.org", password=None)
    outsider = await make_member(ctx, other.account_id, "out@other.org", password=None)
    before = await snapshot(ctx)

    # a MEMBER claiming to be an ADMIN is still a MEMBER
    denied = await call(
        client,
        "makeAdmin",
        {"email": dev.email, "userRole": "ADMIN", "role": "ADMIN", "roleHierarchy": "ADMIN"},
        key=member.api_key,
    )
    assert_error(denied, 403, "The role 'MEMBER' does not have access.")
    # an ADMIN cannot reach into another account by naming it
    not_found = await call(
        client,
        "removeUser",
        {"email": outsider.email, "accountId": other.account_id},
        key=acme.api_key,
    )
    assert_error(not_found, 400, "User not found")
    assert await snapshot(ctx) == before

    listed = await call(client, "getTeamData", {"accountId": other.account_id}, key=acme.api_key)
    assert listed.status_code == 200
    assert {entry["login"] for entry in listed.json()} == {acme.email, member.email, dev.email}

    changed = await call(
        client,
        "makeAdmin",
        {"email": dev.email, "userRole": "VIEWER", "role": "ADMIN", "accountId": other.account_id},
        key=acme.api_key,
    )
    assert changed.status_code == 200, changed.text
    async with ctx.db.read() as conn:
        roles = {
            (row.account_id, row.user_id): row.role
            for row in await conn.execute(
                select(memberships.c.account_id, memberships.c.user_id, memberships.c.role)
            )
        }
    assert roles[(acme.account_id, dev.user_id)] == "VIEWER"
    assert roles[(other.account_id, outsider.user_id)] == "MEMBER"


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
        await start_session(lenient_client, admin.email),
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


# --- storage unavailable ---------------------------------------------------------------------


async def test_storage_down_is_503_with_retry_after(tmp_path: Path) -> None:
    down = Settings(
        database_url="postgresql://postgres@127.0.0.1:1/nope",  # nothing listens on port 1
        data_dir=tmp_path,
        public_url=[PUBLIC_ORIGIN],
        secret_key="test-signing-key-" + "x" * 32,
        rate_limit_storage="memory://",
    )
    application = create_app(down)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_ORIGIN) as http:
            responses = [
                await call(http, "getTeamData", key="tg_some-key"),
                await call(
                    http,
                    "inviteUsers",
                    {"inviteeEmail": "new@acme.com", "inviteeRole": "VIEWER"},
                    key="tg_some-key",
                ),
                await call(http, "login", {"email": "admin@acme.com", "password": PASSWORD}),
                await http.get("/healthz"),
            ]
            # what needs no storage still answers as usual
            malformed = await raw(http, "getTeamData", b"{", key="tg_some-key")

    for response in responses:
        assert_error(response, 503)
        retry_after = response.headers["Retry-After"]
        assert retry_after.isdigit()
        assert int(retry_after) >= 1
        for leak in ("127.0.0.1", "nope", "postgres", "Connection"):
            assert leak not in response.text
    assert_error(malformed, 400)
