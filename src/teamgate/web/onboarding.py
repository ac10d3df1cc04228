"""The pages before anyone is signed in: the first-run setup and an invitation's signup.

Opening either page never consumes anything (mail scanners open links); only the form's POST
acts, and on success the person is signed in and lands on the team page.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from teamgate.accounts import service as accounts
from teamgate.auth import service as auth
from teamgate.auth.cookies import set_session_cookie
from teamgate.context import get_context
from teamgate.errors import AppError, RateLimited
from teamgate.http import client_address
from teamgate.inputs import name as parse_name
from teamgate.invitations import service as invitations
from teamgate.web import site
from teamgate.web.site import Flash

router = APIRouter(include_in_schema=False)


@router.get("/signup")
async def signup_page(
    request: Request, signupInvitationCode: str = "", signupEmailId: str = ""
) -> Response:
    ctx = get_context(request)
    found = await invitations.preview(ctx, signupInvitationCode)
    if found is None:
        return await _dead_link(request, signupInvitationCode)
    return _signup_form(request, found, signupInvitationCode)


async def _dead_link(request: Request, code: str) -> Response:
    """Why the link no longer works, when it is one of ours, and a way to ask for a new one."""
    dead = await invitations.dead_link(get_context(request), code)
    if dead is None:
        return site.render(request, "invalid.html", status=400, message=invitations.ASK_ADMIN)
    return site.render(request, "dead_link.html", status=400, dead=dead, code=code)


@router.post("/signup/ask")
async def ask_again(request: Request) -> Response:
    """The holder of a dead link asks the account's admins for a new invitation."""
    ctx = get_context(request)
    form = await site.form(request)
    code = form.get("inviteCode", "")
    try:
        await invitations.ask_again(
            ctx, code, client_address(request, ctx.settings.trusted_proxies)
        )
    except AppError as error:
        return site.render(
            request,
            "invalid.html",
            status=error.status,
            headers=error.headers,
            message=error.message,
        )
    return site.render(request, "dead_link.html", dead=None, asked=True)


def _signup_form(
    request: Request, found: invitations.Preview, code: str, error: AppError | None = None
) -> Response:
    return site.render(
        request,
        "signup.html",
        status=error.status if error else 200,
        headers=error.headers if error else None,
        invitation=found.invitation,
        account_name=found.account_name,
        code=code,
        error=error.message if error else None,
    )


@router.post("/signup")
async def signup_submit(request: Request) -> Response:
    ctx = get_context(request)
    form = await site.form(request)
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
        return site.render(
            request, "invalid.html", status=429, headers=error.headers, message=error.message
        )
    except AppError as error:
        if found is None:
            return site.render(request, "invalid.html", status=400, message=error.message)
        return _signup_form(request, found, code, error)
    welcome = Flash(f"Welcome to {accepted.account_name}: you joined as {accepted.role}.")
    response = site.redirect(request, "/team", welcome)
    set_session_cookie(response, ctx.settings, accepted.session.token)
    return response


@router.get("/setup")
async def setup_page(request: Request, token: str = "") -> Response:
    if not await accounts.setup_token_valid(get_context(request).db, token):
        return site.render(request, "invalid.html", status=400, message=accounts.SETUP_LINK_INVALID)
    return site.render(request, "setup.html", token=token)


@router.post("/setup")
async def setup_submit(request: Request) -> Response:
    ctx = get_context(request)
    form = await site.form(request)
    token = form.get("token", "")
    email, password = form.get("adminEmail", ""), form.get("password", "")
    try:
        account_id = await accounts.set_up(
            ctx.db,
            token=token,
            name=form.get("accountName", ""),
            admin_email=email,
            admin_name=form.get("adminName") or None,
            admin_password=password,
        )
    except accounts.SetupLinkInvalid as error:
        return site.render(request, "invalid.html", status=400, message=error.message)
    except AppError as error:
        if not await accounts.setup_token_valid(ctx.db, token):
            return site.render(request, "invalid.html", status=400, message=error.message)
        return site.render(
            request, "setup.html", status=400, token=token, error=error.message, form=form
        )
    # The new admin signs in with the password just chosen, as at the login page.
    client = client_address(request, ctx.settings.trusted_proxies)
    session = await auth.login(ctx, auth.Login(email=email, password=password), client)
    assert session.account_id == account_id
    response = site.redirect(request, "/team", Flash("Your account is ready. Invite your team."))
    set_session_cookie(response, ctx.settings, session.token)
    return response
