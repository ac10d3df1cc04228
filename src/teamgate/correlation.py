"""The id of the request being served: in its ``X-Request-ID``, its log lines and its audit events.

Set by the edge middleware for the duration of one request (each request runs in its own task,
so it never leaks into another); None outside a request (the CLI, start-up).
"""

from __future__ import annotations

from contextvars import ContextVar

current_request_id: ContextVar[str | None] = ContextVar("teamgate_request_id", default=None)
