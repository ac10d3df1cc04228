"""Akto's team endpoints: getTeamData, removeUser, makeAdmin, getRoleHierarchy."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from teamgate import schemas
from teamgate.auth.caller import CredentialDep
from teamgate.context import get_context, request_id
from teamgate.http import body_doc, json_object, json_response
from teamgate.team import service

router = APIRouter(prefix="/api", tags=["team"])


@router.post(
    "/getTeamData",
    summary="Members, then pending invitations",
    response_model=None,
    responses=schemas.responses(list[schemas.TeamEntry]),
    openapi_extra=body_doc(schemas.Empty),
)
async def get_team_data(request: Request, cred: CredentialDep) -> Response:
    await json_object(request)
    body = await service.team_json(get_context(request).db, cred)
    return Response(body, media_type="application/json")


@router.post(
    "/removeUser",
    summary="Remove a member or delete a pending invitation",
    response_model=None,
    responses=schemas.responses(schemas.RemoveUserResponse, 400, 403),
    openapi_extra=body_doc(schemas.EmailRequest),
)
async def remove_user(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    result = await service.remove_user(
        get_context(request).db, cred, data.get("email"), request_id(request)
    )
    return json_response(result)


@router.post(
    "/makeAdmin",
    summary="Change a member's role",
    response_model=None,
    responses=schemas.responses(schemas.TeamEntry, 400, 403),
    openapi_extra=body_doc(schemas.MakeAdminRequest),
)
async def make_admin(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    result = await service.change_role(
        get_context(request).db, cred, data.get("email"), data.get("userRole"), request_id(request)
    )
    return json_response(result)


@router.post(
    "/getRoleHierarchy",
    summary="Roles the caller may assign",
    response_model=None,
    responses=schemas.responses(list[str]),
    openapi_extra=body_doc(schemas.Empty),
)
async def get_role_hierarchy(request: Request, cred: CredentialDep) -> Response:
    await json_object(request)
    return json_response(await service.role_hierarchy(get_context(request).db, cred))
