"""Who is calling: an API key or a session, resolved to a user acting in one account."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request

from teamgate.auth import repository as repo
from teamgate.context import get_context
from teamgate.errors import AppError, Forbidden, Unauthorized
from teamgate.http import is_json_content_type, refuse_foreign_origin
from teamgate.roles import SESSION_ONLY, Action, Role, permits
from teamgate.security import token_hash

SESSION_COOKIE = "teamgate_session"


@dataclass(frozen=True, slots=True)
class Credential:
    kind: Literal["api_key", "session"]
    token_hash: str


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: int
    email: str
    name: str
    account_id: int
    role: str
    base_role: Role
    credential: Credential
    # Set while the user's address is unverified: the only account their password opens.
    unverified_account_id: int | None = None

    def require(self, action: Action) -> None:
        """403 unless this caller's role, and the kind of credential, allow ``action``."""
        if not permits(self.base_role, action):
            raise Forbidden.for_role(self.role)
        if action in SESSION_ONLY and self.credential.kind != "session":
            raise Forbidden.for_role(self.role)


async def credential(request: Request) -> Credential:
    """The credential a request carries, with the CSRF rules for cookie-authenticated calls."""
    key = request.headers.get("x-api-key")
    if key is not None:
        return Credential("api_key", token_hash(key.strip()))
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise Unauthorized()
    refuse_foreign_origin(request, get_context(request).settings.public_origins)
    if not is_json_content_type(request.headers.get("content-type")):
        raise AppError("Content-Type must be application/json", 415)
    return Credential("session", token_hash(cookie))


CredentialDep = Annotated[Credential, Depends(credential)]


async def resolve(conn: AsyncConnection, cred: Credential, at: int) -> Caller:
    """The caller as the database says now; 401 when the credential no longer works."""
    row = await repo.caller_of(conn, cred.kind, cred.token_hash, at)
    if row is None:
        raise Unauthorized()
    return Caller(
        row.user_id,
        row.email,
        row.name,
        row.account_id,
        row.role,
        Role(row.base_role),
        cred,
        row.unverified_account_id,
    )
