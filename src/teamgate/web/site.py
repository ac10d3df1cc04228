"""The site: how every page is rendered, protected and signed in to.

A page is a template and a route. The route renders with ``render(...)`` (security headers, the
CSRF token, the signed-in viewer for the header, the one-time flash message), reads its form
with ``form(...)`` (the Origin check and the CSRF token), and asks for the person with
``viewer(...)``, which sends anyone not signed in to ``/login?next=…``. Services are the API's:
a page builds the same typed input from its own form fields and shows the same messages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from teamgate import __version__
from teamgate.auth import service as auth
from teamgate.auth.caller import SESSION_COOKIE, Caller, Credential
from teamgate.auth.cookies import clear_session_cookie
from teamgate.context import get_context
from teamgate.errors import AppError, Unauthorized
from teamgate.http import Upload, form_fields, multipart_fields, refuse_foreign_origin
from teamgate.roles import Action, permits
from teamgate.security import token_hash

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))

CSRF_COOKIE = "teamgate_csrf"
CSRF_FIELD = "csrf_token"
FLASH_COOKIE = "teamgate_flash"
FORM_EXPIRED = "This form has expired: reload the page and try again"

# No inline script or style anywhere: every byte of code comes from /static.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
PAGE_HEADERS = {
    # Invite and setup links carry their secret in the URL: it never leaves in a Referer, and
    # our own form posts still carry our Origin (no-referrer would make Chromium send null).
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}


def _asset_versions() -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        for path in STATIC_DIR.glob("*")
        if path.is_file()
    }


_VERSIONS = _asset_versions()


def static_url(name: str) -> str:
    """The URL of a file in web/static, changing whenever the file does (safe to cache)."""
    return f"/static/{name}?v={_VERSIONS.get(name, __version__)}"


def _iso(epoch: int) -> str:
    """An epoch-seconds time as ISO 8601 UTC, for ``<time datetime>`` (the script shows it in
    the reader's locale)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(epoch: int) -> str:
    """The fallback text of a ``<time>`` when the script does not run."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


templates.env.globals["static_url"] = static_url
templates.env.filters["iso"] = _iso
templates.env.filters["day"] = _day


class PageError(AppError):
    """A refusal shown as a page (a form from elsewhere, an expired form), not as JSON."""


class SignInRequired(Exception):
    """The person is not (or no longer) signed in: they go to the login page, then back."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True, slots=True)
class Flash:
    text: str
    kind: str = "success"  # or "error"


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in person, as the header and the controls need them."""

    caller: Caller
    credential: Credential
    accounts: list[auth.AccountChoice]

    @property
    def account_name(self) -> str:
        return next((a.name for a in self.accounts if a.current), "")

    def can(self, action: Action) -> bool:
        return permits(self.caller.base_role, action)


def safe_next(value: object) -> str:
    """A local path to go back to after signing in; never another site."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/team"


def session_credential(request: Request) -> Credential | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    return Credential("session", token_hash(cookie)) if cookie else None


async def viewer(request: Request, *, back: str | None = None) -> Viewer:
    """The signed-in person; anyone else is sent to sign in and brought back: to this page, or
    for a form's post to ``back`` (the page the form was on)."""
    cred = session_credential(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        here = back or "/team"
    if cred is None:
        raise SignInRequired(here)
    try:
        who = await auth.signed_in(get_context(request).db, cred)
    except Unauthorized:
        raise SignInRequired(here) from None
    return Viewer(who.caller, cred, who.accounts)


# --- CSRF: a random cookie per browser, and a token in every form bound to it and the session --


def _csrf_token(request: Request, cookie: str) -> str:
    key = get_context(request).settings.signing_key
    session = request.cookies.get(SESSION_COOKIE, "")
    message = f"csrf|{cookie}|{token_hash(session) if session else ''}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


async def form(request: Request) -> dict[str, str]:
    """A page's form post: from our own pages only (Origin, Fetch metadata, CSRF token)."""
    fields, _ = await _guarded(request, lambda: _no_files(form_fields(request)))
    return fields


async def upload_form(request: Request) -> tuple[dict[str, str], dict[str, Upload]]:
    """A page's form that sends files (``multipart/form-data``), under the same guard as
    ``form``: its text fields and its files."""
    return await _guarded(request, lambda: multipart_fields(request))


async def _no_files(fields: Awaitable[dict[str, str]]) -> tuple[dict[str, str], dict[str, Upload]]:
    return await fields, {}


async def _guarded(
    request: Request,
    read: Callable[[], Awaitable[tuple[dict[str, str], dict[str, Upload]]]],
) -> tuple[dict[str, str], dict[str, Upload]]:
    try:
        refuse_foreign_origin(request, get_context(request).settings.public_origins)
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise AppError("Cross-origin request refused", 403)
        fields, files = await read()
    except AppError as error:
        raise PageError(error.message, error.status) from None
    cookie = request.cookies.get(CSRF_COOKIE)
    sent = fields.get(CSRF_FIELD, "")
    if not cookie or not hmac.compare_digest(sent, _csrf_token(request, cookie)):
        raise PageError(FORM_EXPIRED, 403)
    return fields, files


# --- flash: a one-time message carried across a redirect in a signed cookie --------------------


def _sign(request: Request, payload: bytes) -> str:
    key = get_context(request).settings.signing_key
    mac = hmac.new(key, b"flash|" + payload, hashlib.sha256).hexdigest()
    return base64.urlsafe_b64encode(payload).decode() + "." + mac


def _read_flash(request: Request) -> Flash | None:
    value = request.cookies.get(FLASH_COOKIE)
    if not value or "." not in value:
        return None
    encoded, mac = value.rsplit(".", 1)
    try:
        payload = base64.urlsafe_b64decode(encoded.encode())
    except ValueError:
        return None
    if not hmac.compare_digest(_sign(request, payload).rsplit(".", 1)[1], mac):
        return None
    try:
        data = orjson.loads(payload)
        return Flash(str(data["text"]), str(data.get("kind", "success")))
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None


def redirect(request: Request, url: str, flash: Flash | None = None) -> Response:
    """303 to a page of ours, with a message to show there once."""
    response = RedirectResponse(url, status_code=303, headers=PAGE_HEADERS)
    if flash is not None:
        payload = orjson.dumps({"text": flash.text, "kind": flash.kind})
        response.set_cookie(
            FLASH_COOKIE,
            _sign(request, payload),
            max_age=60,
            httponly=True,
            samesite="lax",
            secure=get_context(request).settings.secure_cookies,
            path="/",
        )
    return response


# --- rendering ----------------------------------------------------------------------------------


def render(
    request: Request,
    name: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    viewer: Viewer | None = None,
    **context: Any,
) -> Response:
    """A page: the template with the CSRF token, the viewer and any flash message."""
    settings = get_context(request).settings
    cookie = request.cookies.get(CSRF_COOKIE)
    new_cookie = None
    if not cookie or len(cookie) > 100:
        cookie = new_cookie = secrets.token_urlsafe(32)
    flash = _read_flash(request)
    response = templates.TemplateResponse(
        request,
        name,
        {
            **context,
            "viewer": viewer,
            "csrf_token": _csrf_token(request, cookie),
            "flash": context.get("flash") or flash,
            "Action": Action,
        },
        status_code=status,
        headers={**PAGE_HEADERS, **(headers or {})},
    )
    if new_cookie is not None:
        response.set_cookie(
            CSRF_COOKIE,
            new_cookie,
            httponly=True,
            samesite="lax",
            secure=settings.secure_cookies,
            path="/",
        )
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def install(app: FastAPI) -> None:
    """The site's own error handling: page refusals as pages, sign-in as a redirect."""

    async def page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        return render(request, "error.html", status=exc.status, message=exc.message)

    async def sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        response = RedirectResponse(
            f"/login?next={quote(exc.next_path, safe='/')}", status_code=303, headers=PAGE_HEADERS
        )
        if request.cookies.get(SESSION_COOKIE):
            clear_session_cookie(response, get_context(request).settings)
        return response

    app.add_exception_handler(PageError, page_error)
    app.add_exception_handler(SignInRequired, sign_in)
