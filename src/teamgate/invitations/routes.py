"""inviteUsers, removeInvitation and acceptInvite."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from teamgate import schemas
from teamgate.auth.caller import CredentialDep
from teamgate.auth.routes import set_session_cookie
from teamgate.context import get_context, request_id
from teamgate.http import body_doc, client_address, json_object, json_response
from teamgate.invitations import service

router = APIRouter(prefix="/api", tags=["invitations"])


@router.post(
    "/inviteUsers",
    summary="Invite a user (or replace their pending invitation)",
    response_model=None,
    responses=schemas.responses(schemas.InviteResponse, 400, 403, 429),
    openapi_extra=body_doc(schemas.InviteRequest),
)
async def invite_users(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    return json_response(
        await service.invite(get_context(request), cred, data, request_id(request))
    )


@router.post(
    "/removeInvitation",
    summary="Revoke a pending invitation",
    response_model=None,
    responses=schemas.responses(schemas.EmailRequest, 400, 403),
    openapi_extra=body_doc(schemas.EmailRequest),
)
async def remove_invitation(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    ctx = get_context(request)
    return json_response(
        await service.remove_invitation(ctx, cred, data.get("email"), request_id(request))
    )


@router.post(
    "/acceptInvite",
    summary="Accept an invitation (new users set a name and password; existing users give theirs)",
    response_model=None,
    responses=schemas.responses(schemas.SessionResponse, 400, 429),
    openapi_extra=body_doc(schemas.AcceptInviteRequest),
)
async def accept_invite(request: Request) -> Response:
    data = await json_object(request)
    ctx = get_context(request)
    client = client_address(request, ctx.settings.trusted_proxies)
    accepted = await service.accept(ctx, data, client, request_id(request))
    session = accepted.session
    response = json_response(
        {
            "userId": session.user_id,
            "accountId": session.account_id,
            "email": accepted.email,
            "role": accepted.role,
        }
    )
    set_session_cookie(response, ctx, session.token)
    return response
