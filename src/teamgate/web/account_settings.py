"""The account's settings (ADMIN): the whole account policy on one form."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from teamgate.accounts import settings as account_settings
from teamgate.accounts.settings import AccountSettings
from teamgate.context import get_context
from teamgate.emails import PUBLIC_MAIL_DOMAINS
from teamgate.errors import AppError, Unauthorized
from teamgate.web import site
from teamgate.web.site import Flash, SignInRequired, Viewer

router = APIRouter(include_in_schema=False)

# Which form field a refusal belongs to, by its message's start.
_FIELD_OF = {
    "allowedEmailDomains": "domains",
    "allowPublicDomains": "domains",
    "whoCanInvite": "who",
    "inviteLifetimeDays": "lifetime",
    "seatLimit": "seats",
}


def _field_of(message: str) -> str:
    for start, field in _FIELD_OF.items():
        if message.startswith(start):
            return field
    return "domains" if "public email provider" in message else "form"


def _form_values(current: AccountSettings) -> dict[str, Any]:
    policy = current.policy
    return {
        "invitesEnabled": policy.invites_enabled,
        "allowedEmailDomains": "\n".join(policy.allowed_email_domains),
        # Ticked when the list holds a public provider already: saving it again is no new yes.
        "allowPublicDomains": any(
            domain.removeprefix("*.") in PUBLIC_MAIL_DOMAINS
            for domain in policy.allowed_email_domains
        ),
        "whoCanInvite": policy.who_can_invite.value,
        "inviteLifetimeDays": str(policy.invite_lifetime_days),
        "seatLimit": "" if policy.seat_limit is None else str(policy.seat_limit),
    }


def _render(
    request: Request,
    viewer: Viewer,
    values: dict[str, Any],
    seats_used: int,
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    return site.render(
        request,
        "settings.html",
        status=status,
        viewer=viewer,
        page="settings",
        values=values,
        seats_used=seats_used,
        errors=errors,
    )


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
    return _render(request, viewer, _form_values(current), current.seats_used, {})


def _number(text: str) -> object:
    """A number typed in a form field, as the API would receive it (text that is not one is
    passed on as text, and refused with the API's message)."""
    text = text.strip()
    return int(text) if re.fullmatch(r"-?\d{1,9}", text) else text


@router.post("/settings")
async def save_settings(request: Request) -> Response:
    fields = await site.form(request)
    viewer = await site.viewer(request, back="/settings")
    text = fields.get("allowedEmailDomains", "")
    domains = [part for part in re.split(r"[\s,]+", text) if part]
    seats_text = fields.get("seatLimit", "").strip()
    # A field the form did not send stays as it is; an empty seat limit means no limit.
    lifetime = fields.get("inviteLifetimeDays")
    seats_sent = {"seatLimit": _number(seats_text) if seats_text else None}
    values: dict[str, Any] = {
        "invitesEnabled": "invitesEnabled" in fields,
        "allowedEmailDomains": text,
        "allowPublicDomains": "allowPublicDomains" in fields,
        "whoCanInvite": fields.get("whoCanInvite", ""),
        "inviteLifetimeDays": fields.get("inviteLifetimeDays", ""),
        "seatLimit": seats_text,
    }
    change = account_settings.SettingsChange(
        invites_enabled=account_settings.invites_enabled(values["invitesEnabled"]),
        allowed_email_domains=account_settings.email_domains(domains, values["allowPublicDomains"]),
        who_can_invite=account_settings.who_can_invite(fields.get("whoCanInvite")),
        invite_lifetime_days=account_settings.invite_lifetime_days(
            None if lifetime is None else _number(lifetime)
        ),
        seat_limit=account_settings.seat_limit(seats_sent if "seatLimit" in fields else {}),
    )
    db = get_context(request).db
    try:
        await account_settings.update_settings(db, viewer.credential, change)
    except Unauthorized:
        raise SignInRequired("/settings") from None
    except AppError as error:
        if error.status == 403:
            return site.render(
                request, "error.html", status=error.status, viewer=viewer, message=error.message
            )
        current = await account_settings.get_settings(db, viewer.credential)
        errors = {_field_of(error.message): error.message}
        return _render(request, viewer, values, current.seats_used, errors, error.status)
    return site.redirect(request, "/settings", Flash("Settings saved."))
