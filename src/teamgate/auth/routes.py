"""login, logout, goToAccount and the API-key endpoints (from a session only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from teamgate import inputs, schemas
from teamgate.auth import service
from teamgate.auth.caller import SESSION_COOKIE, CredentialDep, credential
from teamgate.auth.cookies import clear_session_cookie, set_session_cookie
from teamgate.auth.repository import ApiKey
from teamgate.context import get_context
from teamgate.http import body_doc, client_address, json_object, json_response

router = APIRouter(prefix="/api", tags=["auth"])


def _api_key(key: ApiKey) -> dict[str, Any]:
    return {"id": key.id, "name": key.name, "keyPrefix": key.prefix, "createdAt": key.created_at}


@router.post(
    "/login",
    summary="Start a session",
    response_model=None,
    responses=schemas.responses(schemas.SessionResponse, 400, 429),
    openapi_extra=body_doc(schemas.LoginRequest),
)
async def login(request: Request) -> Response:
    data = await json_object(request)
    ctx = get_context(request)
    attempt = service.Login(
        email=inputs.string(data.get("email")), password=inputs.string(data.get("password"))
    )
    client = client_address(request, ctx.settings.trusted_proxies)
    session = await service.login(ctx, attempt, client)
    response = json_response({"userId": session.user_id, "accountId": session.account_id})
    set_session_cookie(response, ctx.settings, session.token)
    return response


@router.post(
    "/logout",
    summary="End the current session",
    response_model=None,
    responses=schemas.responses(schemas.Empty),
    openapi_extra=body_doc(schemas.Empty),
)
async def logout(request: Request) -> Response:
    await json_object(request)
    ctx = get_context(request)
    session_token = request.cookies.get(SESSION_COOKIE)
    if session_token:
        await credential(request)  # the cookie rules (CSRF) apply to logout too
    await service.logout(ctx.db, session_token)
    response = json_response({})
    clear_session_cookie(response, ctx.settings)
    return response


@router.post(
    "/addApiToken",
    summary="Create an API key (shown once, in the field `key`)",
    response_model=None,
    responses=schemas.responses(schemas.NewApiToken, 400, 403),
    openapi_extra=body_doc(schemas.AddApiTokenRequest),
)
async def add_api_token(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    name = data.get("name")
    created = await service.add_api_key(
        get_context(request).db,
        cred,
        "API key" if name is None else inputs.name(name, "name", max_len=100),
    )
    info = _api_key(created.info)
    return json_response({**info, "key": created.key, "apiTokenList": [info]})


@router.post(
    "/fetchApiTokens",
    summary="The caller's own API keys (never the keys themselves)",
    response_model=None,
    responses=schemas.responses(schemas.ApiTokenList, 403),
    openapi_extra=body_doc(schemas.Empty),
)
async def fetch_api_tokens(request: Request, cred: CredentialDep) -> Response:
    await json_object(request)
    keys = await service.list_api_keys(get_context(request).db, cred)
    return json_response({"apiTokenList": [_api_key(key) for key in keys]})


@router.post(
    "/deleteApiToken",
    summary="Revoke one of the caller's own API keys",
    response_model=None,
    responses=schemas.responses(schemas.DeleteApiTokenRequest, 400, 403),
    openapi_extra=body_doc(schemas.DeleteApiTokenRequest),
)
async def delete_api_token(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    key_id = inputs.record_id(data.get("apiTokenId", data.get("id")), "apiTokenId")
    deleted = await service.delete_api_key(get_context(request).db, cred, key_id)
    return json_response({"apiTokenId": deleted})


@router.post(
    "/getAccounts",
    summary="The accounts the caller belongs to",
    response_model=None,
    responses=schemas.responses(list[schemas.AccountSummary]),
    openapi_extra=body_doc(schemas.Empty),
)
async def get_accounts(request: Request, cred: CredentialDep) -> Response:
    await json_object(request)
    signed_in = await service.signed_in(get_context(request).db, cred)
    return json_response(
        [
            {"accountId": choice.account_id, "name": choice.name, "role": choice.role}
            for choice in signed_in.accounts
        ]
    )


@router.post(
    "/goToAccount",
    summary="Switch the session to another account of the caller's",
    response_model=None,
    responses=schemas.responses(schemas.AccountSwitch, 400, 403),
    openapi_extra=body_doc(schemas.GoToAccountRequest),
)
async def go_to_account(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    ctx = get_context(request)
    account_id = inputs.record_id(data.get("newAccountId"), "newAccountId")
    switched = await service.switch_account(ctx, cred, account_id)
    session = switched.session
    response = json_response({"accountId": session.account_id, "role": switched.role})
    set_session_cookie(response, ctx.settings, session.token)
    return response
