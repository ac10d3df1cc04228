"""Running `teamgate` commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


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
