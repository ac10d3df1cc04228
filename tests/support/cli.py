"""Running `teamgate` commands: in this process for what the CLI itself does (arguments,
messages, exit codes, output), or as a real `python -m teamgate` process end to end."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner, Result

from teamgate import cli


async def teamgate_in_process(database_url: str, data_dir: Path, *args: str) -> Result:
    """`teamgate <args>` run by Typer's test runner, on the database given.

    In a thread: the commands call ``asyncio.run``, which cannot run inside the test's event
    loop. While it runs, the runner swaps the process's environment and standard streams.
    """
    env = {"TEAMGATE_DATABASE_URL": database_url, "TEAMGATE_DATA_DIR": str(data_dir)}

    def invoke() -> Result:
        return CliRunner().invoke(cli.app, list(args), env=env)

    return await asyncio.to_thread(invoke)


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
