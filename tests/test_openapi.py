"""The OpenAPI document matches the seed's, and the seed's own documents, fuzzed against the
server, never yield a 5xx; every 200 conforms to the seed's response schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teamgate.accounts.service import create_account
from teamgate.app import create_app
from teamgate.config import Settings
from tests.support.api import AUTHENTICATED_ENDPOINTS

SEED = json.loads((Path(__file__).parent / "fixtures" / "seed_openapi.json").read_text())
SEED_PATHS = {path: doc["paths"][path]["post"] for doc in SEED for path in doc["paths"]}


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return _resolve(spec["components"]["schemas"][name], spec)
    return schema


def _types(schema: dict[str, Any], spec: dict[str, Any]) -> set[str]:
    schema = _resolve(schema, spec)
    if "anyOf" in schema:
        return {t for option in schema["anyOf"] for t in _types(option, spec)}
    return {schema.get("type", "any")}


def _seed_schema(path: str, status: str) -> dict[str, Any]:
    schema: dict[str, Any] = SEED_PATHS[path]["responses"][status]["content"]["application/json"][
        "schema"
    ]
    return schema


class SyncClient:
    """A blocking facade over the async client, for hypothesis-driven (synchronous) tests."""

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient) -> None:
        self.portal = portal
        self.client = client

    def get(self, path: str) -> httpx.Response:
        return self.portal.call(partial(self.client.get, path))

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.portal.call(partial(self.client.post, path, **kwargs))


@pytest.fixture
def api(settings: Settings) -> Iterator[tuple[SyncClient, str]]:
    app = create_app(settings)
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(app.router.lifespan_context(app)),
    ):
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        )
        created = portal.call(
            partial(create_account, app.state.ctx.db, name="Acme", admin_email="admin@acme.com")
        )
        yield SyncClient(portal, client), created.api_key
        portal.call(client.aclose)


@pytest.mark.parametrize("path", sorted(SEED_PATHS))
def test_our_response_schemas_match_the_seed(path: str, api: tuple[SyncClient, str]) -> None:
    client, _ = api
    spec = client.get("/openapi.json").json()
    ours = spec["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    seed = _seed_schema(path, "200")
    if seed["type"] == "array":
        assert _resolve(ours, spec)["type"] == "array"
        ours, seed = _resolve(ours, spec)["items"], seed["items"]
    ours = _resolve(ours, spec)
    for name, prop in seed["properties"].items():
        assert name in ours["properties"], f"{path}: {name} missing"
        assert prop["type"] in _types(ours["properties"][name], spec), f"{path}: {name} type"
    request = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    seed_request = SEED_PATHS[path]["requestBody"]["content"]["application/json"]["schema"]
    assert set(seed_request["properties"]) <= set(request.get("properties", {}))


def test_docs_are_served(api: tuple[SyncClient, str]) -> None:
    client, _ = api
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["info"]["title"] == "teamgate"


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
_values = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=5)
_emails = st.sampled_from(
    ["admin@acme.com", "bob@acme.com", "x@evil-acme.com", "", "a@b", "ADMIN@ACME.COM"]
)
_roles = st.sampled_from(["ADMIN", "MEMBER", "DEVELOPER", "VIEWER", "GUEST", "member", "ROOT", ""])


def _body(path: str) -> st.SearchStrategy[dict[str, Any]]:
    fields = SEED_PATHS[path]["requestBody"]["content"]["application/json"]["schema"].get(
        "properties", {}
    )
    plausible = {"inviteeEmail": _emails, "email": _emails, "inviteeRole": _roles}
    return st.fixed_dictionaries(
        {},
        optional={name: plausible.get(name, _values) | _values for name in fields}
        | {"extra": _values, "accountId": _values},
    )


@pytest.mark.parametrize("path", sorted(SEED_PATHS))
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_seed_requests_never_fail_the_server(
    path: str, api: tuple[SyncClient, str], data: st.DataObject
) -> None:
    client, key = api
    body = data.draw(_body(path))
    response = client.post(path, json=body, headers={"X-API-KEY": key})
    assert response.status_code < 500, response.text
    status = str(response.status_code)
    if status in SEED_PATHS[path]["responses"]:
        jsonschema.validate(response.json(), _seed_schema(path, status))
    else:
        assert set(response.json()) == {"error", "actionErrors"}


def test_credential_tests_cover_every_authenticated_endpoint(api: tuple[SyncClient, str]) -> None:
    client, _ = api
    paths = {path.removeprefix("/api/") for path in client.get("/openapi.json").json()["paths"]}
    unauthenticated = {"login", "logout", "acceptInvite", "requestPasswordReset", "resetPassword"}
    assert paths - unauthenticated == set(AUTHENTICATED_ENDPOINTS)


def test_request_bodies_hold_no_local_definitions(api: tuple[SyncClient, str]) -> None:
    """A `$defs` inside an operation is a reference ReDoc cannot resolve: nested models are
    inlined (bulkInviteUsers's rows)."""
    client, _ = api
    paths = client.get("/openapi.json").json()["paths"]
    assert "$defs" not in json.dumps(paths)
    bulk = paths["/api/bulkInviteUsers"]["post"]["requestBody"]["content"]["application/json"]
    assert "inviteeEmail" in bulk["schema"]["properties"]["invitations"]["items"]["properties"]
