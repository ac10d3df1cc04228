"""login, logout and the API-key endpoints (from a session only)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from teamgate import schemas
from teamgate.auth import service
from teamgate.auth.caller import SESSION_COOKIE, CredentialDep, credential
from teamgate.context import AppContext, get_context, request_id
from teamgate.http import body_doc, client_address, json_object, json_response

router = APIRouter(prefix="/api", tags=["auth"])


def set_session_cookie(response: Response, ctx: AppContext, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=ctx.settings.session_ttl_seconds,
        httponly=True,
        samesite="lax",
        secure=ctx.settings.secure_cookies,
        path="/",
    )


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
    client = client_address(request, ctx.settings.trusted_proxies)
    session = await service.login(ctx, data, client, request_id(request))
    response = json_response({"userId": session.user_id, "accountId": session.account_id})
    set_session_cookie(response, ctx, session.token)
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
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=ctx.settings.secure_cookies
    )
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
    created = await service.add_api_key(
        get_context(request).db, cred, data.get("name"), request_id(request)
    )
    return json_response({**created, "apiTokenList": [created]})


@router.post(
    "/fetchApiTokens",
    summary="The caller's own API keys (never the keys themselves)",
    response_model=None,
    responses=schemas.responses(schemas.ApiTokenList, 403),
    openapi_extra=body_doc(schemas.Empty),
)
async def fetch_api_tokens(request: Request, cred: CredentialDep) -> Response:
    await json_object(request)
    tokens = await service.list_api_keys(get_context(request).db, cred)
    return json_response({"apiTokenList": tokens})


@router.post(
    "/deleteApiToken",
    summary="Revoke one of the caller's own API keys",
    response_model=None,
    responses=schemas.responses(schemas.DeleteApiTokenRequest, 400, 403),
    openapi_extra=body_doc(schemas.DeleteApiTokenRequest),
)
async def delete_api_token(request: Request, cred: CredentialDep) -> Response:
    data = await json_object(request)
    key_id = data.get("apiTokenId", data.get("id"))
    await service.delete_api_key(get_context(request).db, cred, key_id, request_id(request))
    return json_response({"apiTokenId": key_id})


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
    session, role = await service.switch_account(
        ctx, cred, data.get("newAccountId"), request_id(request)
    )
    response = json_response({"accountId": session.account_id, "role": role})
    set_session_cookie(response, ctx, session.token)
    return response
