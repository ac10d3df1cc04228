"""Running `teamgate` commands: in this process for what the CLI itself does (arguments,
messages, exit codes, output), or as a real `python -m teamgate` process end to end."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner, Result

from teamgate import cli
from teamgate.context import AppContext
from tests.support.api import call


async def teamgate_in_process(
    database_url: str, data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> Result:
    """`teamgate <args>` run by Typer's test runner, on the database given (``env``: more
    settings).

    In a thread: the commands call ``asyncio.run``, which cannot run inside the test's event
    loop. While it runs, the runner swaps the process's environment and standard streams.
    """
    settings = {"TEAMGATE_DATABASE_URL": database_url, "TEAMGATE_DATA_DIR": str(data_dir)}
    settings.update(env or {})

    def invoke() -> Result:
        return CliRunner().invoke(cli.app, list(args), env=settings)

    return await asyncio.to_thread(invoke)


def server_environment(ctx: AppContext) -> dict[str, str]:
    """The settings of the test's server as the environment of a command run beside it: the
    same database, public URL and signing key (so the invite links it prints work there)."""
    settings = ctx.settings
    assert settings.database_url is not None
    assert settings.secret_key is not None
    return {
        "TEAMGATE_DATABASE_URL": settings.database_url,
        "TEAMGATE_DATA_DIR": str(settings.data_dir),
        "TEAMGATE_PUBLIC_URL": ",".join(settings.public_url),
        "TEAMGATE_SECRET_KEY": settings.secret_key.get_secret_value(),
    }


async def operator(ctx: AppContext, *args: str) -> Result:
    """`teamgate <args>` run in this process on the server's shell: the test server's settings."""
    env = server_environment(ctx)
    return await teamgate_in_process(
        env["TEAMGATE_DATABASE_URL"], Path(env["TEAMGATE_DATA_DIR"]), *args, env=env
    )


def refused(result: Result, message: str) -> None:
    """The command refused with ``message`` (red, on stderr), exit code 2, printing no data."""
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert result.stderr == message + "\n"
    assert result.stdout == ""


async def history_of(client: httpx.AsyncClient, key: str, **query: Any) -> list[dict[str, Any]]:
    """getAuditLogs's events (first page, up to 500), newest first."""
    response = await call(client, "getAuditLogs", {"limit": 500, **query}, key=key)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def teamgate_process(
    database_url: str, data_dir: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """`python -m teamgate <args>` as a real process, on the database given."""
    env = {**os.environ, "TEAMGATE_DATABASE_URL": database_url, "TEAMGATE_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "teamgate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
