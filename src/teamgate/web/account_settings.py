"""The account's settings (ADMIN): whether members may invite, and which email domains."""

from __future__ import annotations

import re

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from teamgate.accounts import settings as account_settings
from teamgate.context import get_context
from teamgate.errors import AppError, Unauthorized
from teamgate.web import site
from teamgate.web.site import Flash, SignInRequired

router = APIRouter(include_in_schema=False)


@router.get("/settings")
async def settings_page(request: Request) -> Response:
    viewer = await site.viewer(request)
    try:
        current = await account_settings.get_settings(get_context(request).db, viewer.credential)
    except Unauthorized:
        raise SignInRequired("/settings") from None
    except AppError as error:  # not an ADMIN: the API's 403, as a page
        return site.render(
            request, "error.html", status=error.status, viewer=viewer, message=error.message
        )
    return site.render(
        request,
        "settings.html",
        viewer=viewer,
        page="settings",
        settings=current,
        domains_text="\n".join(current.allowed_email_domains),
        errors={},
    )


@router.post("/settings")
async def save_settings(request: Request) -> Response:
    fields = await site.form(request)
    viewer = await site.viewer(request, back="/settings")
    text = fields.get("allowedEmailDomains", "")
    domains = [part for part in re.split(r"[\s,]+", text) if part]
    change = account_settings.SettingsChange(
        invites_enabled=account_settings.invites_enabled("invitesEnabled" in fields),
        allowed_email_domains=account_settings.email_domains(domains),
    )
    try:
        await account_settings.update_settings(get_context(request).db, viewer.credential, change)
    except Unauthorized:
        raise SignInRequired("/settings") from None
    except AppError as error:
        submitted = account_settings.AccountSettings("invitesEnabled" in fields, domains)
        return site.render(
            request,
            "settings.html",
            status=error.status,
            viewer=viewer,
            page="settings",
            settings=submitted,
            domains_text=text,
            errors={"domains": error.message},
        )
    return site.redirect(request, "/settings", Flash("Settings saved."))
