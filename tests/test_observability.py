"""What an operator watches: /metrics (parsed as Prometheus parses it), the access log (JSON
lines without a secret, one per request), /healthz and /readyz; in-process and on real servers,
one worker and several."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from sqlalchemy import text

from teamgate import logs
from teamgate.accounts.service import create_account
from teamgate.app import create_app
from teamgate.config import Settings
from teamgate.context import AppContext
from teamgate.db import Database
from teamgate.migrate import heads as migration_heads
from teamgate.probes import DATABASE_UNREACHABLE, SCHEMA_OUTDATED
from tests.conftest import Member, new_account
from tests.support import PASSWORD, PUBLIC_ORIGIN
from tests.support.api import assert_error, call
from tests.support.backends import migrate_database
from tests.support.invitations import accept, code_of, invite
from tests.support.servers import start_server
from tests.support.sessions import login

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(exposition: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_of(samples: Samples, route: str, method: str, status: int) -> float:
    labels = {"route": route, "method": method, "status": str(status)}
    return value(samples, "teamgate_http_requests_total", **labels)


def timed(samples: Samples, route: str, method: str) -> float:
    labels = {"route": route, "method": method}
    return value(samples, "teamgate_http_request_duration_seconds_count", **labels)


# --- /metrics, in-process ----------------------------------------------------------------------


async def test_requests_are_counted_and_timed_by_route_template(
    client: httpx.AsyncClient, acme: Member
) -> None:
    before = await scrape(client)
    assert (await call(client, "getTeamData", key=acme.api_key)).status_code == 200  # fast lane
    assert (await call(client, "getTeamData", key="tg_wrong")).status_code == 401
    assert (await client.get("/static/teamgate.css")).status_code == 200  # a mount
    for n in range(3):  # each its own path: one label value all the same
        assert (await client.get(f"/no-such-page-{n}")).status_code == 404
    assert (await client.get("/api/getTeamData")).status_code == 405  # the route, wrong method
    after = await scrape(client)

    def grew(route: str, method: str, status: int) -> float:
        return requests_of(after, route, method, status) - requests_of(
            before, route, method, status
        )

    assert grew("/api/getTeamData", "POST", 200) == 1
    assert grew("/api/getTeamData", "POST", 401) == 1
    assert grew("/static/{path}", "GET", 200) == 1
    assert grew("unmatched", "GET", 404) == 3
    assert grew("/api/getTeamData", "GET", 405) == 1
    assert grew("/metrics", "GET", 200) == 1  # the first scrape
    assert timed(after, "/api/getTeamData", "POST") - timed(before, "/api/getTeamData", "POST") == 2
    buckets = {
        dict(labels)["le"]
        for name, labels in after
        if name == "teamgate_http_request_duration_seconds_bucket"
        and dict(labels)["route"] == "/api/getTeamData"
    }
    assert {"0.005", "0.1", "+Inf"} <= buckets
    assert not any("no-such-page" in dict(labels).get("route", "") for _, labels in after)


async def test_the_database_pools_are_reported(client: httpx.AsyncClient, ctx: AppContext) -> None:
    samples = await scrape(client)
    assert ("teamgate_db_connections_in_use", frozenset({("pool", "writer")})) in samples
    assert value(samples, "teamgate_db_connections_open", pool="writer") >= 0
    async with ctx.db.write():
        held = await scrape(client)
    assert value(held, "teamgate_db_connections_in_use", pool="writer") >= 1


async def test_invitations_created_and_accepted_are_counted_once_committed(
    client: httpx.AsyncClient, acme: Member
) -> None:
    before = await scrape(client)
    invited = await invite(client, acme.api_key, "bob@acme.com")
    code = code_of(invited)
    resent = await call(client, "resendInvitation", {"email": "bob@acme.com"}, key=acme.api_key)
    assert resent.status_code == 200, resent.text
    rows = [{"inviteeEmail": f"b{n}@acme.com", "inviteeRole": "VIEWER"} for n in range(3)]
    bulk = {"invitations": [*rows, {"inviteeEmail": "nope", "inviteeRole": "VIEWER"}]}
    assert (await call(client, "bulkInviteUsers", bulk, key=acme.api_key)).status_code == 200
    refused = await invite(client, acme.api_key, "carol@acme.com", "NO_SUCH_ROLE")
    assert refused.status_code == 400
    middle = await scrape(client)
    accepted = await accept(client, code_of(resent))
    assert accepted.status_code == 200, accepted.text
    assert (await accept(client, code)).status_code in (400, 401)  # the old link died
    after = await scrape(client)

    created = "teamgate_invitations_created_total"
    assert value(middle, created, kind="new") - value(before, created, kind="new") == 1 + 3
    assert value(middle, created, kind="resend") - value(before, created, kind="resend") == 1
    accepted_total = "teamgate_invitations_accepted_total"
    assert value(middle, accepted_total) == value(before, accepted_total)
    assert value(after, accepted_total) - value(middle, accepted_total) == 1


@pytest.fixture
async def strict_app(settings: Settings) -> AsyncIterator[Any]:
    """The app with a login budget of two failures per email."""
    strict = settings.model_copy(update={"rate_limit_login_per_email": "2 per 15 minutes"})
    application = create_app(strict)
    async with application.router.lifespan_context(application):
        yield application


async def test_login_failures_and_rate_limit_refusals_are_counted(strict_app: Any) -> None:
    ctx: AppContext = strict_app.state.ctx
    admin = await new_account(ctx)
    transport = httpx.ASGITransport(app=strict_app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_ORIGIN) as client:
        before = await scrape(client)
        assert (await login(client, admin.email, PASSWORD)).status_code == 200
        for _ in range(2):
            assert (await login(client, admin.email, "wrong password")).status_code == 401
        assert (await login(client, "nobody@acme.com", "wrong password")).status_code == 401
        assert_error(await login(client, admin.email, "wrong password"), 429)
        after = await scrape(client)

    failures = "teamgate_login_failures_total"
    assert value(after, failures) - value(before, failures) == 3
    limited = "teamgate_rate_limited_total"
    grew = value(after, limited, limit="login-email") - value(before, limited, limit="login-email")
    assert grew == 1
    assert (
        requests_of(after, "/api/login", "POST", 429)
        - requests_of(before, "/api/login", "POST", 429)
        == 1
    )


# --- /healthz and /readyz ----------------------------------------------------------------------


async def test_ready_when_the_database_is_migrated(client: httpx.AsyncClient) -> None:
    health = await client.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert "/readyz" not in (await client.get("/openapi.json")).text


async def _revisions(ctx: AppContext) -> list[str]:
    async with ctx.db.read() as conn:
        rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
        return [str(row[0]) for row in rows]


async def test_not_ready_while_the_database_is_at_an_older_revision(
    client: httpx.AsyncClient, ctx: AppContext
) -> None:
    (head,) = migration_heads()
    async with ctx.db.write() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '0e24ba0f9351'"))
    response = await client.get("/readyz")
    assert assert_error(response, 503, SCHEMA_OUTDATED)
    assert response.headers["Retry-After"].isdigit()
    assert await _revisions(ctx) == ["0e24ba0f9351"]  # a probe changes nothing
    assert (await client.get("/healthz")).status_code == 200
    async with ctx.db.write() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    assert (await client.get("/readyz")).status_code == 200


async def test_not_ready_on_a_database_never_migrated(tmp_path: Path) -> None:
    empty = Settings(
        database_url=f"sqlite:///{tmp_path / 'empty.db'}",
        data_dir=tmp_path,
        public_url=[PUBLIC_ORIGIN],
        secret_key="test-signing-key-" + "x" * 32,
        mail_worker=False,
    )
    application = create_app(empty)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_ORIGIN) as http:
            assert_error(await http.get("/readyz"), 503, SCHEMA_OUTDATED)


async def test_healthy_but_not_ready_while_the_database_is_down(tmp_path: Path) -> None:
    down = Settings(
        database_url="postgresql://postgres@127.0.0.1:1/nope",  # nothing listens on port 1
        data_dir=tmp_path,
        public_url=[PUBLIC_ORIGIN],
        secret_key="test-signing-key-" + "x" * 32,
        mail_worker=False,
    )
    application = create_app(down)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_ORIGIN) as http:
            health = await http.get("/healthz")
            ready = await http.get("/readyz")
            samples = await scrape(http)  # metrics need no database either
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert_error(ready, 503, DATABASE_UNREACHABLE)
    for leak in ("127.0.0.1", "nope", "postgres"):
        assert leak not in ready.text
    assert requests_of(samples, "/readyz", "GET", 503) >= 1


# --- log formats ---------------------------------------------------------------------------------


def test_text_on_a_terminal_json_otherwise_unless_configured() -> None:
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal, open(os.devnull, "w") as file:
        assert terminal.isatty()
        assert logs.chosen_format(None, terminal) == "text"
        assert logs.chosen_format(None, file) == "json"
        assert logs.chosen_format("json", terminal) == "json"
        assert logs.chosen_format("text", file) == "text"
    os.close(leader)
    assert logs.chosen_format(None, io.StringIO()) == "json"


def test_the_log_format_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for given, wanted in (("JSON", "json"), (" text ", "text"), ("", None)):
        monkeypatch.setenv("TEAMGATE_LOG_FORMAT", given)
        assert Settings().log_format == wanted
    monkeypatch.setenv("TEAMGATE_LOG_FORMAT", "xml")
    with pytest.raises(ValidationError):
        Settings()


def test_background_handler_writes_every_line_in_order_and_renders_errors() -> None:
    stream = io.StringIO()
    handler = logs.BackgroundHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.Logger("teamgate.test")
    logger.addHandler(handler)
    access = logs.AccessLog()
    access.logger = logger
    for n in range(1000):
        access.emit("POST", "/api/getTeamData", 200, n / 1000, f"id{n}")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed for %s", "a reason")
    handler.flush()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    handler.close()
    assert [line["request_id"] for line in lines[:1000]] == [f"id{n}" for n in range(1000)]
    assert lines[5] | {"time": "t"} == {
        "time": "t", "level": "INFO", "logger": "teamgate.access",
        "message": "POST /api/getTeamData 200 5.0ms id5", "method": "POST",
        "route": "/api/getTeamData", "status": 200, "duration_ms": 5.0, "request_id": "id5",
    }  # fmt: skip
    assert lines[-1]["message"] == "failed for a reason"
    assert lines[-1]["level"] == "ERROR"
    assert "ValueError: boom" in lines[-1]["exception"]


# --- real servers --------------------------------------------------------------------------------

API_KEY_MARK = "tg_"
SECRET_CODE = "SECRETcodeXYZ0123456789"


@pytest.fixture
def sqlite_database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'teamgate.db'}"


async def _account(database_url: str, email: str = "ada@acme.com") -> tuple[str, str]:
    """An account made before the server starts (so it prints no setup link): its admin's
    API key and email."""
    await migrate_database(database_url)
    db = Database(database_url)
    try:
        created = await create_account(
            db, name="Acme", admin_email=email, admin_name="Ada", admin_password=PASSWORD
        )
    finally:
        await db.dispose()
    return created.api_key, email


@pytest.mark.processes
async def test_access_log_is_one_json_line_per_request_without_secrets(
    sqlite_database: str, tmp_path: Path
) -> None:
    api_key, email = await _account(sqlite_database)
    server = start_server(sqlite_database, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=server.origin) as http:
            responses = [
                await call(http, "getTeamData", key=api_key),
                await http.get(f"/signup?signupInvitationCode={SECRET_CODE}&email=x%40acme.com"),
                await http.get(f"/accept/{SECRET_CODE}?code={SECRET_CODE}"),
                await login(http, email, PASSWORD),
                await login(http, email, "the wrong password"),
                await call(http, "acceptInvite", {"inviteCode": SECRET_CODE, "password": PASSWORD}),
                await http.get("/healthz"),
            ]
            session = responses[3].cookies
            assert responses[3].status_code == 200
    finally:
        output = server.stop()

    lines = [line for line in output.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line, uvicorn's too, is JSON
    access = {r["request_id"]: r for r in records if r["logger"] == "teamgate.access"}
    assert len(access) == len([r for r in records if r["logger"] == "teamgate.access"])
    expected = [
        ("POST", "/api/getTeamData", 200), ("GET", "/signup", 400), ("GET", "unmatched", 404),
        ("POST", "/api/login", 200), ("POST", "/api/login", 401),
        ("POST", "/api/acceptInvite", 400), ("GET", "/healthz", 200),
    ]  # fmt: skip
    for response, (method, route, status) in zip(responses, expected, strict=True):
        assert response.status_code == status, response.text
        line = access[response.headers["X-Request-ID"]]
        assert (line["method"], line["route"], line["status"]) == (method, route, status)
        assert isinstance(line["duration_ms"], float | int)
        assert 0 <= line["duration_ms"] < 60_000
        assert line["level"] == "INFO"
    assert any(r["logger"] == "uvicorn.error" for r in records)
    secrets = [api_key, api_key.removeprefix(API_KEY_MARK), SECRET_CODE, PASSWORD,
               "the wrong password", *session.values(), "x%40acme.com"]  # fmt: skip
    for secret in secrets:
        assert secret not in output


def _workers(pid: int) -> list[int]:
    """The worker processes uvicorn spawned (not, say, multiprocessing's resource tracker)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"spawn_main" in command:
                found.append(int(child))
    return found


def _metrics_dir(pid: int) -> Path:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    for entry in environ:
        if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR="):
            return Path(entry.split(b"=", 1)[1].decode())
    raise AssertionError("a worker without PROMETHEUS_MULTIPROC_DIR")


def _counted_by(directory: Path, pid: int, route: str) -> float:
    """What one worker counted of GET ``route`` with 200, from its own file."""
    path = directory / f"counter_{pid}.db"
    if not path.exists():
        return 0.0
    values = MmapedDict.read_all_values_from_file(str(path))  # type: ignore[no-untyped-call]
    for key, count, *_ in values:
        name, _, labels, _help = json.loads(key)
        if name == "teamgate_http_requests" and labels == {
            "route": route, "method": "GET", "status": "200"
        }:  # fmt: skip
            return float(count)
    return 0.0


@pytest.fixture
def two_workers(sqlite_database: str, tmp_path: Path) -> Iterator[tuple[str, list[int], Path]]:
    """`teamgate serve --workers 2`, ready: (its origin, its workers' pids, its metrics dir)."""
    server = start_server(sqlite_database, tmp_path, args=("--workers", "2"))
    proc, origin = server.proc, server.origin
    directory: Path | None = None
    try:
        deadline = time.monotonic() + 60
        while len(workers := _workers(proc.pid)) < 2:  # ready once one of them answers
            assert proc.poll() is None, "server exited during start-up"
            assert time.monotonic() < deadline, "the second worker did not start"
            time.sleep(0.1)
        directory = _metrics_dir(workers[0])
        assert {_metrics_dir(pid) for pid in workers} == {directory}
        yield origin, workers, directory
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert directory is not None
    assert not directory.exists()  # removed once the server stopped


@pytest.mark.processes
async def test_several_workers_report_their_sum(two_workers: tuple[str, list[int], Path]) -> None:
    origin, workers, directory = two_workers
    assert oct(directory.stat().st_mode & 0o777) == oct(0o700)  # private
    # New connections until each worker has answered some (the kernel spreads them).
    limits = httpx.Limits(max_keepalive_connections=0)
    sent = 0
    async with httpx.AsyncClient(base_url=origin, limits=limits) as http:
        while sent < 400 and (sent < 20 or min(
            _counted_by(directory, pid, "/healthz") for pid in workers
        ) == 0):  # fmt: skip
            assert (await http.get("/healthz")).status_code == 200
            sent += 1
        per_worker = [_counted_by(directory, pid, "/healthz") for pid in workers]
        assert all(count > 0 for count in per_worker), per_worker
        assert sum(per_worker) == sent
        # Whichever worker answers a scrape reports the sum of both.
        for _ in range(6):
            response = await http.get("/metrics")
            assert response.status_code == 200
            samples = parse(response.text)
            assert requests_of(samples, "/healthz", "GET", 200) == sent
            assert ("teamgate_db_connections_open", frozenset({("pool", "writer")})) in samples
