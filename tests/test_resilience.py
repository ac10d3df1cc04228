"""Failures at the edge, on real server processes: clients that hang up mid-request, unexpected
errors, and PostgreSQL connections killed under load. Each is one quiet log line or a clean
503, never a 500 or a second traceback."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from teamgate.accounts.service import create_account
from teamgate.db import Database

from .conftest import PUBLIC_ORIGIN, call
from .test_concurrency import _free_port

SECRET = "resilience-test-signing-key-" + "z" * 32
# `teamgate serve`, with the root logger at INFO the way an operator would configure it, so that
# teamgate's own INFO lines show next to uvicorn's.
SERVE_LOGGING_AT_INFO = """
import logging, sys
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
from teamgate.cli import main
sys.argv = ["teamgate", "serve", "--port", sys.argv[1]]
main()
"""
DISCONNECTED = "the client disconnected before the request was complete"


@dataclass
class Server:
    origin: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> str:
        """Stops the server gracefully (in-flight requests finish first); its whole output."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        return self.log.read_text(errors="replace")


def start_server(database_url: str, data_dir: Path) -> Server:
    """A `teamgate serve` process whose stdout and stderr go to a file we can read."""
    port = _free_port()
    origin = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TEAMGATE_DATABASE_URL": database_url,
        "TEAMGATE_DATA_DIR": str(data_dir),
        "TEAMGATE_SECRET_KEY": SECRET,
        "TEAMGATE_PUBLIC_URL": origin,
    }
    log = data_dir / f"server-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVE_LOGGING_AT_INFO, str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = Server(origin, port, proc, log)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            pytest.fail(f"server exited during start-up:\n{server.stop()}")
        try:
            if httpx.get(f"{origin}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"server did not start:\n{server.stop()}")
        time.sleep(0.1)


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[Server]:
    server = start_server(f"sqlite:///{tmp_path / 'teamgate.db'}", tmp_path)
    try:
        yield server
    finally:
        server.stop()


# --- clients that hang up mid-body -----------------------------------------------------------


async def hang_up_mid_body(port: int, path: str, headers: dict[str, str]) -> None:
    """Sends the head of a POST that announces 1,000 bytes, then 100 of them, then closes."""
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Length: 1000"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + b"{" + b" " * 99)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


@pytest.mark.processes
async def test_a_client_hanging_up_mid_body_is_one_quiet_log_line(
    sqlite_server: Server, tmp_path: Path
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'teamgate.db'}")
    try:
        admin = await create_account(db, name="Acme", admin_email="ada@acme.com")
    finally:
        await db.dispose()
    json_api = {"Content-Type": "application/json", "X-API-KEY": admin.api_key}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    hang_ups = [
        ("/api/inviteUsers", json_api),
        ("/api/getTeamData", json_api),  # the fast lane
        ("/signup", form),
        ("/setup", form),
    ] * 2

    for path, headers in hang_ups:
        await hang_up_mid_body(sqlite_server.port, path, headers)
    # Still serving; connections are accepted in order, so every hang-up above has arrived.
    async with httpx.AsyncClient(base_url=sqlite_server.origin) as http:
        assert (await call(http, "getTeamData", key=admin.api_key)).status_code == 200
    output = sqlite_server.stop()

    assert "Traceback" not in output, output
    assert "Exception in ASGI application" not in output, output
    quiet = [line for line in output.splitlines() if DISCONNECTED in line]
    assert len(quiet) == len(hang_ups), output
    for path, _headers in hang_ups:
        assert sum(f"POST {path} " in line for line in quiet) == 2, output


# --- unexpected errors -----------------------------------------------------------------------


async def test_an_unexpected_error_is_a_500_logged_once_with_its_traceback(
    app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/explode", explode, methods=["POST"])
    # raise_app_exceptions (httpx's default): an error that escapes the app fails this test, as
    # it would reach the server, which logs a second traceback.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_ORIGIN) as http:
        with caplog.at_level(logging.INFO):
            response = await http.post("/api/explode", json={})

    assert response.status_code == 500
    assert response.json() == {
        "error": "Internal server error",
        "actionErrors": ["Internal server error"],
    }
    assert response.headers["x-request-id"]
    assert "a bug" not in response.text
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1, caplog.text
    assert logged[0].levelno == logging.ERROR
    assert isinstance(logged[0].exc_info[1], RuntimeError)  # type: ignore[index]
    assert "POST /api/explode" in logged[0].getMessage()
