"""inviteUsers, removeInvitation and acceptInvite."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from teamgate import inputs, schemas
from teamgate.auth.caller import CredentialDep
from teamgate.auth.cookies import set_session_cookie
from teamgate.context import get_context
from teamgate.http import body_doc, client_address, json_object, json_response
from teamgate.invitations import bulk, service
from teamgate.roles import role_input

router = APIRouter(prefix="/api", tags=["invitations"])


def _acceptance(fields: dict[str, Any]) -> service.Acceptance:
    """An acceptance from the API's JSON body (``inviteCode``, ``name``, ``password``)."""
    name = fields.get("name")
    return service.Acceptance(
        code=inputs.string(fields.get("inviteCode", fields.get("signupInvitationCode"))),
        name=None if name is None else inputs.name(name, "name"),
        password=inputs.string(fields.get("password")),
    )


@router.post(
    "/inviteUsers",
    summary="Invite a user (or replace their pending invitation)",
    response_model=None,
    responses=schemas.responses(schemas.InviteResponse, 400, 403, 429),
    openapi_extra=body_doc(schemas.InviteRequest),
)
async def invite_users(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    invite = service.Invite(
        email=inputs.email(data.get("inviteeEmail")),
        role=role_input(data.get("inviteeRole")),
        name=inputs.optional_name(data.get("inviteeName"), "inviteeName"),
        website=service.website(data.get("websiteHostName")),
    )
    invited = await service.invite(get_context(request), cred, invite)
    return json_response({"finalInviteCode": invited.link, "inviteeRole": invited.role})


@router.post(
    "/bulkInviteUsers",
    summary="Invite up to 1,000 people at once; each row judged as inviteUsers judges one",
    response_model=None,
    responses=schemas.responses(schemas.BulkInviteResponse, 400, 403),
    openapi_extra=body_doc(schemas.BulkInviteRequest),
)
async def bulk_invite_users(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    results = await bulk.bulk_invite(get_context(request), cred, bulk.rows(data.get("invitations")))
    return json_response(
        {
            "results": [
                {
                    "inviteeEmail": result.email,
                    "ok": result.invited is not None,
                    "finalInviteCode": result.invited.link if result.invited else None,
                    "error": result.error,
                }
                for result in results
            ]
        }
    )


@router.post(
    "/resendInvitation",
    summary="A new link and email for a pending invitation (the old link stops working)",
    response_model=None,
    responses=schemas.responses(schemas.InviteResponse, 400, 403, 429),
    openapi_extra=body_doc(schemas.ResendRequest),
)
async def resend_invitation(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    invited = await service.resend(
        get_context(request),
        cred,
        inputs.email(data.get("email")),
        service.website(data.get("websiteHostName")),
    )
    return json_response({"finalInviteCode": invited.link, "inviteeRole": invited.role})


@router.post(
    "/removeInvitation",
    summary="Revoke a pending invitation",
    response_model=None,
    responses=schemas.responses(schemas.EmailRequest, 400, 403),
    openapi_extra=body_doc(schemas.EmailRequest),
)
async def remove_invitation(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    email = inputs.email(data.get("email"))
    removed = await service.remove_invitation(get_context(request).db, cred, email)
    return json_response({"email": removed})


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
    accepted = await service.accept(ctx, _acceptance(data), client)
    session = accepted.session
    response = json_response(
        {
            "userId": session.user_id,
            "accountId": session.account_id,
            "email": accepted.email,
            "role": accepted.role,
        }
    )
    set_session_cookie(response, ctx.settings, session.token)
    return response
