"""Calling the API the way a client does, and reading its answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

MiB = 1024 * 1024
# Every endpoint that needs credentials (all of /api/* but login, logout and acceptInvite).
AUTHENTICATED_ENDPOINTS = [
    "getTeamData", "getTeamPage", "inviteUsers", "removeUser", "removeInvitation", "makeAdmin",
    "getRoleHierarchy", "addApiToken", "fetchApiTokens", "deleteApiToken", "getCustomRoles",
    "createCustomRole", "updateCustomRole", "deleteCustomRole", "goToAccount",
    "getAccountSettings", "updateAccountSettings", "getAccounts", "getAuditLogs",
    "resendInvitation", "bulkInviteUsers",
]  # fmt: skip


async def call(
    client: httpx.AsyncClient,
    endpoint: str,
    body: Any = None,
    *,
    key: str | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """POST /api/<endpoint> the way an Akto script does."""
    headers = dict(kwargs.pop("headers", {}))
    if key is not None:
        headers["X-API-KEY"] = key
    return await client.post(
        f"/api/{endpoint}", json={} if body is None else body, headers=headers, **kwargs
    )


def error_of(response: httpx.Response) -> str:
    body = response.json()
    assert body["actionErrors"] == [body["error"]]
    message: str = body["error"]
    return message


def answer(response: httpx.Response) -> tuple[int, str | None]:
    """The status and, for a refusal, its error message."""
    status = response.status_code
    return status, error_of(response) if 400 <= status < 500 else None


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


async def team_list(client: httpx.AsyncClient, key: str) -> list[dict[str, Any]]:
    """The team list, as the key's holder sees it."""
    response = await call(client, "getTeamData", key=key)
    assert response.status_code == 200, response.text
    result: list[dict[str, Any]] = response.json()
    return result
