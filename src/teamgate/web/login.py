"""Signing in and out, and moving between one's accounts."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from teamgate import inputs
from teamgate.auth import service as auth
from teamgate.auth.caller import SESSION_COOKIE
from teamgate.auth.cookies import clear_session_cookie, set_session_cookie
from teamgate.context import get_context
from teamgate.errors import AppError, Unauthorized
from teamgate.http import client_address
from teamgate.web import site
from teamgate.web.site import Flash, SignInRequired

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request) -> Response:
    return site.redirect(request, "/team")


@router.get("/login")
async def login_page(request: Request, next: str = "/team") -> Response:
    return site.render(request, "login.html", next=site.safe_next(next))


@router.post("/login")
async def login_submit(request: Request) -> Response:
    ctx = get_context(request)
    form = await site.form(request)
    next_path = site.safe_next(form.get("next"))
    attempt = auth.Login(email=form.get("email"), password=form.get("password"))
    try:
        session = await auth.login(
            ctx, attempt, client_address(request, ctx.settings.trusted_proxies)
        )
    except AppError as error:
        return site.render(
            request,
            "login.html",
            status=error.status,
            headers=error.headers,
            next=next_path,
            email=form.get("email"),
            error=error.message,
        )
    response = site.redirect(request, next_path)
    set_session_cookie(response, ctx.settings, session.token)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    ctx = get_context(request)
    await site.form(request)
    await auth.logout(ctx.db, request.cookies.get(SESSION_COOKIE))
    response = site.redirect(request, "/login", Flash("You are signed out."))
    clear_session_cookie(response, ctx.settings)
    return response


@router.post("/switch")
async def switch_account(request: Request) -> Response:
    ctx = get_context(request)
    form = await site.form(request)
    viewer = await site.viewer(request)
    chosen = form.get("account", "")
    account_id = inputs.record_id(int(chosen) if chosen.isdigit() else chosen, "account")
    try:
        switched = await auth.switch_account(ctx, viewer.credential, account_id)
    except Unauthorized:
        raise SignInRequired("/team") from None
    except AppError as error:
        return site.render(
            request, "error.html", status=error.status, viewer=viewer, message=error.message
        )
    name = next(
        (a.name for a in viewer.accounts if a.account_id == switched.session.account_id), ""
    )
    response = site.redirect(request, "/team", Flash(f"You are now in {name}."))
    set_session_cookie(response, ctx.settings, switched.session.token)
    return response
