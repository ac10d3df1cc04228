"""Server-rendered pages: the invitation confirmation page and the first-run setup page.

Opening a page never consumes anything (mail scanners open links); only the form's POST acts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from teamgate.accounts import service as accounts
from teamgate.auth.cookies import set_session_cookie
from teamgate.context import get_context
from teamgate.errors import AppError, RateLimited
from teamgate.http import client_address, form_fields, refuse_foreign_origin
from teamgate.inputs import name as parse_name
from teamgate.invitations import service as invitations

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

PAGE_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}


def _page(
    request: Request,
    name: str,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    return templates.TemplateResponse(
        request, name, context, status_code=status, headers={**PAGE_HEADERS, **(headers or {})}
    )


async def _form(request: Request) -> dict[str, str]:
    refuse_foreign_origin(request, get_context(request).settings.public_origins)
    return await form_fields(request)


@router.get("/signup")
async def signup_page(
    request: Request, signupInvitationCode: str = "", signupEmailId: str = ""
) -> Response:
    found = await invitations.preview(get_context(request), signupInvitationCode)
    if found is None:
        return _page(request, "invalid.html", 400, message=invitations.ASK_ADMIN)
    return _signup_form(request, found, signupInvitationCode)


def _signup_form(
    request: Request,
    found: invitations.Preview,
    code: str,
    error: AppError | None = None,
) -> Response:
    return _page(
        request,
        "signup.html",
        error.status if error else 200,
        error.headers if error else None,
        invitation=found.invitation,
        account_name=found.account_name,
        code=code,
        error=error.message if error else None,
    )


@router.post("/signup")
async def signup_submit(request: Request) -> Response:
    ctx = get_context(request)
    form = await _form(request)
    code = form.get("inviteCode", "")
    name = form.get("name")
    acceptance = invitations.Acceptance(
        code=code,
        name=None if name is None else parse_name(name, "name"),
        password=form.get("password"),
    )
    found = await invitations.preview(ctx, code)
    try:
        accepted = await invitations.accept(
            ctx, acceptance, client_address(request, ctx.settings.trusted_proxies)
        )
    except RateLimited as error:
        return _page(request, "invalid.html", 429, error.headers, message=error.message)
    except AppError as error:
        if found is None:
            return _page(request, "invalid.html", 400, message=error.message)
        return _signup_form(request, found, code, error)
    response = _page(
        request,
        "joined.html",
        email=accepted.email,
        role=accepted.role,
        account=accepted.account_name,
    )
    set_session_cookie(response, ctx.settings, accepted.session.token)
    return response


@router.get("/setup")
async def setup_page(request: Request, token: str = "") -> Response:
    if not await accounts.setup_token_valid(get_context(request).db, token):
        return _page(request, "invalid.html", 400, message=accounts.SETUP_LINK_INVALID)
    return _page(request, "setup.html", token=token)


@router.post("/setup")
async def setup_submit(request: Request) -> Response:
    ctx = get_context(request)
    form = await _form(request)
    token = form.get("token", "")
    try:
        created = await accounts.create_account(
            ctx.db,
            name=form.get("accountName", ""),
            admin_email=form.get("adminEmail", ""),
            admin_name=form.get("adminName") or None,
            admin_password=form.get("password", ""),
            setup_token=token,
        )
    except accounts.SetupLinkInvalid as error:
        return _page(request, "invalid.html", 400, message=error.message)
    except AppError as error:
        if not await accounts.setup_token_valid(ctx.db, token):
            return _page(request, "invalid.html", 400, message=error.message)
        return _page(request, "setup.html", 400, token=token, error=error.message, form=form)
    return _page(request, "setup_done.html", created=created, origin=ctx.settings.public_origins[0])
