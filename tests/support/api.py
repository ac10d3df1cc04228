"""Calling the API the way a client does, and reading its answers."""

from __future__ import annotations

from typing import Any

import httpx

# Every endpoint that needs credentials (all of /api/* but login, logout and acceptInvite).
AUTHENTICATED_ENDPOINTS = [
    "getTeamData", "inviteUsers", "removeUser", "removeInvitation", "makeAdmin",
    "getRoleHierarchy", "addApiToken", "fetchApiTokens", "deleteApiToken", "getCustomRoles",
    "createCustomRole", "updateCustomRole", "deleteCustomRole", "goToAccount",
    "getAccountSettings", "updateAccountSettings",
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
