"""The edge: JSON bodies, the 1 MiB limit, content types, clients that hang up mid-body, the
access log, and the client address behind proxies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from starlette.requests import Request

from teamgate.accounts.service import create_account
from teamgate.context import AppContext
from teamgate.db import Database
from teamgate.http import client_address
from teamgate.models import invitations
from tests.conftest import Member
from tests.support.api import MiB, assert_error, call, chunks, padded_json, raw, team_list
from tests.support.servers import Server, start_server
from tests.support.state import snapshot

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


async def test_missing_or_empty_body_counts_as_an_empty_object(
    client: httpx.AsyncClient, ctx: AppContext, acme: Member
) -> None:
    expected = await team_list(client, acme.api_key)
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
    expected = await team_list(client, acme.api_key)

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


# --- clients that hang up mid-body -----------------------------------------------------------


DISCONNECTED = "the client disconnected before the request was complete"


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[Server]:
    server = start_server(f"sqlite:///{tmp_path / 'teamgate.db'}", tmp_path)
    try:
        yield server
    finally:
        server.stop()


async def hang_up_mid_body(port: int, path: str, headers: dict[str, str]) -> None:
    """Sends the head of a POST that announces 1,000 bytes, then 100 of them, then closes."""
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Length: 1000"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + b"{" + b" " * 99)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


@pytest.mark.processes
async def test_a_client_hanging_up_mid_body_is_one_quiet_log_line(
    sqlite_server: Server, tmp_path: Path
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'teamgate.db'}")
    try:
        admin = await create_account(db, name="Acme", admin_email="ada@acme.com")
    finally:
        await db.dispose()
    json_api = {"Content-Type": "application/json", "X-API-KEY": admin.api_key}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    hang_ups = [
        ("/api/inviteUsers", json_api),
        ("/api/getTeamData", json_api),  # the fast lane
        ("/signup", form),
        ("/setup", form),
    ] * 2

    for path, headers in hang_ups:
        await hang_up_mid_body(sqlite_server.port, path, headers)
    # Still serving; connections are accepted in order, so every hang-up above has arrived.
    async with httpx.AsyncClient(base_url=sqlite_server.origin) as http:
        assert (await call(http, "getTeamData", key=admin.api_key)).status_code == 200
    output = sqlite_server.stop()

    assert "Traceback" not in output, output
    assert "Exception in ASGI application" not in output, output
    quiet = [line for line in output.splitlines() if DISCONNECTED in line]
    assert len(quiet) == len(hang_ups), output
    for path, _headers in hang_ups:
        assert sum(f"POST {path} " in line for line in quiet) == 2, output


# --- the client address ------------------------------------------------------------------------


def _request(peer: str, forwarded: str | None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "client": (peer, 1234), "headers": headers})


def test_forwarded_for_is_ignored_without_a_trusted_proxy() -> None:
    assert client_address(_request("203.0.113.9", "1.2.3.4"), []) == "203.0.113.9"


def test_forwarded_for_is_read_behind_a_trusted_proxy() -> None:
    proxies = ["10.0.0.1", "10.0.0.2"]
    assert client_address(_request("10.0.0.1", "1.2.3.4, 10.0.0.2"), proxies) == "1.2.3.4"
    # A client-forged hop to the left of the real one is not believed.
    assert client_address(_request("10.0.0.1", "6.6.6.6, 1.2.3.4"), proxies) == "1.2.3.4"
    assert client_address(_request("10.0.0.1", "not-an-ip"), proxies) == "10.0.0.1"
