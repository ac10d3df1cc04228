"""What every request handler needs, built once per process by create_app, and the request id."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from starlette.requests import Request

from teamgate.config import Settings
from teamgate.db import Database
from teamgate.ratelimit import Limits

# Set by the edge middleware for the duration of one request (each request runs in its own
# task, so it never leaks into another); None outside a request (the CLI, start-up).
current_request_id: ContextVar[str | None] = ContextVar("teamgate_request_id", default=None)


@dataclass(slots=True)
class AppContext:
    settings: Settings
    db: Database
    limits: Limits


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx
