"""Account settings endpoints (ADMIN only)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from teamgate import schemas
from teamgate.accounts import settings
from teamgate.accounts.settings import AccountSettings
from teamgate.auth.caller import CredentialDep
from teamgate.context import get_context
from teamgate.http import body_doc, json_object, json_response

router = APIRouter(prefix="/api", tags=["account"])


def _settings(current: AccountSettings) -> Response:
    return json_response(settings.wire(current.policy) | {"seatsUsed": current.seats_used})


@router.post(
    "/getAccountSettings",
    summary="Whether members may invite, and which email domains",
    response_model=None,
    responses=schemas.responses(schemas.AccountSettings, 403),
    openapi_extra=body_doc(schemas.Empty),
)
async def get_account_settings(request: Request, cred: CredentialDep) -> Response:
    await json_object(request)
    return _settings(await settings.get_settings(get_context(request).db, cred))


@router.post(
    "/updateAccountSettings",
    summary="Change the invite setting or the allowed email domains",
    response_model=None,
    responses=schemas.responses(schemas.AccountSettings, 400, 403),
    openapi_extra=body_doc(schemas.AccountSettingsUpdate),
)
async def update_account_settings(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    change = settings.SettingsChange(
        invites_enabled=settings.invites_enabled(data.get("invitesEnabled")),
        allowed_email_domains=settings.email_domains(
            data.get("allowedEmailDomains"), data.get("allowPublicDomains", False)
        ),
        who_can_invite=settings.who_can_invite(data.get("whoCanInvite")),
        invite_lifetime_days=settings.invite_lifetime_days(data.get("inviteLifetimeDays")),
        seat_limit=settings.seat_limit(data),
    )
    return _settings(await settings.update_settings(get_context(request).db, cred, change))
