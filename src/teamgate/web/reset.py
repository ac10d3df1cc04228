"""/reset: ask for a link to set the password, and set it through that link."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from teamgate import inputs
from teamgate.context import get_context
from teamgate.errors import AppError
from teamgate.http import client_address
from teamgate.users import service as users
from teamgate.users.routes import SENT
from teamgate.web import site
from teamgate.web.site import Flash

router = APIRouter(include_in_schema=False)


@router.get("/reset")
async def reset_page(request: Request, token: str | None = None) -> Response:
    """Without a token: a form for the address. With one: a form for the new password (the
    token travels in the form; opening the page changes nothing)."""
    return site.render(request, "reset.html", token=token)


@router.post("/reset/request")
async def request_link(request: Request) -> Response:
    ctx = get_context(request)
    form = await site.form(request)
    client = client_address(request, ctx.settings.trusted_proxies)
    try:
        await users.request_reset(ctx, inputs.email(form.get("email")), client)
    except AppError as error:
        return site.render(
            request,
            "reset.html",
            status=error.status,
            headers=error.headers,
            token=None,
            email=form.get("email"),
            error=error.message,
        )
    return site.render(request, "reset.html", token=None, sent=SENT)


@router.post("/reset")
async def set_password(request: Request) -> Response:
    ctx = get_context(request)
    form = await site.form(request)
    token = form.get("token", "")
    client = client_address(request, ctx.settings.trusted_proxies)
    try:
        await users.reset_password(ctx, token, form.get("password"), client)
    except AppError as error:
        return site.render(
            request,
            "reset.html",
            status=error.status,
            headers=error.headers,
            token=token,
            error=error.message,
        )
    return site.redirect(
        request,
        "/login",
        Flash("Your password is set: sign in with it. Every other session ended."),
    )
