"""Invite codes: HS256-signed JWTs. The signature keeps forgeries out cheaply; the database row
(and its ``jti``) decides whether a code still works."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, quote

import jwt

ALGORITHM = "HS256"
SUBJECT = "invite_user"


@dataclass(frozen=True, slots=True)
class InviteClaims:
    jti: str
    email: str
    account_id: int
    expires_at: int


def new_jti() -> str:
    return secrets.token_urlsafe(24)


def sign(key: bytes, claims: InviteClaims, issued_at: int) -> str:
    payload = {
        "sub": SUBJECT,
        "email": claims.email,
        "accountId": claims.account_id,
        "jti": claims.jti,
        "iat": issued_at,
        "exp": claims.expires_at,
    }
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def verify(key: bytes, code: object, *, expired_too: bool = False) -> InviteClaims | None:
    """The claims of a well-signed, unexpired invite code (``expired_too``: expired or not);
    None for anything else."""
    if not isinstance(code, str) or not code or len(code) > 4096:
        return None
    code = extract_code(code)
    try:
        payload = jwt.decode(
            code,
            key,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub", "jti"], "verify_exp": not expired_too},
        )
    except jwt.PyJWTError:
        return None
    email, account_id, jti = payload.get("email"), payload.get("accountId"), payload.get("jti")
    if payload.get("sub") != SUBJECT or not isinstance(email, str) or not isinstance(jti, str):
        return None
    if not isinstance(account_id, int) or isinstance(account_id, bool):
        return None
    return InviteClaims(jti, email, account_id, int(payload["exp"]))


def extract_code(value: str) -> str:
    """Accept the bare code or the whole invite link."""
    if "signupInvitationCode=" not in value:
        return value.strip()
    query = value.strip().partition("?")[2]
    return parse_qs(query).get("signupInvitationCode", [""])[0]


def link(origin: str, code: str, email: str) -> str:
    return f"{origin}/signup?signupInvitationCode={code}&signupEmailId={quote(email, safe='')}"
