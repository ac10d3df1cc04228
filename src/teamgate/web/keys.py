"""The viewer's own API keys: create one (shown once), see them, delete one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from teamgate import inputs
from teamgate.auth import service as auth
from teamgate.context import get_context
from teamgate.errors import AppError, Unauthorized
from teamgate.web import site
from teamgate.web.site import Flash, SignInRequired, Viewer

router = APIRouter(include_in_schema=False)


async def _page(request: Request, viewer: Viewer, *, status: int = 200, **context: Any) -> Response:
    try:
        keys = await auth.list_api_keys(get_context(request).db, viewer.credential)
    except Unauthorized:
        raise SignInRequired("/keys") from None
    errors: dict[str, str] = context.setdefault("errors", {})
    shown = {f"key:{key.id}" for key in keys} | {"create"}
    unplaced = [message for where, message in errors.items() if where not in shown]
    if unplaced:  # a key that is not (or no longer) listed: say so at the top
        context["flash"] = Flash(unplaced[0], "error")
    return site.render(
        request, "keys.html", status=status, viewer=viewer, page="keys", keys=keys, **context
    )


@router.get("/keys")
async def keys_page(request: Request) -> Response:
    return await _page(request, await site.viewer(request))


@router.post("/keys/create")
async def create_key(request: Request) -> Response:
    fields = await site.form(request)
    viewer = await site.viewer(request, back="/keys")
    try:
        created = await auth.add_api_key(
            get_context(request).db,
            viewer.credential,
            inputs.name(fields.get("name"), "name", max_len=100),
        )
    except Unauthorized:
        raise SignInRequired("/keys") from None
    except AppError as error:
        return await _page(request, viewer, status=error.status, errors={"create": error.message})
    return await _page(
        request, viewer, new_key=created, flash=Flash(f"Key “{created.info.name}” created.")
    )


@router.post("/keys/delete")
async def delete_key(request: Request) -> Response:
    fields = await site.form(request)
    viewer = await site.viewer(request, back="/keys")
    chosen = fields.get("key_id", "")
    key_id = inputs.record_id(int(chosen) if chosen.isdigit() else chosen, "apiTokenId")
    try:
        await auth.delete_api_key(get_context(request).db, viewer.credential, key_id)
    except Unauthorized:
        raise SignInRequired("/keys") from None
    except AppError as error:
        return await _page(
            request, viewer, status=error.status, errors={f"key:{chosen}": error.message}
        )
    return site.redirect(request, "/keys", Flash("The key was deleted: it no longer works."))
