"""The command line: account creation, migrations, and the first-run setup link.

What the commands say and exit with runs in this process (Typer's runner); a few runs of
`python -m teamgate` check the real thing end to end.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from teamgate.context import AppContext
from tests.support.api import call, error_of
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


@pytest.mark.parametrize(("args", "port"), [((), "8000"), (("PORT=8123",), "8123")])
def test_make_run_serves_on_the_port_given(args: tuple[str, ...], port: str) -> None:
    # Not a PORT, nor a variable given to a `make` that runs these tests.
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "MAKEFLAGS", "MFLAGS")}
    planned = subprocess.run(
        ["make", "--dry-run", "run", *args],
        cwd=REPO, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert f"/teamgate serve --port {port}\n" in planned.stdout
