"""Akto's team endpoints: getTeamData, removeUser, makeAdmin, getRoleHierarchy."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from teamgate import inputs, schemas
from teamgate.auth.caller import CredentialDep
from teamgate.context import get_context
from teamgate.http import JSON_MEDIA_TYPE, body_doc, json_object, json_response
from teamgate.roles import role_input
from teamgate.team import custom_roles, history, service
from teamgate.team.repository import CustomRole

router = APIRouter(prefix="/api", tags=["team"])


def _custom_role(role: CustomRole) -> dict[str, Any]:
    return {"name": role.name, "baseRole": role.base_role.value, "createdAt": role.created_at}


def _role_definition(data: dict[str, Any]) -> custom_roles.RoleDefinition:
    return custom_roles.RoleDefinition(
        name=custom_roles.role_name(data.get("roleName")),
        base=custom_roles.base_role(data.get("baseRole")),
    )


@router.post(
    "/getTeamData",
    summary="Members, then pending invitations",
    response_model=None,
    description='`{}`: the members, then the pending invitations. `{"at": <epoch seconds>}` '
    "(ADMIN): who was a member at that time, with the role they had then, replayed from the "
    "membership history (members only).",
    responses=schemas.responses(list[schemas.TeamEntry], 400, 403),
    openapi_extra=body_doc(schemas.TeamDataRequest),
)
async def get_team_data(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    db = get_context(request).db
    if data.get("at") is not None:
        then = await history.team_at(db, cred, history.time(data["at"], "at"))
        return json_response(
            [
                {
                    "id": member.user_id,
                    "login": member.email,
                    "name": member.name,
                    "role": member.role,
                }
                for member in then
            ]
        )
    team = await service.team_json(db, cred)
    if isinstance(team, bytes):
        return Response(team, media_type=JSON_MEDIA_TYPE)
    return StreamingResponse(team, media_type=JSON_MEDIA_TYPE)


@router.post(
    "/getTeamPage",
    summary="The team list a page at a time, searched and filtered",
    response_model=None,
    description="The entries of getTeamData (members first, then pending invitations), "
    "`limit` (1-500, default 100) at a time. Pass `nextCursor` back as `cursor` for the next "
    "page: pages neither skip nor repeat entries while people join and leave. `search` keeps "
    "entries whose email or name starts with it (any case); `role` those with that role.",
    responses=schemas.responses(schemas.TeamPage, 400, 403),
    openapi_extra=body_doc(schemas.TeamPageRequest),
)
async def get_team_page(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    found = await service.team_page(
        get_context(request).db,
        cred,
        service.PageRequest(
            limit=history.limit(data.get("limit")),
            after=service.page_cursor(data.get("cursor")),
            search=service.page_search(data.get("search")),
            role=service.page_role(data.get("role")),
        ),
    )
    return json_response({"entries": found.entries, "nextCursor": found.next_cursor})


@router.post(
    "/getAuditLogs",
    summary="The membership history, newest first (ADMIN)",
    response_model=None,
    responses=schemas.responses(schemas.AuditLogPage, 400, 403),
    openapi_extra=body_doc(schemas.AuditLogRequest),
)
async def get_audit_logs(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    where = history.HistoryFilter(
        action=history.text(data.get("action"), "action"),
        actor=history.who(data.get("actor"), "actor"),
        target=history.who(data.get("target"), "target"),
        since=history.time(data.get("from"), "from"),
        until=history.time(data.get("to"), "to"),
    )
    found = await history.page(
        get_context(request).db,
        cred,
        where,
        limit=history.limit(data.get("limit")),
        cursor=history.cursor(data.get("cursor")),
    )
    return json_response(
        {"events": [event.wire() for event in found.events], "nextCursor": found.next_cursor}
    )


@router.post(
    "/removeUser",
    summary="Remove a member or delete a pending invitation",
    response_model=None,
    responses=schemas.responses(schemas.RemoveUserResponse, 400, 403),
    openapi_extra=body_doc(schemas.EmailRequest),
)
async def remove_user(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    removal = await service.remove_user(
        get_context(request).db, cred, inputs.email(data.get("email"))
    )
    return json_response(
        {
            "email": removal.email,
            "id": removal.user_id,
            "passwordResetToken": None,
            "roleHierarchy": removal.caller_role,
            "userRoleHierarchy": removal.assignable_roles,
            "users": None,
        }
    )


@router.post(
    "/makeAdmin",
    summary="Change a member's role",
    response_model=None,
    responses=schemas.responses(schemas.TeamEntry, 400, 403),
    openapi_extra=body_doc(schemas.MakeAdminRequest),
)
async def make_admin(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    change = service.RoleChange(
        email=inputs.email(data.get("email")), role=role_input(data.get("userRole"))
    )
    changed = await service.change_role(get_context(request).db, cred, change)
    return json_response({"email": changed.email, "id": changed.user_id, "role": changed.role})


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
    roles = await custom_roles.list_roles(get_context(request).db, cred)
    return json_response({"roles": [_custom_role(role) for role in roles]})


@router.post(
    "/createCustomRole",
    summary="Create a custom role that behaves as its base role",
    response_model=None,
    responses=schemas.responses(schemas.CustomRole, 400, 403),
    openapi_extra=body_doc(schemas.CustomRoleRequest),
)
async def create_custom_role(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    role = await custom_roles.create_role(get_context(request).db, cred, _role_definition(data))
    return json_response(_custom_role(role))


@router.post(
    "/updateCustomRole",
    summary="Change a custom role's base role",
    response_model=None,
    responses=schemas.responses(schemas.CustomRole, 400, 403),
    openapi_extra=body_doc(schemas.CustomRoleRequest),
)
async def update_custom_role(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    role = await custom_roles.update_role(get_context(request).db, cred, _role_definition(data))
    return json_response({"name": role.name, "baseRole": role.base_role.value})


@router.post(
    "/deleteCustomRole",
    summary="Delete a custom role nobody holds",
    response_model=None,
    responses=schemas.responses(schemas.CustomRoleName, 400, 403),
    openapi_extra=body_doc(schemas.CustomRoleName),
)
async def delete_custom_role(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    name = custom_roles.existing_name(data.get("roleName"))
    deleted = await custom_roles.delete_role(get_context(request).db, cred, name)
    return json_response({"name": deleted})
