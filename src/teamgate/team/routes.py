"""Akto's team endpoints: getTeamData, removeUser, makeAdmin, getRoleHierarchy."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from teamgate import schemas
from teamgate.auth.caller import CredentialDep
from teamgate.context import get_context, request_id
from teamgate.http import body_doc, json_object, json_response
from teamgate.team import custom_roles, service

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


@router.post(
    "/getCustomRoles",
    summary="The account's custom roles",
    response_model=None,
    responses=schemas.responses(schemas.CustomRoleList),
    openapi_extra=body_doc(schemas.Empty),
)
async def get_custom_roles(request: Request, cred: CredentialDep) -> Response:
    await json_object(request)
    return json_response(await custom_roles.list_roles(get_context(request).db, cred))


@router.post(
    "/createCustomRole",
    summary="Create a custom role that behaves as its base role",
    response_model=None,
    responses=schemas.responses(schemas.CustomRole, 400, 403),
    openapi_extra=body_doc(schemas.CustomRoleRequest),
)
async def create_custom_role(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    ctx = get_context(request)
    return json_response(await custom_roles.create_role(ctx.db, cred, data, request_id(request)))


@router.post(
    "/updateCustomRole",
    summary="Change a custom role's base role",
    response_model=None,
    responses=schemas.responses(schemas.CustomRole, 400, 403),
    openapi_extra=body_doc(schemas.CustomRoleRequest),
)
async def update_custom_role(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    ctx = get_context(request)
    return json_response(await custom_roles.update_role(ctx.db, cred, data, request_id(request)))


@router.post(
    "/deleteCustomRole",
    summary="Delete a custom role nobody holds",
    response_model=None,
    responses=schemas.responses(schemas.CustomRoleName, 400, 403),
    openapi_extra=body_doc(schemas.CustomRoleName),
)
async def delete_custom_role(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    ctx = get_context(request)
    return json_response(await custom_roles.delete_role(ctx.db, cred, data, request_id(request)))
