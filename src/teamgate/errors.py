"""Domain errors and the one place that renders them (and anything unexpected) as JSON."""

from __future__ import annotations

import logging
import sqlite3

import asyncpg
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from limits.errors import StorageError
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from teamgate.correlation import current_request_id

log = logging.getLogger("teamgate")

STORAGE_RETRY_AFTER_SECONDS = 5


class AppError(Exception):
    """An error a client caused or may see: a status and one exact message."""

    status = 400

    def __init__(
        self, message: str, status: int | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.headers = headers or {}


class Unauthorized(AppError):
    status = 401

    def __init__(self, message: str = "Unauthorized") -> None:
        super().__init__(message)


class Forbidden(AppError):
    status = 403

    @classmethod
    def for_role(cls, role: str) -> Forbidden:
        return cls(f"The role '{role}' does not have access.")


class RateLimited(AppError):
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "Too many requests, try again later", headers={"Retry-After": str(retry_after)}
        )


def error_response(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps({"error": message, "actionErrors": [message]})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def _storage_unavailable() -> Response:
    return error_response(
        "Storage is unavailable, try again shortly",
        503,
        {"Retry-After": str(STORAGE_RETRY_AFTER_SECONDS)},
    )


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    messages = {404: "Not found", 405: "Method not allowed"}
    message = messages.get(exc.status_code, str(exc.detail))
    return error_response(message, exc.status_code, dict(exc.headers or {}))


async def _validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
    message = f"Invalid request: {where} {first.get('msg', '')}".strip()
    return error_response(message, 400)


# What says that storage failed, not the statement: a 503 that a retry may cure. Anything else
# the database refuses (IntegrityError, ProgrammingError, a syntax error ...) is a bug: a 500.
STORAGE_FAILURES: tuple[type[BaseException], ...] = (
    OSError,  # sockets: refused, reset, unreachable; TimeoutError (a stalled database) is one
    PoolTimeout,  # SQLAlchemy's pool had no free connection in time
    StorageError,  # the rate-limit store
    InterfaceError,  # SQLAlchemy's wrapper of a DB-API InterfaceError: the driver lost its link
    asyncpg.InterfaceError,  # asyncpg: the connection is closed, or in use by a dead task
    asyncpg.InternalClientError,  # asyncpg: a reply came in the wrong state (a killed backend)
)
STORAGE_SQLSTATES = (  # PostgreSQL: a class (two characters) or one condition
    "08",  # connection exception
    "53",  # insufficient resources: too many connections, disk full, out of memory
    "57",  # operator intervention: admin or crash shutdown, cannot connect now, query canceled
    "58",  # system error: I/O error, missing file
    "40001",  # serialization failure: a transaction that lost a race
    "40P01",  # deadlock detected
)
STORAGE_SQLITE_CODES = frozenset(  # SQLite primary result codes
    {
        sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOTADB,
    }
)  # fmt: skip


def is_storage_failure(exc: BaseException) -> bool:
    """Whether an error means storage is unavailable (503), judged on the error and, for
    SQLAlchemy's wrappers, on the driver's error inside (``orig``, and the error the asyncpg
    adapter translated, its ``__cause__``)."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        errors = [exc, exc.orig, exc.orig.__cause__ if exc.orig is not None else None]
    else:
        errors = [exc]
    for error in errors:
        if isinstance(error, STORAGE_FAILURES):
            return True
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(STORAGE_SQLSTATES):
            return True
        code = getattr(error, "sqlite_errorcode", None)  # extended: the low byte is the primary
        if isinstance(code, int) and code & 0xFF in STORAGE_SQLITE_CODES:
            return True
    return False


def response_for(exc: Exception, scope: Scope | None = None) -> Response:
    """The response for any error, logged as an operator needs it: a client's mistake not at
    all, a client hanging up or storage failing in one line, anything else with its traceback."""
    if isinstance(exc, AppError):
        return error_response(exc.message, exc.status, exc.headers)
    where = _where(scope)
    if isinstance(exc, ClientDisconnect):
        log.info("%s: the client disconnected before the request was complete", where)
        return error_response("Request body is incomplete", 400)  # nobody is left to read it
    if is_storage_failure(exc):
        log.warning("%s: storage unavailable: %s", where, type(exc).__name__)
        return _storage_unavailable()
    log.error("%s: unexpected error", where, exc_info=exc)
    return error_response("Internal server error", 500)


def _where(scope: Scope | None) -> str:
    if scope is None:
        return "request"
    request_id = current_request_id.get() or "-"
    return f"{scope.get('method', '')} {scope.get('path', '')} (request {request_id})"


async def _render(request: Request, exc: Exception) -> Response:
    return response_for(exc, request.scope)


async def _outside_the_app(_request: Request, exc: Exception) -> Response:
    """Only an error raised outside RenderErrors (in the outermost middleware) gets here, to
    Starlette's ServerErrorMiddleware, which re-raises it for the server to log: render only."""
    return error_response("Internal server error", 500)


class RenderErrors:
    """Renders every error the app's handlers left, and stops it here.

    Past this point Starlette's ServerErrorMiddleware would render it and then re-raise it, and
    the server would log its traceback a second time (twice for every client that hangs up).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as exc:
            response = response_for(exc, scope)
            if not started:  # else the server closes the half-sent response when we return
                await response(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _render)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _outside_the_app)
    app.add_middleware(RenderErrors)  # added first: the innermost of the app's middleware
