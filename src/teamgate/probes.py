"""What an operator's tooling asks: is the process up (``/healthz``), can it serve
(``/readyz``), and its metrics (``/metrics``). None of them needs credentials or is in the API's
schema; none says more than counts and a reason (see docs/operations.md)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from teamgate import metrics, migrate
from teamgate.context import get_context
from teamgate.errors import STORAGE_RETRY_AFTER_SECONDS, error_response
from teamgate.http import json_response

READY_TIMEOUT_SECONDS = 5.0
DATABASE_UNREACHABLE = "The database is unreachable"
SCHEMA_OUTDATED = "The database schema is not at the latest migration: run `teamgate db upgrade`"


async def healthz(_request: Request) -> Response:
    """200 while the process answers; touches nothing else (the database may be down)."""
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    """200 when the database answers and its schema is the one this version expects; 503 with
    the reason otherwise."""
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            applied = await migrate.applied(get_context(request).db)
    except Exception:  # whatever fails, the answer is "not ready", and why
        return _not_ready(DATABASE_UNREACHABLE)
    if applied != migrate.heads():  # behind, or never migrated (no revision at all)
        return _not_ready(SCHEMA_OUTDATED)
    return json_response({"status": "ready"})


def _not_ready(reason: str) -> Response:
    return error_response(reason, 503, {"Retry-After": str(STORAGE_RETRY_AFTER_SECONDS)})


async def metrics_page(request: Request) -> Response:
    """The Prometheus text exposition: counts only. Not for the public internet."""
    body = await metrics.exposition(get_context(request).db)
    return Response(body, media_type=metrics.CONTENT_TYPE)
