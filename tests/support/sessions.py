"""Browser sessions: logging in, reading the session cookie, calling as a session."""

from __future__ import annotations

import hashlib
from http.cookies import SimpleCookie
from typing import Any

import httpx

from tests.support import PASSWORD
from tests.support.api import call, error_of

SESSION_COOKIE = "teamgate_session"


def set_cookies(response: httpx.Response) -> list[str]:
    return [c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)]


def session_token(response: httpx.Response) -> str:
    (header,) = set_cookies(response)
    jar: SimpleCookie = SimpleCookie()
    jar.load(header)
    token = jar[SESSION_COOKIE].value
    assert token
    return token


def cookie_headers(token: str, **extra: str) -> dict[str, str]:
    return {"Cookie": f"{SESSION_COOKIE}={token}", **extra}


async def login(
    client: httpx.AsyncClient, email: Any, password: Any = PASSWORD, **kwargs: Any
) -> httpx.Response:
    response = await client.post(
        "/api/login", json={"email": email, "password": password}, **kwargs
    )
    client.cookies.clear()  # every session call names its cookie explicitly
    return response


async def start_session(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await login(client, email, password)
    assert response.status_code == 200, response.text
    return session_token(response)


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


async def works(client: httpx.AsyncClient, *, key: str | None = None, token: str = "") -> bool:
    """Whether the API key or session still reads the team (a 200, else a 401)."""
    if key is not None:
        response = await call(client, "getTeamData", key=key)
    else:
        response = await as_session(client, "getTeamData", token=token)
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert error_of(response) == "Unauthorized"


def sha256_hex(value: str) -> str:
    """What the database stores of an API key or a session id."""
    return hashlib.sha256(value.encode()).hexdigest()


async def invite_viewer(client: httpx.AsyncClient, email: str, **credential: Any) -> httpx.Response:
    """inviteUsers for a VIEWER, as the holder of ``key=`` or of the session ``token=``."""
    body = {"inviteeEmail": email, "inviteeRole": "VIEWER"}
    if "token" in credential:
        return await as_session(client, "inviteUsers", body, token=credential["token"])
    return await call(client, "inviteUsers", body, key=credential["key"])
