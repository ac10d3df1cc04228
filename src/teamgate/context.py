"""What every request handler needs, built once per process by create_app."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from teamgate.config import Settings
from teamgate.db import Database
from teamgate.ratelimit import Limits


@dataclass(slots=True)
class AppContext:
    settings: Settings
    db: Database
    limits: Limits


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx
