"""The ASGI application: create_app(settings). Nothing connects at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from teamgate import __version__, errors, logs, metrics, probes
from teamgate.accounts.routes import router as accounts_router
from teamgate.auth.caller import Credential, credential
from teamgate.auth.routes import router as auth_router
from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.db import Database
from teamgate.http import EdgeMiddleware
from teamgate.invitations.routes import router as invitations_router
from teamgate.mail.outbox import Worker, delivering
from teamgate.mail.transport import transport_for
from teamgate.ratelimit import Limits
from teamgate.team.routes import get_team_data
from teamgate.team.routes import router as team_router
from teamgate.users.routes import router as users_router
from teamgate.web import docs, site
from teamgate.web import router as pages_router

DESCRIPTION = """Who is in a workspace, with which role, and who is invited.

Wire-compatible with Akto's User Management API. Authenticate with `X-API-KEY: <key>` or the
session cookie set by `/api/login`. Every error is `{"error": "...", "actionErrors": ["..."]}`.
"""


Handler = Callable[[Request, Credential], Awaitable[Response]]


class FastLane:
    """Serves the hottest endpoints as plain ASGI, past FastAPI's routing and dependency solving.

    The handler is the very route function that FastAPI serves (and documents) otherwise; only
    the dispatch differs: credential parsing, errors and headers behave the same. Measured by
    ``bench/run.py``.
    """

    def __init__(self, app: ASGIApp, routes: dict[tuple[str, str], Handler]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.routes.get((scope.get("method", ""), scope.get("path", "")))
        if handler is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            response = await handler(request, await credential(request))
        except Exception as exc:  # rendered exactly as the app's exception handlers would
            response = errors.response_for(exc, scope)
        await response(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    db = Database(settings.resolved_database_url, pool_size=settings.db_pool_size)
    mail = Worker(settings, db, transport_for(settings)) if settings.mail_worker else None
    ctx = AppContext(settings=settings, db=db, limits=Limits(settings), mail=mail)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with metrics.sampling(ctx.db), delivering(mail):
            yield
        await ctx.db.dispose()
        await ctx.limits.close()
        logs.flush_access_log()  # uvicorn may end the process by a signal next: no atexit

    app = FastAPI(
        title="teamgate",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # web/docs.py serves /docs and /redoc without a CDN
        redoc_url=None,
        # teamgate's signals are its own (/metrics, the access log): FastAPI's OpenTelemetry
        # hooks would otherwise look up three providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.ctx = ctx
    errors.install(app)
    site.install(app)
    fast_lane: dict[tuple[str, str], Handler] = {("POST", "/api/getTeamData"): get_team_data}
    app.add_middleware(FastLane, routes=fast_lane)
    # Added last: outermost, so the fast lane gets it too (its routes, named by their path).
    app.add_middleware(
        EdgeMiddleware, routes=app.router.routes, unrouted={path: path for _, path in fast_lane}
    )
    routers = (team_router, invitations_router, auth_router, users_router, accounts_router)
    for router in (*routers, pages_router):
        app.include_router(router)
    app.include_router(docs.router)
    app.mount(docs.ASSETS_PATH, docs.Assets(), name="docs-assets")

    app.add_api_route("/healthz", probes.healthz, methods=["GET"], include_in_schema=False)
    app.add_api_route("/readyz", probes.readyz, methods=["GET"], include_in_schema=False)
    app.add_api_route("/metrics", probes.metrics_page, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=site.STATIC_DIR), name="static")
    return app
