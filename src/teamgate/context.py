"""What every request handler needs, built once per process by create_app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request

from teamgate.config import Settings
from teamgate.db import Database
from teamgate.ratelimit import Limits

if TYPE_CHECKING:
    from teamgate.mail.outbox import Worker


@dataclass(slots=True)
class AppContext:
    settings: Settings
    db: Database
    limits: Limits
    mail: Worker | None = None  # delivers the outbox in this process (TEAMGATE_MAIL_WORKER)


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx
