"""requestPasswordReset and resetPassword: a password set through a link sent to the address."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from teamgate import inputs, schemas
from teamgate.context import get_context
from teamgate.http import body_doc, client_address, json_object, json_response
from teamgate.users import service

router = APIRouter(prefix="/api", tags=["auth"])

SENT = "If this address belongs to a teamgate user, a link to set the password is on its way."


@router.post(
    "/requestPasswordReset",
    summary="Email a one-use link to set or reset the password",
    description="Answers the same whether or not the address belongs to a user.",
    response_model=None,
    responses=schemas.responses(schemas.StatusResponse, 400, 429),
    openapi_extra=body_doc(schemas.EmailRequest),
)
async def request_password_reset(request: Request) -> Response:
    data = await json_object(request)
    ctx = get_context(request)
    email = inputs.email(data.get("email"))
    await service.request_reset(ctx, email, client_address(request, ctx.settings.trusted_proxies))
    return json_response({"status": SENT})


@router.post(
    "/resetPassword",
    summary="Set the password through the emailed link (once, within the hour)",
    response_model=None,
    responses=schemas.responses(schemas.EmailRequest, 400, 429),
    openapi_extra=body_doc(schemas.ResetPasswordRequest),
)
async def reset_password(request: Request) -> Response:
    data = await json_object(request)
    ctx = get_context(request)
    email = await service.reset_password(
        ctx,
        data.get("token"),
        data.get("password"),
        client_address(request, ctx.settings.trusted_proxies),
    )
    return json_response({"email": email})
