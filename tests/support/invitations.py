"""Invitations: sending them, reading their links and codes, accepting them, and refusals that
must change nothing."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
from sqlalchemy import insert, select

from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.db import now
from teamgate.models import custom_roles, invitations, memberships, users
from tests.support.api import call, error_of
from tests.support.state import snapshot

ASK_ADMIN = "Ask admin to invite you"
NEW_PASSWORD = "a brand new passphrase"
WEEK = 7 * 24 * 3600
OTHER_KEY = "some-other-signing-key-" + "y" * 32


async def invite(
    client: httpx.AsyncClient, key: str, email: Any, role: Any = "MEMBER", **extra: Any
) -> httpx.Response:
    body = {"inviteeEmail": email, "inviteeRole": role, **extra}
    return await call(client, "inviteUsers", body, key=key)


def link_parts(response: httpx.Response) -> tuple[str, str, dict[str, list[str]]]:
    """(origin, path, query) of the invite link in an inviteUsers response."""
    parts = urlsplit(response.json()["finalInviteCode"])
    return f"{parts.scheme}://{parts.netloc}", parts.path, parse_qs(parts.query)


def code_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return link_parts(response)[2]["signupInvitationCode"][0]


async def invited_code(
    client: httpx.AsyncClient, key: str, email: str, role: str = "MEMBER", **extra: Any
) -> str:
    return code_of(await invite(client, key, email, role, **extra))


async def accept(
    client: httpx.AsyncClient,
    code: Any,
    password: Any = NEW_PASSWORD,
    name: Any = "Bob Builder",
) -> httpx.Response:
    body: dict[str, Any] = {"inviteCode": code, "password": password}
    if name is not None:
        body["name"] = name
    return await call(client, "acceptInvite", body)


def claims(settings: Settings, code: str) -> dict[str, Any]:
    assert settings.secret_key is not None
    decoded: dict[str, Any] = jwt.decode(
        code, settings.secret_key.get_secret_value(), algorithms=["HS256"]
    )
    return decoded


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def execute(ctx: AppContext, statement: Any) -> None:
    async with ctx.db.write() as conn:
        await conn.execute(statement)


async def invitation_row(ctx: AppContext, account_id: int, email: str) -> Any:
    async with ctx.db.read() as conn:
        return (
            await conn.execute(
                select(invitations).where(
                    invitations.c.account_id == account_id, invitations.c.email == email
                )
            )
        ).first()


async def role_in(ctx: AppContext, account_id: int, email: str) -> str | None:
    async with ctx.db.read() as conn:
        role: str | None = (
            await conn.execute(
                select(memberships.c.role)
                .join(users, users.c.id == memberships.c.user_id)
                .where(memberships.c.account_id == account_id, users.c.email == email)
            )
        ).scalar_one_or_none()
    return role


async def add_custom_role(ctx: AppContext, account_id: int, name: str, base: str) -> None:
    await execute(
        ctx,
        insert(custom_roles).values(
            account_id=account_id, name=name, base_role=base, created_at=now()
        ),
    )


async def refused_invite(
    client: httpx.AsyncClient, ctx: AppContext, key: str, body: dict[str, Any], message: str
) -> None:
    """The invitation is refused with ``message`` and nothing is written."""
    before = await snapshot(ctx)
    response = await call(client, "inviteUsers", body, key=key)
    assert response.status_code == 400, (body, response.text)
    assert error_of(response) == message, body
    assert await snapshot(ctx) == before, body


async def refused_accept(
    client: httpx.AsyncClient, ctx: AppContext, body: dict[str, Any], message: str = ASK_ADMIN
) -> httpx.Response:
    """The acceptance is refused with ``message``, starts no session and writes nothing."""
    before = await snapshot(ctx)
    response = await call(client, "acceptInvite", body)
    assert response.status_code == 400, (body, response.text)
    assert error_of(response) == message, body
    assert "set-cookie" not in response.headers
    assert await snapshot(ctx) == before, body
    return response
