"""The API reference pages, /docs (Swagger UI) and /redoc (ReDoc), which work offline.

FastAPI's own pages load both UIs from a CDN and start them with an inline script. These pages
load the UIs from the fastapi-offline package and start them with our scripts in
``static/docs/``, all served under ``ASSETS_PATH``; each page's Content-Security-Policy allows
nothing else.
"""

from __future__ import annotations

import secrets
from functools import cache
from html import escape
from importlib.resources import files

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

ASSETS_PATH = "/docs/assets"
REDOC_BUNDLE = "redoc.standalone.js"
# ReDoc's menu shows Redocly's logo from their CDN, and hides it when it fails to load: the
# bundle is served with an empty address there, so the page asks nothing of another host.
REDOC_LOGO = b'"https://cdn.redoc.ly/redoc/logo-mini.svg"'

# Every page: the UI comes from this server only (its scripts as files, never inline), talks
# to this server only (the schema, and Swagger UI's "Try it out"), and is never framed.
_COMMON = [
    "default-src 'none'",
    "script-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
]
SWAGGER_CSP = "; ".join(
    [
        *_COMMON,
        "style-src 'self'",  # swagger-ui.css; React sets its inline styles through the CSSOM
        "img-src 'self' data:",  # swagger-ui.css draws its icons as data: SVGs
    ]
)
# Written by ReDoc's bundle into <style> elements as it loads, before it knows the nonce: an
# empty element, then perfect-scrollbar's stylesheet. A new ReDoc may need new hashes: the
# browser test then fails on the violation, and Chromium's message gives the hash.
REDOC_LOAD_STYLES = (
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
)


def redoc_csp(nonce: str) -> str:
    return "; ".join(
        [
            *_COMMON,
            # ReDoc styles itself in <style> elements (styled-components): they carry this
            # page's nonce, which redoc-init.js hands to ReDoc.
            f"style-src 'nonce-{nonce}' {' '.join(REDOC_LOAD_STYLES)}",
            "img-src 'self' data:",  # ReDoc's icons are data: SVGs
            "worker-src blob:",  # ReDoc's search index runs in a worker made from a blob
        ]
    )


class Assets(StaticFiles):
    """The UIs' files as fastapi-offline ships them, and our start-up scripts; ReDoc's bundle
    without its one remote address (``REDOC_LOGO``)."""

    def __init__(self) -> None:
        super().__init__(packages=[("teamgate.web", "static/docs"), ("fastapi_offline", "static")])

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if path != REDOC_BUNDLE or not isinstance(response, FileResponse):
            return response  # another file, an error, or "304 Not Modified"
        return Response(
            _redoc_bundle(),
            media_type=response.media_type,
            headers={
                "etag": response.headers["etag"],
                "last-modified": response.headers["last-modified"],
            },
        )


@cache
def _redoc_bundle() -> bytes:
    bundle = files("fastapi_offline").joinpath("static", REDOC_BUNDLE).read_bytes()
    return bundle.replace(REDOC_LOGO, b'""')


router = APIRouter(include_in_schema=False)


def _urls(request: Request) -> tuple[str, str]:
    """Where the assets and the OpenAPI schema are, as the browser sees them (escaped)."""
    root = request.scope.get("root_path", "").rstrip("/")
    return escape(f"{root}{ASSETS_PATH}"), escape(f"{root}{request.app.openapi_url}")


def _page(request: Request, ui: str, csp: str, head: str, body: str) -> HTMLResponse:
    assets, spec = _urls(request)
    html = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(request.app.title)} API reference ({ui})</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
{head}
</head>
<body>
<noscript>This page needs JavaScript. Its schema is at <a href="{spec}">{spec}</a>.</noscript>
{body}
</body>
</html>
"""
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": csp,
            "Referrer-Policy": "same-origin",
            "X-Frame-Options": "DENY",
        },
    )


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    assets, spec = _urls(request)
    return _page(
        request,
        "Swagger UI",
        SWAGGER_CSP,
        head=f'<link rel="stylesheet" href="{assets}/swagger-ui.css">',
        body=f"""<div id="swagger-ui" data-spec-url="{spec}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-init.js"></script>""",
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    assets, spec = _urls(request)
    nonce = secrets.token_urlsafe(18)
    return _page(
        request,
        "ReDoc",
        redoc_csp(nonce),
        head="",
        body=f"""<div id="redoc" data-spec-url="{spec}"></div>
<script src="{assets}/{REDOC_BUNDLE}"></script>
<script src="{assets}/redoc-init.js" nonce="{nonce}"></script>""",
    )
