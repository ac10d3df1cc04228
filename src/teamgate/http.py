"""Request bodies and responses at the edge: size, content type, JSON, client address."""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email import policy as mime_policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

import orjson
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from teamgate.correlation import current_request_id
from teamgate.errors import AppError
from teamgate.logs import AccessLog
from teamgate.metrics import UNMATCHED, RequestMetrics

MAX_BODY_BYTES = 1024 * 1024
JSON_MEDIA_TYPE = "application/json"


FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 20


def media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def is_json_content_type(value: str | None) -> bool:
    return media_type(value) == JSON_MEDIA_TYPE


async def read_body(request: Request) -> bytes:
    """The whole body, refused with 413 as soon as it passes 1 MiB (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            raise AppError("Invalid Content-Length header", 400)
        if int(declared) > MAX_BODY_BYTES:
            raise AppError("Request body is larger than 1 MiB", 413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise AppError("Request body is larger than 1 MiB", 413)
        chunks.append(chunk)
    return b"".join(chunks)


async def form_fields(request: Request) -> dict[str, str]:
    """A URL-encoded form (the pages' forms), each field's first value."""
    body = await read_body(request)
    if media_type(request.headers.get("content-type")) != FORM_MEDIA_TYPE:
        raise AppError(f"Content-Type must be {FORM_MEDIA_TYPE}", 415)
    try:
        pairs = parse_qsl(
            body.decode(),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise AppError("Malformed form body", 400) from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields.setdefault(key, value)
    return fields


MULTIPART_MEDIA_TYPE = "multipart/form-data"


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    content: bytes


async def multipart_fields(request: Request) -> tuple[dict[str, str], dict[str, Upload]]:
    """A form that sends files (``multipart/form-data``), read whole (1 MiB at most) with the
    standard library's MIME parser: its text fields and its files, each name's first."""
    body = await read_body(request)
    content_type = request.headers.get("content-type", "")
    if media_type(content_type) != MULTIPART_MEDIA_TYPE or any(c in content_type for c in "\r\n"):
        raise AppError(f"Content-Type must be {MULTIPART_MEDIA_TYPE}", 415)
    message = BytesParser(policy=mime_policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise AppError("Malformed form body", 400)
    fields: dict[str, str] = {}
    files: dict[str, Upload] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if (
            part.get_content_disposition() != "form-data"
            or not isinstance(name, str)
            or not isinstance(payload, bytes)
        ):
            continue
        filename = part.get_filename()
        if filename is None:
            fields.setdefault(name, payload.decode("utf-8", "replace"))
        else:
            files.setdefault(name, Upload(filename, payload))
    return fields, files


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object; an empty body counts as ``{}``."""
    body = await read_body(request)
    if not body.strip():
        return {}
    if not is_json_content_type(request.headers.get("content-type")):
        raise AppError("Content-Type must be application/json", 415)
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise AppError("Malformed JSON in request body", 400) from None
    if not isinstance(data, dict):
        raise AppError("Request body must be a JSON object", 400)
    return data


def refuse_foreign_origin(request: Request, public_origins: list[str]) -> None:
    """CSRF defence for browser calls: an ``Origin`` header, when sent, must be ours."""
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/") not in public_origins:
        raise AppError("Cross-origin request refused", 403)


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(orjson.dumps(content), status, headers, media_type=JSON_MEDIA_TYPE)


def body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for a route that parses its body itself (see json_object).
    Nested models are inlined: a ``$defs`` inside an operation is not a place OpenAPI tools
    (ReDoc) look for references."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})
    return {
        "requestBody": {
            "content": {JSON_MEDIA_TYPE: {"schema": _inlined(schema, definitions)}},
            "required": False,
        }
    }


def _inlined(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/$defs/"):
            return _inlined(definitions[reference.removeprefix("#/$defs/")], definitions)
        return {key: _inlined(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inlined(item, definitions) for item in node]
    return node


def client_address(request: Request, trusted_proxies: list[str]) -> str:
    """The peer address, or the nearest untrusted X-Forwarded-For hop behind a trusted proxy."""
    peer = request.client.host if request.client else "unknown"
    if peer not in trusted_proxies:
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer
        if hop not in trusted_proxies:
            return hop
    return peer


class EdgeMiddleware:
    """Request id, security headers, the access line and the request metrics of every response
    (pure ASGI: no per-request task).

    A request's route is the template of the route that served it: the one the router names
    (``scope["route"]``), or the mount or plain route among ``routes`` whose app served it
    (FastAPI's router names neither), or for a path served before routing its entry in
    ``unrouted``; else ``unmatched``. Never the path itself, which may carry a secret and has
    no bound.
    """

    def __init__(
        self,
        app: ASGIApp,
        routes: Sequence[BaseRoute] = (),
        unrouted: Mapping[str, str] | None = None,
    ) -> None:
        self.app = app
        self.routes = routes
        self.unrouted = dict(unrouted or {})
        self.endpoints: dict[int, str] | None = None  # made at first use: routes are all in
        self.access_log = AccessLog()
        self.metrics = RequestMetrics()

    def template(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None:
            return str(getattr(route, "path_format", UNMATCHED))
        endpoint = scope.get("endpoint")  # what a mount or plain route served, by identity
        if endpoint is not None:
            if self.endpoints is None:
                self.endpoints = {
                    id(r.app if isinstance(r, Mount) else r.endpoint): r.path_format
                    for r in self.routes
                    if isinstance(r, Mount | Route)
                }
            return self.endpoints.get(id(endpoint), UNMATCHED)
        return self.unrouted.get(scope["path"], UNMATCHED)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = secrets.token_hex(8)
        token = current_request_id.set(request_id)
        is_api = scope["path"].startswith("/api/")
        status = 500  # unless a response starts: what the server answers then

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                if is_api:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            current_request_id.reset(token)
            seconds = time.perf_counter() - started
            template = self.template(scope)
            method = scope["method"]
            self.metrics.observe(template, method, status, seconds)
            self.access_log.emit(method, template, status, seconds, request_id)
