"""The command line: account creation, migrations, and the first-run setup link.

What the commands say and exit with runs in this process (Typer's runner); a few runs of
`python -m teamgate` check the real thing end to end.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from importlib.resources import files
from pathlib import Path

import asyncpg
import httpx
import pytest

from teamgate import migrate
from teamgate.context import AppContext
from teamgate.db import Database
from tests.support.api import call, error_of
from tests.support.backends import BACKENDS, pg_dsn
from tests.support.cli import teamgate_in_process, teamgate_process
from tests.support.servers import free_port
from tests.support.state import snapshot

REPO = Path(__file__).resolve().parents[1]


async def test_account_create_json_gives_a_working_admin_key(
    database_url: str, tmp_path: Path, client: httpx.AsyncClient
) -> None:
    result = teamgate_process(
        database_url, tmp_path, "account", "create", "--name", "Acme",
        "--admin-email", "Root@Acme.com", "--admin-name", "Root", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(created) == {"accountId", "userId", "apiKey"}

    team = (await call(client, "getTeamData", key=created["apiKey"])).json()

    assert team == [
        {"id": created["userId"], "login": "root@acme.com", "name": "Root", "role": "ADMIN"}
    ]


async def test_account_create_refuses_bad_input(
    database_url: str, tmp_path: Path, ctx: AppContext
) -> None:
    before = await snapshot(ctx)
    result = await teamgate_in_process(
        database_url,
        tmp_path,
        "account",
        "create",
        "--name",
        "X",
        "--admin-email",
        "nope",
        "--json",
    )
    assert result.exit_code == 2
    assert "Invalid email" in result.stderr
    assert result.stdout == ""
    assert await snapshot(ctx) == before


async def test_account_create_prints_the_key_alone_on_stdout(
    database_url: str, tmp_path: Path, client: httpx.AsyncClient
) -> None:
    """Without --json, a script can still capture the key: stdout has it and nothing else."""
    result = await teamgate_in_process(
        database_url,
        tmp_path,
        "account",
        "create",
        "--name",
        "Acme",
        "--admin-email",
        "ada@acme.com",
    )

    assert result.exit_code == 0, (result.stderr, result.exception)
    key = result.stdout.strip()
    assert result.stdout == f"{key}\n"
    assert "Account Acme created" in result.stderr
    assert key not in result.stderr
    team = await call(client, "getTeamData", key=key)
    assert [e["login"] for e in team.json()] == ["ada@acme.com"]


def test_db_upgrade_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    first = teamgate_process(url, tmp_path, "db", "upgrade")
    second = teamgate_process(url, tmp_path, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "fresh.db").stat().st_size > 0


@pytest.mark.processes
def test_serve_prints_a_setup_link_on_first_start(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ, "TEAMGATE_DATA_DIR": str(tmp_path / "data"),
        "TEAMGATE_DATABASE_URL": "", "TEAMGATE_PUBLIC_URL": "",
    }  # fmt: skip
    env.pop("TEAMGATE_DATABASE_URL")
    env.pop("TEAMGATE_PUBLIC_URL")
    proc = subprocess.Popen(
        [sys.executable, "-m", "teamgate", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        link = None
        deadline = time.monotonic() + 30
        while link is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            match = re.search(r"(http://\S+/setup\?token=\S+)", line)
            link = match.group(1) if match else None
        assert link is not None
        assert link.startswith(f"http://127.0.0.1:{port}/")
        for _ in range(100):
            try:
                page = httpx.get(link, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert page.status_code == 200
        assert (tmp_path / "data" / "teamgate.db").exists()
        # The embedded default is SQLite with WAL and a generated 0600 signing key.
        assert (tmp_path / "data" / "teamgate.db-wal").exists()
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.status_code == 200
        error = httpx.post(f"http://127.0.0.1:{port}/api/getTeamData", timeout=5)
        assert error_of(error) == "Unauthorized"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def _port_in_use(port: int) -> str:
    return f"Port {port} is already in use: choose another with --port (make run PORT={port + 1})"


def _listening(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


async def test_serve_on_a_busy_port_says_so_in_one_line(tmp_path: Path) -> None:
    port = free_port()
    with _listening(port):
        result = await teamgate_in_process(
            f"sqlite:///{tmp_path / 'teamgate.db'}", tmp_path, "serve", "--port", str(port)
        )

    assert result.exit_code == 1
    assert result.stderr == _port_in_use(port) + "\n"
    assert result.stdout == ""
    assert not (tmp_path / "teamgate.db").exists()  # it stopped before touching anything


async def test_serve_refuses_an_address_it_cannot_listen_on(tmp_path: Path) -> None:
    result = await teamgate_in_process(
        f"sqlite:///{tmp_path / 'teamgate.db'}", tmp_path, "serve", "--host", "192.0.2.1"
    )

    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Cannot listen on 192.0.2.1 port 8000: Cannot assign requested address"
    ]


def _migration_lock_id() -> int:
    """The advisory lock that serialises migrations (in migrations/env.py, which runs them on
    import)."""
    env = files("teamgate.migrations").joinpath("env.py").read_text()
    found = re.search(r"^MIGRATION_LOCK_ID = ([\d_]+)", env, re.MULTILINE)
    assert found is not None
    return int(found.group(1))


@pytest.mark.processes
@pytest.mark.parametrize(
    "database_url",
    [
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif("postgresql" not in BACKENDS, reason="no PostgreSQL"),
        )
    ],
    indirect=True,
)
async def test_serve_names_a_port_taken_after_its_check(database_url: str, tmp_path: Path) -> None:
    """Staged: the database is one migration behind and the test holds the migrations' lock, so
    `serve` waits for it after checking the port; the test then takes the port and lets the
    migrations go on, and uvicorn cannot bind."""
    behind = Database(database_url)
    await migrate.downgrade(behind, "-1")
    port = free_port()
    try:
        printed, returncode = await _serve_on_a_port_taken_while_it_migrates(
            database_url, tmp_path, port
        )
    finally:
        await migrate.upgrade_if_behind(behind)  # the database is shared with other tests
        await behind.dispose()

    output = printed.decode()
    assert returncode == 1, output
    assert "address already in use" in output  # uvicorn's own line
    assert output.splitlines()[-1] == _port_in_use(port)
    assert "Traceback" not in output


async def _serve_on_a_port_taken_while_it_migrates(
    database_url: str, tmp_path: Path, port: int
) -> tuple[bytes, int | None]:
    env = {**os.environ, "TEAMGATE_DATABASE_URL": database_url, "TEAMGATE_DATA_DIR": str(tmp_path)}
    gate = await asyncpg.connect(pg_dsn(database_url))
    try:
        await gate.execute("SELECT pg_advisory_lock($1::bigint)", _migration_lock_id())
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "teamgate", "serve", "--port", str(port),
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while not await gate.fetchval(
                "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ):
                assert proc.returncode is None, "serve stopped before the migrations"
                assert time.monotonic() < deadline, "serve never waited for the migrations' lock"
                await asyncio.sleep(0.05)
            with _listening(port):
                await gate.execute("SELECT pg_advisory_unlock_all()")
                printed, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    finally:
        await gate.close()
    return printed, proc.returncode


def _first_start(data_dir: Path, *args: str) -> tuple[list[str], str]:
    """What a first `serve` prints up to its setup link, run in ``data_dir`` (where a .env
    may be) without TEAMGATE_PUBLIC_URL in its environment: (those lines, the link)."""
    env = {**os.environ, "TEAMGATE_DATA_DIR": str(data_dir)}
    for name in ("TEAMGATE_DATABASE_URL", "TEAMGATE_PUBLIC_URL"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "teamgate", "serve", *args],
        cwd=data_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    deadline = threading.Timer(30, proc.kill)  # then readline() sees the end of the output
    deadline.start()
    try:
        assert proc.stdout is not None
        while line := proc.stdout.readline():
            lines.append(line.rstrip("\n"))
            link = re.search(r"(https?://\S+/setup\?token=\S+)", line)
            if link:
                return lines, link.group(1)
        raise AssertionError("no setup link:\n" + "\n".join(lines))
    finally:
        deadline.cancel()
        proc.terminate()
        proc.communicate(timeout=10)


@pytest.mark.processes
@pytest.mark.parametrize("host", ["0.0.0.0", "::"])  # noqa: S104
def test_serve_on_every_interface_warns_where_links_point(tmp_path: Path, host: str) -> None:
    port = free_port()

    lines, link = _first_start(tmp_path, "--host", host, "--port", str(port))

    warning = lines[0]
    assert warning.startswith("Warning: ")
    assert f"invite and setup links will point at http://127.0.0.1:{port}" in warning
    assert "TEAMGATE_PUBLIC_URL=https://teams.example.com" in warning
    assert link.startswith(f"http://127.0.0.1:{port}/setup?token=")


@pytest.mark.processes
def test_serve_takes_the_public_url_from_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TEAMGATE_PUBLIC_URL=https://teams.example.com\n")

    lines, link = _first_start(tmp_path, "--host", "0.0.0.0", "--port", str(free_port()))  # noqa: S104

    assert link.startswith("https://teams.example.com/setup?token=")
    assert not [line for line in lines if "Warning" in line]


@pytest.mark.parametrize(("args", "port"), [((), "8000"), (("PORT=8123",), "8123")])
def test_make_run_serves_on_the_port_given(args: tuple[str, ...], port: str) -> None:
    # Not a PORT, nor a variable given to a `make` that runs these tests.
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "MAKEFLAGS", "MFLAGS")}
    planned = subprocess.run(
        ["make", "--dry-run", "run", *args],
        cwd=REPO, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert f"/teamgate serve --port {port}\n" in planned.stdout
