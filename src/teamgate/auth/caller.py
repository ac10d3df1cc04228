"""Who is calling: an API key or a session, resolved to a user acting in one account."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request

from teamgate.accounts import repository as accounts
from teamgate.audit import OPERATOR
from teamgate.auth import repository as repo
from teamgate.context import get_context
from teamgate.errors import AppError, Forbidden, Unauthorized
from teamgate.http import is_json_content_type, refuse_foreign_origin
from teamgate.roles import SESSION_ONLY, Action, Role, permits
from teamgate.security import token_hash

SESSION_COOKIE = "teamgate_session"
ACCOUNT_NOT_FOUND = "Account not found"


@dataclass(frozen=True, slots=True)
class Credential:
    """What a call acts with: an API key, a session, or the operator's shell (``teamgate``
    commands on the server, acting as an ADMIN of ``account_id`` and recorded as ``cli``)."""

    kind: Literal["api_key", "session", "operator"]
    token_hash: str
    account_id: int | None = None  # the operator's account

    @classmethod
    def operator(cls, account_id: int) -> Credential:
        return cls("operator", "", account_id)


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

    @property
    def is_operator(self) -> bool:
        return self.credential.kind == "operator"

    @property
    def actor_user_id(self) -> int | None:
        """The user acting (None for the operator, who is no user)."""
        return None if self.is_operator else self.user_id

    @property
    def actor(self) -> str:
        """How the history names this caller: their email, or ``cli``."""
        return OPERATOR if self.is_operator else self.email

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
    if cred.kind == "operator":
        return await _operator(conn, cred)
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


async def _operator(conn: AsyncConnection, cred: Credential) -> Caller:
    """The operator acts as an ADMIN of an account that exists (else ``Account not found``)."""
    if cred.account_id is None or await accounts.name_of(conn, cred.account_id) is None:
        raise AppError(ACCOUNT_NOT_FOUND)
    return Caller(0, OPERATOR, OPERATOR, cred.account_id, Role.ADMIN.value, Role.ADMIN, cred)
